"""The viewer without a browser: the session model (steps, plan, branches, memory bound),
splat buffers (poses mirror ``world_gaussians``; float16 covariances survive), geometry
(camera conversion, picking, hidden objects), plots, and clean errors for bad input."""

from __future__ import annotations

import gc
import socket
import tracemalloc

import numpy as np
import pytest
import torch

from spatialwm.data.actions import CameraAction, PushAction
from spatialwm.errors import DatasetError, InputError, SpatialWMError
from spatialwm.scene.state import group_slice, world_gaussians
from spatialwm.world import WorldModel
from viewer import Session, ViewerApp, ViewerConfig, check_port
from viewer.geometry import (
    camera_view,
    hidden_objects,
    look_at_wxyz,
    matrix_to_wxyz,
    object_box,
    opengl_c2w,
    pick_group,
    wxyz_to_matrix,
)
from viewer.plots import error_plot, trajectory_plot
from viewer.splats import choose_magnify, covariances, float16_error, group_splats
from viewer.testing import synthetic_state, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("viewer") / "run", synthetic_state(3000))


def _fake_step(state, actions):
    """A stand-in dynamics: +1 cm in x per step for every object, pushes add 10 cm."""
    pos = state.positions.clone()
    pos[1:, 0] += 0.01
    for a in actions:
        if isinstance(a, PushAction):
            pos[state.group_of(a.object), 0] += 0.1
    return state.replace(positions=pos, step=state.step + 1)


def test_session_steps_plan_and_acting_in_the_past():
    s0 = synthetic_state(600)
    plan = {1: [PushAction(2, (1.0, 0.0, 0.0))]}
    s = Session(_fake_step, s0, plan=plan)
    for _ in range(3):
        s.step()
    b = s.branch
    assert s.index == b.last == 3 and len(b.states) == 4 and len(b.actions) == 3
    assert b.actions[1] == plan[1]  # the plan applies at its step
    x = lambda st, g: float(st.positions[g, 0])  # noqa: E731
    assert x(b.states[3], 2) - x(s0, 2) == pytest.approx(0.13, abs=1e-6)
    assert b.states[1].gaussians is s0.gaussians  # states share their Gaussians
    s.seek(1)
    assert s.state is b.states[1] and not s.at_end
    s.step()  # replay, not simulate
    assert s.index == 2 and len(b.states) == 4
    s.act([PushAction(1, (1.0, 0.0, 0.0))])  # acting in the past rewrites the future
    assert s.index == 3 and len(b.states) == 4
    assert x(b.states[3], 1) - x(b.states[2], 1) == pytest.approx(0.11, abs=1e-6)
    s.reset()
    assert s.index == 0 and len(s.branch.states) == 1 and s.state is s0


def test_branch_keeps_the_original():
    s = Session(_fake_step, synthetic_state(600))
    for _ in range(4):
        s.step()
    original = list(s.branch.states)
    s.seek(2)
    new = s.branch_here()
    assert s.current == 1 and new.last == 2 and new.states[2] is original[2]
    s.act([PushAction(3, (1.0, 0.0, 0.0))])
    assert s.index == 3 and s.branches[0].states == original  # the original is untouched
    assert not torch.equal(s.state.positions, original[3].positions)
    s.switch(0)
    assert s.state is original[3]


def test_camera_actions_move_cameras_from_their_step():
    wm_cam = synthetic_cameras()
    s = Session(_fake_step, synthetic_state(600), cameras=wm_cam)
    c2w = opengl_c2w(look_at_wxyz((1.0, 0.0, 0.5), (0.0, 0.0, 0.0)), (1.0, 0.0, 0.5))
    s.step()
    s.act([CameraAction("a", c2w)])
    assert torch.equal(s.branch.cameras_at(1)["a"].viewmat, wm_cam["a"].viewmat)
    moved = s.cameras["a"].viewmat
    assert torch.allclose(torch.linalg.inv(moved)[:3, 3], torch.tensor([1.0, 0.0, 0.5]), atol=1e-5)
    assert s.cameras["b"] is wm_cam["b"]


