"""The viewer application: a viser server showing one :class:`~spatialwm.world.WorldModel`
scene, with GUI actions, playback, branches and the model-vs-truth comparison.

    app = ViewerApp.load("outputs/demo/run", episode="data/push").start()
    ...
    app.stop()

Layers: :mod:`viewer.session` (pure timeline model), :mod:`viewer.scene_sync` (state ->
nodes), :mod:`viewer.panels` (GUI widgets and their callbacks), this module (threads, the
comparison renders, the server). Every client sees the same session; GUI callbacks, the
playback thread and the comparison worker serialise on one lock. Comparison renders (the
slow part: a CPU rasterization) run in their own worker that always takes the newest
request, so playback never waits for them.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spatialwm.data.actions import CameraAction, PlaceAction, PushAction
from spatialwm.errors import DatasetError, InputError
from spatialwm.scene.render import Camera
from spatialwm.world import WorldModel
from viewer.geometry import (
    camera_view,
    hidden_objects,
    look_at_wxyz,
    opengl_c2w,
    pick_group,
    psnr,
    yaw_wxyz,
)
from viewer.plots import error_plot, trajectory_plot
from viewer.scene_sync import GHOST_COLOR, SceneSync, group_color
from viewer.session import Session


@dataclass(frozen=True)
class ViewerConfig:
    """Server and session settings.

    Attributes:
        host, port: where to listen (``port=0``: any free port).
        max_states: the most states a branch keeps (memory bound of long sessions).
        play_rate: playback steps per second (the GUI slider's initial value).
        compare_width: width in pixels of the comparison renders (cameras are scaled).
        verbose: print the URL when started.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_states: int = 1000
    play_rate: float = 20.0
    compare_width: int = 320
    verbose: bool = True


def check_port(host: str, port: int) -> None:
    """Raise ``InputError`` naming the problem unless ``host:port`` can be listened on."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError(f"--port {port!r}: must be an integer in 0..65535 (0: any free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"--host {host!r}: cannot resolve it ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            hint = ""
            if e.errno == errno.EADDRINUSE:
                hint = " (already in use: pick another --port, or --port 0 for any free one)"
            elif e.errno == errno.EACCES:
                hint = " (permission denied: ports below 1024 need root; use e.g. 8080)"
            elif e.errno == errno.EADDRNOTAVAIL:
                hint = " (not an address of this machine)"
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror}{hint}") from None


def _scaled(cam: Camera, width: int) -> Camera:
    """``cam`` resized to at most ``width`` pixels wide (intrinsics scaled)."""
    if cam.width <= width:
        return cam
    s = width / cam.width
    K = cam.K.clone().float()
    K[:2] *= s
    return Camera(cam.viewmat, K, width, max(1, round(cam.height * s)), cam.name)


def _overview_cameras(wm: WorldModel, n: int = 4) -> dict[str, Camera]:
    """Cameras on a ring around the objects, for runs without a dataset."""
    from spatialwm.synthetic import orbit_cameras

    pos = wm.state.positions[1:]
    centre = pos.mean(0) if len(pos) else torch.zeros(3)
    radius = float((pos - centre).norm(dim=-1).max()) if len(pos) else 0.5
    views, Ks = orbit_cameras(
        n, 320, 240, radius=max(2.5 * radius, 0.5), target=tuple(centre.tolist()), elevation_deg=35
    )
    return {f"orbit_{i}": Camera(views[i], Ks[i], 320, 240, f"orbit_{i}") for i in range(n)}


def _still_there(branch, step: int, state) -> bool:
    """Whether ``branch`` still holds ``state`` at ``step`` (it was not rewritten meanwhile)."""
    return branch.start <= step <= branch.last and branch.state_at(step) is state


class ViewerApp:
    """The viewer of one scene.

    Args:
        wm: the world model (scene + dynamics).
        episode: a dataset with an ``episode.json`` (``spatialwm.data.load_dataset``): its
            actions become the default plan, its frames the ground truth.
        config: server and session settings.
    """

    def __init__(self, wm: WorldModel, *, episode: Any = None, config: ViewerConfig | None = None):
        self.wm = wm
        self.config = config or ViewerConfig()
        self.dataset = episode
        self.episode = episode.episode if episode is not None else None
        state0 = wm.state
        ids = [int(i) for i in state0.object_ids[1:]]
        self.group_of = {oid: g + 1 for g, oid in enumerate(ids)}
        self.labels = [f"{oid}: {state0.object_names[g + 1]}" for g, oid in enumerate(ids)]
        plan: dict[int, list] = {}
        cameras = dict(wm.cameras) or _overview_cameras(wm)
        if self.episode is not None:
            missing = sorted(set(self.episode.object_ids) - set(ids))
            if missing:
                raise DatasetError(
                    f"{episode.root}: episode.json has objects {missing} that the run's scene "
                    f"lacks (it has {ids}); pass an episode of the reconstructed scene"
                )
            state0 = wm.with_object_states(state0, self.episode.steps[0].objects)
            plan = {t: list(s.actions) for t, s in enumerate(self.episode.steps[:-1])}
            for cam in self.episode.cameras:
                if cam not in cameras:
                    try:
                        cameras[cam] = Camera.from_dataset(episode, episode.frame_index(cam, 0))
                    except KeyError:
                        pass
        self.session = Session(
            lambda s, a: wm.step(s, a),
            state0,
            cameras=cameras,
            plan=plan,
            pose_fn=self._positions,
            max_states=self.config.max_states,
        )
        self.camera_names = list(cameras)
        self.compare_camera = next(
            (c for c in (self.episode.cameras if self.episode else ()) if c in cameras),
            next((n for n in cameras if not n.startswith("view_")), self.camera_names[0]),
        )
        self.show_ghosts = True
        self.hidden: set[int] = set()
        self.server: Any = None
        self.sync: SceneSync | None = None
        self.panels: Any = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._playing = threading.Event()
        self._orbit = threading.Event()
        self._render_request = threading.Event()
        self._threads: list[threading.Thread] = []
        self.play_rate = float(self.config.play_rate)
        self.steps_shown = 0  # states pushed to the browser (a counter for benchmarks)
        self.compare_renders = 0

    # ------------------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        run: str | os.PathLike,
        *,
        dynamics: str | os.PathLike | None = None,
        episode: str | os.PathLike | None = None,
        config: ViewerConfig | None = None,
    ) -> ViewerApp:
        """Load a reconstruction run (and an optional dynamics model and episode dataset);
        bad paths raise :class:`~spatialwm.errors.SpatialWMError` subclasses."""
        run = Path(run)
        if not run.is_dir():
            raise DatasetError(f"{run}: no such run folder (a `spatialwm reconstruct` --out)")
        if not (run / "state.pt").exists():
            raise DatasetError(f"{run}: not a reconstruction run (no state.pt)")
        if dynamics is not None and not Path(dynamics).exists():
            raise DatasetError(f"{dynamics}: no such dynamics model file")
        wm = WorldModel.load(run, dynamics=dynamics)
        ds = None
        if episode is not None:
            from spatialwm.data import load_dataset

            ds = load_dataset(episode, check_files=False)
            if ds.episode is None:
                raise DatasetError(f"{episode}: no episode.json (need a generated dataset)")
        return cls(wm, episode=ds, config=config)

    def _positions(self, state) -> np.ndarray:
        poses = self.wm.object_poses(state)
        return np.array([poses[int(i)][:3] for i in state.object_ids[1:]], dtype=np.float64)

    # --------------------------------------------------------------------------- server
    @property
    def port(self) -> int:
        return int(self.server.get_port())

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> ViewerApp:
        """Start the server, send the scene and the GUI, start the worker threads."""
        import viser

        from viewer.panels import Panels

        check_port(self.config.host, self.config.port)
        self.server = viser.ViserServer(host=self.config.host, port=self.config.port, verbose=False)
        server = self.server
        server.scene.set_up_direction("+z")
        server.scene.world_axes.visible = False
        first = self.session.cameras[self.compare_camera]
        view = camera_view(first, self._look_distance(first))
        server.initial_camera.position = view.position
        server.initial_camera.look_at = view.look_at
        server.initial_camera.fov = view.fov
        server.initial_camera.near = 0.01
        with self._lock:
            self.sync = SceneSync(server.scene, self.session.state)
            self.panels = Panels(self)
            self._show()
        server.scene.on_click()(self._on_click)
        # each new page starts at the compare camera's view (the initial camera above is only
        # what "Reset View" returns to once a page has its own)
        server.on_client_connect(lambda client: self.fly_to(self.compare_camera, [client]))
        for target in (self._play_loop, self._render_loop, self._orbit_loop):
            t = threading.Thread(target=target, name=f"viewer{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        self.request_render()
        if self.config.verbose:
            print(
                f"spatialwm viewer: {self.url}  ({len(self.wm.state.gaussians):,} Gaussians, "
                f"{self.wm.state.num_groups - 1} objects; Ctrl+C stops)",
                flush=True,
            )
        return self

    def stop(self) -> None:
        """Stop the threads and the server (frees the port)."""
        self._stop.set()
        self._playing.clear()
        self._render_request.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> ViewerApp:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl+C), then stop."""
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    # ---------------------------------------------------------------------- presenting
    def _look_distance(self, cam: Camera) -> float:
        c2w = torch.linalg.inv(cam.viewmat.double())
        d = (self.session.state.positions[1:].double() - c2w[:3, 3]).norm(dim=-1)
        return float(d.mean()) if len(d) else 1.0

    def _show(self) -> None:
        """Push the current state to the browser (poses, selection, widgets). Under lock."""
        s = self.session
        with self.server.atomic():
            self.sync.update(s.state)
            self.sync.select(s.selected)
            self.sync.set_ghosts(self.hidden if self.show_ghosts else set())
            self.panels.refresh()
        self.steps_shown += 1
        self.request_render()

    def request_render(self) -> None:
        """Ask the comparison worker to render the current step (newest request wins)."""
        self._render_request.set()

    # ------------------------------------------------------------------------- actions
    def select(self, g: int | None) -> None:
        with self._lock:
            self.session.selected = g
            self._show()

    def select_object(self, object_id: int) -> None:
        self.select(self.group_of[int(object_id)])

    def push(self, direction_deg: float, speed: float, group: int | None = None) -> None:
        """Push the selected object (or ``group``) along ``direction_deg`` (0 = +x, 90 = +y)
        at ``speed`` m/s; applies at the current step (one step is simulated)."""
        with self._lock:
            g = self.session.selected if group is None else group
            if g is None:
                return
            a = math.radians(direction_deg)
            oid = int(self.session.state.object_ids[g])
            act = PushAction(oid, (speed * math.cos(a), speed * math.sin(a), 0.0))
            self.session.act([act])
            self._show()

    def place(self, xyz, yaw_deg: float, group: int | None = None) -> None:
        """Teleport the selected object to ``xyz`` (its dataset frame) with heading
        ``yaw_deg``; applies at the current step."""
        with self._lock:
            g = self.session.selected if group is None else group
            if g is None:
                return
            oid = int(self.session.state.object_ids[g])
            pose = (*(float(v) for v in xyz), *yaw_wxyz(yaw_deg))
            self.session.act([PlaceAction(oid, pose)])
            self._show()

    def move_camera(self, name: str, wxyz, position) -> None:
        """A ``camera`` action: camera ``name`` moves to the given viser pose from this step."""
        with self._lock:
            self.session.act([CameraAction(name, opengl_c2w(wxyz, position))])
            self._show()

    def step(self) -> None:
        with self._lock:
            self.session.step()
            self._show()

    def play(self) -> None:
        self._playing.set()
        if self.panels is not None:
            self.panels.refresh_status()

    def pause(self) -> None:
        """Stop playing: when this returns no step is under way and none will start (one
        already under way finishes first; a reader then sees the timeline as it is)."""
        self._playing.clear()
        with self._lock:
            pass
        if self.panels is not None:
            self.panels.refresh_status()

    @property
    def playing(self) -> bool:
        return self._playing.is_set()

    def reset(self) -> None:
        with self._lock:
            self._playing.clear()
            self.session.reset()
            self._show()

    def seek(self, step: int) -> None:
        with self._lock:
            self.session.seek(step)
            self._show()

    def branch(self) -> None:
        with self._lock:
            self.session.branch_here()
            self._show()

    def switch_branch(self, index: int) -> None:
        with self._lock:
            self.session.switch(index)
            self._show()

    def set_ghosts(self, on: bool) -> None:
        with self._lock:
            self.show_ghosts = bool(on)
            self._show()

    def set_compare_camera(self, name: str) -> None:
        with self._lock:
            self.compare_camera = name
            self.request_render()

    def set_orbit(self, on: bool) -> None:
        (self._orbit.set if on else self._orbit.clear)()

    def fly_to(self, name: str, clients=None) -> None:
        """Move the browsers' cameras (all, or ``clients``) to camera ``name``'s pose."""
        cam = self.session.cameras[name]
        view = camera_view(cam, self._look_distance(cam))
        targets = list(self.server.get_clients().values()) if clients is None else list(clients)
        for client in targets:
            try:
                with client.atomic():
                    client.camera.fov = view.fov
                    client.camera.wxyz = view.wxyz
                    client.camera.position = view.position
                    client.camera.look_at = view.look_at
            except Exception:  # a client that just left
                continue

    def _on_click(self, event) -> None:
        with self._lock:
            g = pick_group(
                self.session.state, self.sync.boxes, event.ray_origin, event.ray_direction
            )
            if g is not None:
                self.session.selected = g
                self._show()

    # ------------------------------------------------------------------------- threads
    def _play_loop(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            if not self._playing.wait(0.1):
                next_t = time.perf_counter()
                continue
            with self._lock:
                if self._stop.is_set():
                    break
                if not self._playing.is_set():  # paused while this thread waited
                    continue
                self.session.step()
                self._show()
            next_t += 1.0 / max(self.play_rate, 0.1)
            delay = next_t - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.perf_counter()

    def _orbit_loop(self) -> None:
        while not self._stop.wait(0.05):
            if not self._orbit.is_set() or self.server is None:
                continue
            for client in list(self.server.get_clients().values()):
                try:
                    cam = client.camera
                    target = np.asarray(cam.look_at, dtype=np.float64)
                    offset = np.asarray(cam.position, dtype=np.float64) - target
                    a = math.radians(1.5)
                    rot = np.array(
                        [[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]]
                    )
                    eye = target + rot @ offset
                    with client.atomic():
                        cam.wxyz = look_at_wxyz(eye, target)
                        cam.position = eye
                except Exception:
                    continue

    def _render_loop(self) -> None:
        while not self._stop.is_set():
            if not self._render_request.wait(0.5):
                self._fill_errors()
                continue
            self._render_request.clear()
            if self._stop.is_set():
                break
            try:
                self._render_compare()
            except Exception as e:  # never let the worker die; show the problem instead
                if self.panels is not None:
                    self.panels.show_message(f"comparison render failed: {e}")

    def _gt_frame(self, camera: str, step: int) -> int | None:
        if self.dataset is None:
            return None
        try:
            return self.dataset.frame_index(camera, step)
        except KeyError:
            return None

    def _compare_camera(self, name: str, step: int, cameras: dict[str, Camera]) -> Camera:
        i = self._gt_frame(name, step)
        cam = Camera.from_dataset(self.dataset, i) if i is not None else cameras[name]
        return _scaled(cam, self.config.compare_width)

    def _render_compare(self) -> None:
        with self._lock:
            s = self.session
            state, step, name = s.state, s.index, self.compare_camera
            cam = self._compare_camera(name, step, s.cameras)
            branch = s.branch
        with torch.no_grad():
            r = self.wm.render(state, cam)
        rgb = r.rgb[0]
        hidden = hidden_objects(state, cam, r.groups[0])
        groups = {g for g, (_, h) in hidden.items() if h}
        img = (rgb.clamp(0, 1) * 255).byte().numpy().copy()
        if self.show_ghosts:
            ghost = np.array(GHOST_COLOR, dtype=np.float32)
            for g in groups:
                px = hidden[g][0].numpy()
                img[px[:, 1], px[:, 0]] = (0.5 * img[px[:, 1], px[:, 0]] + 0.5 * ghost).astype(
                    np.uint8
                )
        gt = None
        i = self._gt_frame(name, step)
        if i is not None:
            gt_t = self.dataset.image(i)
            if gt_t.shape[:2] != rgb.shape[:2]:
                gt_t = torch.nn.functional.interpolate(
                    gt_t.permute(2, 0, 1)[None], size=tuple(rgb.shape[:2]), mode="area"
                )[0].permute(1, 2, 0)
            err = psnr(rgb, gt_t)
            gt = (gt_t.clamp(0, 1) * 255).byte().numpy()
        self.compare_renders += 1
        with self._lock:
            if self._stop.is_set():
                return
            if gt is not None and _still_there(branch, step, state):
                branch.errors[(step, name)] = err
            changed = groups != self.hidden
            self.hidden = groups
            if changed:
                self.sync.set_ghosts(self.hidden if self.show_ghosts else set())
            self.panels.show_compare(img, gt, step, name)
            self.panels.show_plots()

    def _fill_errors(self) -> None:
        """When idle: the model-vs-truth error of one more step of the current branch."""
        if self.dataset is None or self.panels is None:
            return
        with self._lock:
            s, name = self.session, self.compare_camera
            b = s.branch
            todo = [
                t
                for t in range(b.start, b.last + 1)
                if (t, name) not in b.errors and self._gt_frame(name, t) is not None
            ]
            if not todo:
                return
            t = todo[0]
            state = b.state_at(t)
            cam = self._compare_camera(name, t, b.cameras_at(t))
        with torch.no_grad():
            rgb = self.wm.render(state, cam).rgb[0]
        gt = self.dataset.image(self._gt_frame(name, t))
        if gt.shape[:2] != rgb.shape[:2]:
            gt = torch.nn.functional.interpolate(
                gt.permute(2, 0, 1)[None], size=tuple(rgb.shape[:2]), mode="area"
            )[0].permute(1, 2, 0)
        with self._lock:
            if _still_there(b, t, state):
                b.errors[(t, name)] = psnr(rgb, gt)
            if not self._stop.is_set():
                self.panels.show_plots()

    # ---------------------------------------------------------------------------- plots
    def error_image(self) -> np.ndarray:
        b = self.session.branch
        series: dict[str, list[tuple[int, float]]] = {}
        for (t, cam), v in b.errors.items():
            series.setdefault(cam, []).append((t, v))
        return error_plot(series, current=self.session.index)

    def trajectory_image(self) -> np.ndarray:
        model = self.session.trajectories()
        truth = None
        if self.episode is not None:
            ids = [int(i) for i in self.session.state.object_ids[1:]]
            steps = self.episode.steps[: self.session.index + 1]
            truth = np.array(
                [
                    [s.objects[i].position if i in s.objects else (np.nan,) * 3 for i in ids]
                    for s in steps
                ]
            )
        colors = [group_color(g) for g in range(1, self.session.state.num_groups)]
        return trajectory_plot(
            model, colors, truth=truth, labels=[lbl.split(": ")[0] for lbl in self.labels]
        )


__all__ = ["ViewerApp", "ViewerConfig", "check_port"]
