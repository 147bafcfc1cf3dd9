"""``generate()``: run a preset and write a dataset folder.

Output layout (``OUT/``)::

    transforms.json            nerfstudio format + spatialwm extensions (spatialwm.data.transforms)
    episode.json               dt, actions, object states, visibility (spatialwm.data.episode)
    images/{camera}_{step:04d}.png   RGB, 8-bit
    masks/{camera}_{step:04d}.png    instance ids, 8-bit: 0 = background, 1..K = objects
    depth/{camera}_{step:04d}.png    z-depth, 16-bit millimetres, 0 = unknown
    amodal/{camera}_{step:04d}.png   (--amodal) 16-bit, bit id-1 = object id's full silhouette
    sparse_pc.ply              points sampled from the step-0 depth maps (ply_file_path)

The folder is built under a temporary sibling and renamed into place at the end; every file
is written atomically. The same config and seed give byte-identical files.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from spatialwm.data.actions import CameraAction, PlaceAction, PushAction
from spatialwm.data.cameras import OPENGL_TO_OPENCV
from spatialwm.data.episode import Episode, EpisodeStep, write_episode
from spatialwm.data.io import write_png
from spatialwm.data.ply import write_ply_points
from spatialwm.data.transforms import FrameRecord, ObjectInfo, write_transforms
from spatialwm.errors import InputError
from spatialwm.generate.assets import resolve_pool
from spatialwm.generate.policies import Context, make_policy
from spatialwm.generate.presets import PRESETS, build_scene, observation_cameras
from spatialwm.generate.render import Frame, Renderer
from spatialwm.generate.rig import camera_intrinsics, ring_views
from spatialwm.generate.sim import PhysicsWorld

__all__ = ["GenerateConfig", "GenerateResult", "generate"]

FORMAT_VERSION = 1
MAX_OBJECTS = 15  # the amodal encoding has 16 bits (movable objects + the occlusion wall)
VIOLATIONS = ("remove", "teleport")


@dataclass(frozen=True)
class GenerateConfig:
    """Generator settings; ``None`` fields take the preset's defaults (see ``PRESETS``).

    Attributes:
        preset: ``tabletop``, ``push``, ``occlusion`` or ``camera``.
        seed: the only source of randomness (scene, cameras, actions, point sampling).
        views: capture views rendered at step 0 (ring cameras ``view_000``...).
        cameras: fixed observation cameras (``cam0``...) rendered at every step.
        steps: number of steps after the initial state (``tabletop``: 0).
        width, height: image size in pixels.
        objects: number of movable objects (the occlusion wall comes on top).
        pool: object pool name or asset list (see :mod:`spatialwm.generate.assets`).
        amodal: also write full per-object silhouettes for every frame.
        points: points in ``sparse_pc.ply`` (0: no point cloud).
        dt: seconds per step.
        supersample: samples per pixel along each axis (anti-aliasing; 1 = TinyRenderer's
            raw aliased output).
        violation: ``occlusion`` only: ``"remove"`` or ``"teleport"`` makes the first runner's
            first exit from hiding an impossible event that no action records (removed: moved
            far out of every view; teleported: its position across the wall and its velocity
            mirrored, so it comes out on the wrong side). The steps before are those of the
            possible episode of the same seed (same step-0 scene). ``None``: a possible episode.
    """

    preset: str = "tabletop"
    seed: int = 0
    views: int | None = None
    cameras: int | None = None
    steps: int | None = None
    width: int = 320
    height: int = 240
    objects: int | None = None
    pool: str = "default"
    amodal: bool = False
    points: int = 8000
    dt: float = 0.1
    supersample: int = 2
    violation: str | None = None

    def resolved(self) -> GenerateConfig:
        """Fill the preset's defaults and validate; raises ``InputError``."""
        if self.preset not in PRESETS:
            raise InputError(
                f"--preset: unknown preset {self.preset!r} (known: {', '.join(PRESETS)})"
            )
        spec = PRESETS[self.preset]
        cfg = replace(
            self,
            views=spec.views if self.views is None else self.views,
            cameras=spec.cameras if self.cameras is None else self.cameras,
            steps=spec.steps if self.steps is None else self.steps,
        )
        checks = [
            ("--seed", cfg.seed, 0, 2**63 - 1),
            ("--views", cfg.views, 0, 1000),
            ("--cameras", cfg.cameras, 0, 16),
            ("--steps", cfg.steps, 0, 100000),
            ("--width", cfg.width, 8, 4096),
            ("--height", cfg.height, 8, 4096),
            ("--points", cfg.points, 0, 10_000_000),
            ("--supersample", cfg.supersample, 1, 8),
        ]
        if cfg.objects is not None:
            checks.append(("--objects", cfg.objects, 1, MAX_OBJECTS - 1))
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InputError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}")
        if spec.static and cfg.steps != 0:
            raise InputError(f"--steps: preset {cfg.preset!r} is a static capture; steps must be 0")
        if cfg.violation is not None:
            if cfg.violation not in VIOLATIONS:
                raise InputError(
                    f"--violation: expected one of {', '.join(VIOLATIONS)}, got {cfg.violation!r}"
                )
            if cfg.preset != "occlusion":
                raise InputError("--violation: only the occlusion preset has impossible events")
        if cfg.views + cfg.cameras == 0:
            raise InputError("--views/--cameras: nothing to render (both are 0)")
        if not (isinstance(cfg.dt, (int, float)) and 0.0 < cfg.dt <= 10.0):
            raise InputError(f"--dt: expected seconds in (0, 10], got {cfg.dt!r}")
        if abs(cfg.dt * 240 - round(cfg.dt * 240)) > 1e-9:
            raise InputError(f"--dt: must be a multiple of the 1/240 s physics step, got {cfg.dt}")
        resolve_pool(cfg.pool)  # validates the name
        return cfg