def synthetic_cameras():
    from spatialwm.scene.render import Camera
    from spatialwm.synthetic import orbit_cameras

    v, K = orbit_cameras(2, 64, 48)
    return {n: Camera(v[i], K[i], 64, 48, n) for i, n in enumerate("ab")}


def test_long_play_does_not_grow_memory():
    s = Session(_fake_step, synthetic_state(600), max_states=50)
    for _ in range(200):
        s.step()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(1000):
        s.step()
    grown = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    b = s.branch
    assert len(b.states) == 50 and b.start == 1151 and s.index == b.last == 1200
    assert grown < 200_000, grown  # bounded by the window, not by the number of steps
    s.seek(0)
    assert s.index == b.start  # steps that slid out clamp to the oldest kept


def test_splat_nodes_mirror_world_gaussians():
    state = synthetic_state(2000)
    pos, quat = state.positions.clone(), state.orientations.clone()
    pos[2] += torch.tensor([0.1, -0.2, 0.05])
    quat[2] = torch.tensor([0.9, 0.1, -0.2, 0.3]) / torch.tensor([0.9, 0.1, -0.2, 0.3]).norm()
    state = state.replace(positions=pos, orientations=quat)
    world = world_gaussians(state)
    for g in range(state.num_groups):
        sp = group_splats(state, g)
        sl = group_slice(state, g)
        r = wxyz_to_matrix(state.orientations[g].numpy())
        centers = sp.centers / sp.magnify @ r.T + state.positions[g].numpy()
        assert np.allclose(centers, world["means"][sl].numpy(), atol=1e-5)
        cov = r @ (sp.covariances / sp.magnify**2) @ r.T
        ref = covariances(world["scales"][sl], world["quats"][sl]).numpy()
        assert np.allclose(cov, ref, atol=1e-9, rtol=1e-4)
        assert sp.rgbs.min() >= 0 and sp.rgbs.max() <= 1
        assert np.allclose(sp.opacities[:, 0], torch.sigmoid(world["opacities"][sl]).numpy())


def test_tiny_gaussians_survive_float16():
    # millimetre Gaussians: sent as they are, float16 ruins them; magnified, they survive
    scales = torch.log(torch.tensor([[0.002, 0.001, 0.0002]])).expand(500, 3)
    quats = torch.nn.functional.normalize(torch.randn(500, 4), dim=-1)
    cov = covariances(scales, quats)
    k = choose_magnify(cov)
    assert k > 100

    class Raw:
        covariances = cov.numpy()

    assert float16_error(Raw) > 0.01
    splats = type("S", (), {"covariances": (cov * k * k).numpy()})
    assert float16_error(splats) < 2e-3
    big = covariances(torch.log(torch.tensor([[3.0, 3.0, 3.0]])), torch.tensor([[1.0, 0, 0, 0]]))
    assert float((big * choose_magnify(big) ** 2).max()) < 6e4  # no float16 overflow


def test_camera_conversion_and_picking():
    cams = synthetic_cameras()
    v = camera_view(cams["a"])
    c2w = np.linalg.inv(cams["a"].viewmat.double().numpy())
    assert np.allclose(wxyz_to_matrix(v.wxyz), c2w[:3, :3], atol=1e-6)
    assert np.allclose(matrix_to_wxyz(wxyz_to_matrix(v.wxyz)), v.wxyz, atol=1e-9)
    gl = opengl_c2w(v.wxyz, v.position)
    assert np.allclose(gl[:3, 2], -c2w[:3, 2])  # OpenGL looks along -Z
    state = synthetic_state(3000)
    boxes = {g: object_box(state, g) for g in range(1, state.num_groups)}
    for g in range(1, state.num_groups):
        centre = state.positions[g].numpy() + boxes[g].center
        eye = centre + np.array([0.0, 0.0, 3.0])
        assert pick_group(state, boxes, eye, (0.0, 0.0, -1.0)) == g
    assert pick_group(state, boxes, (5.0, 5.0, 3.0), (0.0, 0.0, 1.0)) is None


def test_hidden_objects_from_the_group_weights(run):
    wm = WorldModel.load(run)
    state = wm.state
    from spatialwm.scene.render import Camera
    from spatialwm.synthetic import look_at, pinhole_K

    g = 4  # the first sphere; a camera low behind another object hides it
    target = state.positions[g]
    eye = target + torch.tensor([0.0, 0.0, 2.0])
    cam = Camera(
        look_at(tuple(eye.tolist()), tuple(target.tolist()), up=(0.0, 1.0, 0.0)),
        pinhole_K(96, 72, 40.0),
        96,
        72,
    )
    r = wm.render(state, cam)
    out = hidden_objects(state, cam, r.groups[0])
    assert len(out[g][0]) > 20 and not out[g][1]  # seen from above: visible
    covered = r.groups[0].clone()
    covered[..., g] = 0.0  # as if something in front took all its light
    out = hidden_objects(state, cam, covered)
    assert out[g][1]  # its silhouette is in view, it gets no weight: hidden


def test_plots_draw_something():
    img = error_plot({"cam0": [(0, 30.0), (1, 25.0), (2, 22.0)]}, current=1)
    assert img.shape == (150, 320, 3) and (img < 200).any()
    traj = np.cumsum(np.random.default_rng(0).normal(size=(10, 3, 3)) * 0.01, 0)
    img = trajectory_plot(traj, [(255, 0, 0), (0, 255, 0), (0, 0, 255)], truth=traj + 0.01)
    assert img.shape == (240, 320, 3) and (img[..., 0] > 200).sum() > 0


def test_app_without_browser_and_with_a_dynamics_model(run):
    from pathlib import Path

    import spatialwm.dynamics

    model = Path(spatialwm.dynamics.__file__).parent / "default_model.json"
    app = ViewerApp.load(run, dynamics=model, config=ViewerConfig(port=0))  # not started
    assert app.camera_names and app.session.selected == 1
    app.session.act([PushAction(1, (1.5, 0.0, 0.0))])
    assert float(app.session.state.positions[1, 0] - app.session.initial.positions[1, 0]) > 0.01
    assert app.trajectory_image().shape == (240, 320, 3)
    with pytest.raises(DatasetError, match="no such dynamics model"):
        ViewerApp.load(run, dynamics=run / "none.json")


def test_episode_is_replayed_and_checked(run, tmp_path):
    app = ViewerApp.load(run, episode="data/push", config=ViewerConfig(port=0))
    ep = app.episode
    assert {"cam0", "cam1"} <= set(app.camera_names) and app.compare_camera == "cam0"
    pushes = {t: a for t, a in app.session.branch.plan.items() if a}
    assert pushes and all(pushes[t] == list(ep.steps[t].actions) for t in pushes)
    poses = app._positions(app.session.state)
    assert np.allclose(poses[0], ep.steps[0].objects[1].position, atol=1e-4)
    with pytest.raises(DatasetError, match=r"no episode\.json"):
        ViewerApp.load(run, episode="tests/fixtures/ns_colmap")