@dataclass(frozen=True)
class GenerateResult:
    path: Path
    frames: int
    steps: int  # states (steps + 1)
    objects: tuple[ObjectInfo, ...]
    seconds: float
    hidden_runs: tuple[tuple[int, int, int], ...]  # (object, first step, length) fully hidden


def _frame_name(camera: str, step: int) -> str:
    return f"{camera}_{step:04d}.png"


def _prepare_out(out: Path, overwrite: bool) -> Path:
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{out}: exists and is not a folder")
        if any(out.iterdir()):
            if not overwrite:
                raise InputError(
                    f"{out}: folder exists and is not empty (pass --force to replace it)"
                )
            if not (out / "transforms.json").exists():
                raise InputError(
                    f"{out}: refusing to replace a folder that holds no transforms.json"
                )
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _backproject(
    frame: Frame, c2w: np.ndarray, intr, target, radius: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """World points and colours of the pixels with known depth within ``radius`` (metres,
    horizontally) of ``target``."""
    v, u = np.nonzero(frame.depth_mm)
    z = frame.depth_mm[v, u].astype(np.float64) / 1000.0
    x = (u + 0.5 - intr.cx) / intr.fx * z
    y = (v + 0.5 - intr.cy) / intr.fy * z
    cam = np.stack([x, y, z], axis=1)  # OpenCV camera frame
    c2w_cv = c2w @ OPENGL_TO_OPENCV
    world = cam @ c2w_cv[:3, :3].T + c2w_cv[:3, 3]
    near = np.linalg.norm(world[:, :2] - np.asarray(target)[:2], axis=1) < radius
    return world[near], frame.rgb[v[near], u[near]]


def _hidden_runs(steps: list[EpisodeStep], cameras: list[str], ids: list[int]) -> list:
    runs = []
    for i in ids:
        start = None
        for s in [*steps, None]:
            hidden = s is not None and all(s.visibility[c].get(i, 0.0) == 0.0 for c in cameras)
            if hidden and start is None:
                start = s.index
            elif not hidden and start is not None:
                end = s.index if s is not None else steps[-1].index + 1
                runs.append((i, start, end - start))
                start = None
    return runs


def generate(
    out: str | os.PathLike,
    config: GenerateConfig,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> GenerateResult:
    """Run ``config``'s preset and write the dataset to ``out``.

    Raises ``InputError`` for bad settings or an occupied ``out`` (``overwrite`` replaces a
    previous dataset folder).
    """
    t0 = time.perf_counter()
    cfg = config.resolved()
    given = Path(out)
    out = given.resolve()
    tmp = _prepare_out(out, overwrite)
    try:
        result = _run(cfg, tmp, log or (lambda s: None))
        if out.exists():
            if any(out.iterdir()):
                shutil.rmtree(out)
            else:
                out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace(result, path=given, seconds=time.perf_counter() - t0)


def _run(cfg: GenerateConfig, root: Path, log: Callable[[str], None]) -> GenerateResult:
    spec = PRESETS[cfg.preset]
    streams = np.random.SeedSequence(cfg.seed).spawn(4)
    scene_rng, camera_rng, policy_rng, points_rng = (np.random.default_rng(s) for s in streams)
    pool = resolve_pool(cfg.pool)
    lo, hi = spec.objects
    k = cfg.objects if cfg.objects is not None else int(scene_rng.integers(lo, hi + 1))

    world = PhysicsWorld()
    renderer = None
    try:
        info = build_scene(world, cfg.preset, pool, k, scene_rng)
        objects = tuple(
            ObjectInfo(o.id, o.name, o.asset, o.scale, o.static)
            for o in (world.objects[i] for i in sorted(world.objects))
        )
        renderer = Renderer(world.objects, supersample=cfg.supersample)
        intr = camera_intrinsics(cfg.width, cfg.height)
        views = ring_views(cfg.views, camera_rng, np.array(spec.target))
        view_names = [f"view_{j:03d}" for j in range(cfg.views)]
        cam_names = [f"cam{j}" for j in range(cfg.cameras)]
        policy = make_policy(cfg.preset, policy_rng, info, cfg.violation)
        if cfg.preset == "camera":
            cam_poses = dict(zip(cam_names, policy.init(cam_names), strict=True))
        else:
            cam_poses = dict(
                zip(
                    cam_names, observation_cameras(cfg.preset, cfg.cameras, camera_rng), strict=True
                )
            )
        log(f"{len(objects)} objects, {cfg.views} views, {cfg.cameras} cameras, {cfg.steps} steps")

        records: list[FrameRecord] = []
        steps: list[EpisodeStep] = []
        cloud: list[tuple[np.ndarray, np.ndarray]] = []
        violations: list[dict] = []
        substeps = round(cfg.dt * 240)
        for t in range(cfg.steps + 1):
            states = world.states()
            renderer.set_states(states)
            shots = [(n, c) for n, c in zip(view_names, views, strict=True)] if t == 0 else []
            shots += list(cam_poses.items())
            visibility: dict[str, dict[int, float]] = {}
            pixels: dict[str, dict[int, int]] = {}
            for name, c2w in shots:
                frame = renderer.render(c2w, intr)
                visibility[name], pixels[name] = frame.visibility()
                fname = _frame_name(name, t)
                write_png(root / "images" / fname, frame.rgb)
                write_png(root / "masks" / fname, frame.instances)
                write_png(root / "depth" / fname, frame.depth_mm)
                amodal = None
                if cfg.amodal:
                    amodal = f"amodal/{fname}"
                    write_png(root / amodal, frame.amodal_bits())
                records.append(
                    FrameRecord(
                        f"images/{fname}", c2w, intr, t, name,
                        mask_path=f"masks/{fname}", depth_file_path=f"depth/{fname}",
                        amodal_mask_path=amodal,
                    )
                )  # fmt: skip
                if t == 0 and cfg.points and (name in view_names or not view_names):
                    cloud.append(_backproject(frame, c2w, intr, spec.target))
            if t < cfg.steps:
                ctx = Context(t, world, dict(cam_poses), {c: visibility[c] for c in cam_names})
                actions = policy.actions(ctx)
                _apply(world, cam_poses, actions)
                due = getattr(policy, "violation_due", None)
                if due is not None:
                    policy.violation_due = None
                    violations.append({"step": t, "object": due[0], "type": due[1]})
                    _violate(world, *due)
                if not spec.frozen:
                    world.simulate_steps(substeps)
            else:
                actions = []
            steps.append(EpisodeStep(t, tuple(actions), states, visibility, pixels))

        movable = [o.id for o in objects if not o.static]
        runs = _hidden_runs(steps, cam_names, movable) if cam_names else []
        extra: dict = {}
        if cloud and cfg.points:
            extra["ply_file_path"] = "sparse_pc.ply"
            _write_cloud(root / "sparse_pc.ply", cloud, cfg.points, points_rng)
        extra["depth_unit_scale_factor"] = 0.001
        extra["spatialwm"] = {
            "format_version": FORMAT_VERSION,
            "generator": "spatialwm.generate",
            "config": _config_json(cfg),
            "world": {"up": [0.0, 0.0, 1.0], "units": "metres"},
        }
        write_transforms(root / "transforms.json", records, objects, extra=extra)
        meta = {
            "preset": cfg.preset,
            "seed": cfg.seed,
            "physics": {
                "engine": "pybullet",
                "timestep": 1.0 / 240.0,
                "substeps": substeps,
                "gravity": [0.0, 0.0, -9.81],
            },
            "pose_frame": "centre of mass, world, quaternion wxyz",
        }
        if cfg.violation is not None:
            meta["violation"] = {"type": cfg.violation, "events": violations}
        episode = Episode(cfg.dt, tuple(steps), tuple(cam_names), meta)
        write_episode(root / "episode.json", episode)
    finally:
        world.close()
        if renderer is not None:
            renderer.close()
    return GenerateResult(root, len(records), len(steps), objects, 0.0, tuple(runs))


def _config_json(cfg: GenerateConfig) -> dict:
    """The config as written to transforms.json (``violation`` only when set, so that
    possible episodes keep their bytes)."""
    out = asdict(cfg)
    if out["violation"] is None:
        del out["violation"]
    return out


def _violate(world: PhysicsWorld, i: int, kind: str) -> None:
    """An impossible event on hidden object ``i`` (not recorded as an action)."""
    s = world.state(i)
    if kind == "remove":  # far behind the observation cameras (they look along +x), at rest
        world.place(i, (-6.0, 0.0, s.position[2], *s.quaternion))
        return
    x, y, z = s.position
    vx, vy, vz = s.linear_velocity
    world.place(i, (x, -y, z, *s.quaternion))
    world.push(i, (vx, -vy, vz))


def _apply(world: PhysicsWorld, cam_poses: dict[str, np.ndarray], actions) -> None:
    for a in actions:
        if isinstance(a, PushAction):
            world.push(a.object, a.velocity)
        elif isinstance(a, PlaceAction):
            world.place(a.object, a.pose)
        elif isinstance(a, CameraAction):
            cam_poses[a.camera] = np.array(a.c2w, dtype=np.float64)


def _write_cloud(path: Path, cloud, n: int, rng: np.random.Generator) -> None:
    """Write ``n`` points drawn without replacement from the back-projected ``cloud``."""
    xyz = np.concatenate([c[0] for c in cloud])
    rgb = np.concatenate([c[1] for c in cloud])
    if len(xyz) > n:
        idx = np.sort(rng.choice(len(xyz), size=n, replace=False))
        xyz, rgb = xyz[idx], rgb[idx]
    write_ply_points(path, xyz, rgb)