def test_bad_input_gives_clean_errors(run, tmp_path):
    with pytest.raises(DatasetError, match="no such run folder"):
        ViewerApp.load(tmp_path / "nope")
    with pytest.raises(DatasetError, match=r"no state\.pt"):
        ViewerApp.load(tmp_path)
    with pytest.raises(InputError, match=r"0\.\.65535"):
        check_port("127.0.0.1", 70000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(InputError, match="already in use"):
            check_port("127.0.0.1", s.getsockname()[1])
    for argv, match in [
        ([str(tmp_path / "nope"), "--port", "0"], "no such run folder"),
        ([str(run), "--port", "99999"], "0..65535"),
        ([str(run), "--port", "0", "--episode", str(tmp_path / "none")], "no such dataset"),
    ]:
        args = _view_parser().parse_args(["view", *argv])
        with pytest.raises(SpatialWMError, match=match) as e:
            args.func(args)
        assert "\n" not in str(e.value)  # one line, as the CLI prints it


def _view_parser():
    """The ``view`` verb alone (the CLI's error handling prints SpatialWMError messages)."""
    import argparse

    from spatialwm.commands import view

    parser = argparse.ArgumentParser(prog="spatialwm")
    view.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_lists_view():
    from spatialwm import cli

    assert "spatialwm.commands.view" in cli._COMMAND_MODULES


def test_demo_opens_the_viewer_only_for_a_person(monkeypatch):
    import io
    import sys

    from spatialwm.commands import demo

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(sys, "stdout", Tty())
    monkeypatch.delenv("CI", raising=False)
    assert demo._interactive()
    monkeypatch.setenv("CI", "true")
    assert not demo._interactive()  # CI never blocks
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    assert not demo._interactive()  # nor a pipe (setup.sh passes --no-view then too)


def test_long_play_on_a_running_server_stays_bounded(run):
    """Playback through the real app (server, threads, GUI updates; no browser): memory
    stops growing once the timeline window is full."""
    cfg = ViewerConfig(port=0, verbose=False, max_states=20, compare_width=48)
    app = ViewerApp.load(run, config=cfg)
    app.start()
    try:
        app.play_rate = 1000.0
        app.play()
        _wait_for(lambda: app.session.index >= 40)  # the window is full
        tracemalloc.start()
        start = app.session.index
        _wait_for(lambda: app.session.index >= start + 60)  # warm up (caches, traces)
        grown = []  # over two windows of 250 steps: a leak grows in both, while a one-off
        for _ in range(2):  # allocation (viser reading its 3.7 MB client bundle) lands in one
            gc.collect()
            before = tracemalloc.take_snapshot()
            start = app.session.index
            _wait_for(lambda: app.session.index >= start + 250)  # noqa: B023
            gc.collect()
            after = tracemalloc.take_snapshot()
            grown.append(sum(d.size_diff for d in after.compare_to(before, "filename")))
        tracemalloc.stop()
        app.pause()
        assert len(app.session.branch.states) == 20  # read after pause: no step under way
        # a leak of 2 kB a step would show (the images in flight are small here)
        assert min(grown) < 500_000, grown
        assert all(t.is_alive() for t in app._threads)
    finally:
        app.stop()
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", app.port))


def _wait_for(cond, timeout: float = 120.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_compare_with_an_episode_fills_errors_and_views(run):
    """With an episode: its pushes replay, the comparison worker renders the model beside the
    ground-truth frame and measures the error of every step it has."""
    app = ViewerApp.load(run, episode="data/push", config=ViewerConfig(port=0, verbose=False))
    app.start()
    try:
        for _ in range(3):
            app.step()
        b = app.session.branch
        _wait_for(lambda: all((t, "cam0") in b.errors for t in range(4)))
        assert all(5 < b.errors[(t, "cam0")] < 60 for t in range(4))
        _wait_for(lambda: app.compare_renders > 0)
        img = app.panels.views_img.image
        cam = app.dataset.frame_index("cam0", 0)
        w = min(int(app.dataset.widths[cam]), app.config.compare_width)
        assert img.shape[1] == 2 * w + 4  # the model | the ground truth
        assert app.error_image().shape == (150, 320, 3)
        app.set_compare_camera("cam1")
        _wait_for(lambda: (0, "cam1") in b.errors)
    finally:
        app.stop()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_view_command_serves_and_stops_on_ctrl_c(run, sig):
    """``spatialwm view RUN --port 0`` prints its URL, serves the page, stops on Ctrl+C (or
    SIGTERM), also when started with SIGINT ignored (a background job of a script)."""
    import os
    import queue
    import re
    import signal
    import subprocess
    import sys
    import threading
    import time
    import urllib.request

    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # SIGABRT dumps every thread's stack
    proc = subprocess.Popen(
        [sys.executable, "-m", "spatialwm.cli", "view", str(run), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` does
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    try:
        url, seen = None, []
        while url is None:
            ln = lines.get(timeout=120)
            seen.append(ln)
            m = re.search(r"spatialwm viewer: (http://127\.0\.0\.1:\d+)", ln)
            url = m and m.group(1)
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "<html" in page.lower()
        proc.send_signal(getattr(signal, sig))
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # say where it hangs before failing
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            time.sleep(0.5)
            while not lines.empty():
                seen.append(lines.get())
            stacks = "".join(seen)
            raise AssertionError(f"no exit 60 s after {sig}; its threads:\n{stacks}") from None
        assert code == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
