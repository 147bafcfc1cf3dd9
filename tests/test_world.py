"""WorldModel: load a run, pure steps, rollouts against the generator's ground truth, rendering,
camera actions, dataset object frames, the rollout CLI and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialwm.cli import main
from spatialwm.data import load_dataset
from spatialwm.data.actions import CameraAction, PlaceAction, PushAction
from spatialwm.errors import DatasetError, InputError
from spatialwm.generate import GenerateConfig, generate
from spatialwm.recon import preset, reconstruct
from spatialwm.world import WorldModel


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("world")
    cfg = GenerateConfig("push", seed=5, views=10, cameras=1, steps=8, width=64, height=48,
                         objects=3, pool="cube,jenga,domino")  # fmt: skip
    data = generate(root / "ds", cfg).path
    run = root / "run"
    reconstruct(data, run, preset("debug", steps=80), progress=False, log=lambda *a: None)
    return data, run


def _pushed_object(ds) -> tuple[int, int, tuple[float, ...]]:
    for t, s in enumerate(ds.episode.steps):
        for a in s.actions:
            if isinstance(a, PushAction):
                return t, a.object, a.velocity
    raise AssertionError("the episode has no push")


def test_load_and_initial_poses_match_the_dataset(pushed):
    data, run = pushed
    wm = WorldModel.load(run)
    ds = load_dataset(data)
    assert wm.dt == ds.episode.dt and "cam0" in wm.cameras
    poses = wm.object_poses(wm.state)
    for oid, gt in ds.episode.steps[0].objects.items():
        assert np.allclose(poses[oid][:3], gt.position, atol=1e-5)
        q, g = np.array(poses[oid][3:]), np.array(gt.quaternion)
        assert abs(abs(q @ g) - 1) < 1e-6


def test_steps_are_pure_and_deterministic(pushed):
    _, run = pushed
    wm = WorldModel.load(run)
    s0 = wm.state
    before = {k: getattr(s0, k).clone() for k in ("positions", "orientations")}
    oid = int(s0.object_ids[1])
    acts = [[PushAction(oid, (1.0, 0.0, 0.0))], [], []]
    a = wm.rollout(s0, acts)
    b = wm.rollout(s0, acts)
    assert len(a) == 4 and [s.step for s in a] == [0, 1, 2, 3]
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.positions, y.positions)
    for k, v in before.items():
        assert torch.equal(getattr(s0, k), v)  # the initial state is untouched
    assert a[1].gaussians is s0.gaussians  # Gaussians are shared, not copied
    g = s0.group_of(oid)
    assert float(a[3].positions[g, 0] - s0.positions[g, 0]) > 0.01  # pushed along +x
    # a counterfactual branch from step 1 leaves the first rollout alone
    branch = wm.rollout(a[1], [[PushAction(oid, (0.0, -1.0, 0.0))]])
    assert not torch.equal(branch[1].positions, a[2].positions)


def test_observe_predicts_hidden_objects_with_the_prior_alone(pushed):
    _, run = pushed
    wm = WorldModel.load(run).with_mode("prior+learned")
    s0 = wm.state
    acts = [PushAction(int(s0.object_ids[1]), (1.0, 0.0, 0.0))]
    predict, hidden = wm.observe_dynamics(acts)
    assert torch.equal(predict(s0).positions, wm.step(s0, acts).positions)
    assert torch.equal(hidden(s0).positions, wm.with_mode("prior").step(s0, acts).positions)
    for mode in ("prior", "learned"):
        assert wm.with_mode(mode).observe_dynamics(acts)[1] is None


def test_short_rollout_against_ground_truth(pushed):
    data, run = pushed
    ds = load_dataset(data)
    wm = WorldModel.load(run)
    t0, oid, _ = _pushed_object(ds)
    actions = [list(s.actions) for s in ds.episode.steps[:-1]]
    horizon = min(t0 + 3, len(actions))
    states = wm.rollout(wm.state, actions[:horizon])
    pred = np.array(wm.object_poses(states[horizon])[oid][:3])
    gt0 = np.array(ds.episode.steps[t0].objects[oid].position)
    gt = np.array(ds.episode.steps[horizon].objects[oid].position)
    moved_gt, moved_pred = (gt - gt0)[:2], (pred - gt0)[:2]
    assert np.linalg.norm(moved_gt) > 0.02
    cos = moved_gt @ moved_pred / (np.linalg.norm(moved_gt) * np.linalg.norm(moved_pred))
    assert cos > 0.7, (moved_gt, moved_pred)  # the pushed object goes the right way
    err = np.linalg.norm(pred - gt)
    assert err < 0.5 * np.linalg.norm(gt - gt0) + 0.03, err


def test_place_uses_dataset_frames(pushed):
    data, run = pushed
    wm = WorldModel.load(run)
    ds = load_dataset(data)
    oid = int(wm.state.object_ids[1])
    gt = ds.episode.steps[0].objects[oid]
    target = (gt.position[0] + 0.1, gt.position[1], gt.position[2] + 0.002, *gt.quaternion)
    s1 = wm.step(wm.state, PlaceAction(oid, target))
    got = wm.object_poses(s1)[oid]
    assert np.allclose(got[:2], target[:2], atol=0.01)


def test_render_and_camera_actions(pushed):
    _, run = pushed
    wm = WorldModel.load(run)
    cam = wm.cameras["cam0"]
    r = wm.render(wm.state, cam)
    assert r.rgb.shape == (1, 48, 64, 3) and r.depth.shape == (1, 48, 64)
    seen = set(r.object_ids.unique().tolist())
    assert seen & set(wm.state.object_ids[1:].tolist())  # objects are in the picture
    c2w = torch.linalg.inv(cam.viewmat.double())
    c2w[:3, 1:3] *= -1  # OpenCV -> OpenGL camera-to-world
    c2w[0, 3] += 0.3
    views = wm.predict_views(wm.state, [[CameraAction("cam0", c2w.tolist())], []], [cam])
    assert len(views) == 3
    assert not torch.allclose(views[1].rgb, views[0].rgb)  # the camera moved


def test_bad_input(pushed, tmp_path):
    _, run = pushed
    wm = WorldModel.load(run)
    with pytest.raises(InputError, match="unknown object id 99"):
        wm.step(wm.state, PushAction(99, (1.0, 0.0, 0.0)))
    oid = int(wm.state.object_ids[1])
    with pytest.raises(InputError, match="exceeds"):
        wm.step(wm.state, PushAction(oid, (1000.0, 0.0, 0.0)))
    with pytest.raises(DatasetError, match="no such run"):
        WorldModel.load(tmp_path / "nope")
    with pytest.raises(DatasetError, match="model file not found"):
        WorldModel.load(run, dynamics=tmp_path / "model.json")


def test_rollout_cli(pushed, tmp_path, capsys):
    data, run = pushed
    out = tmp_path / "roll"
    rc = main(["rollout", str(run), "--actions", str(data / "episode.json"), "--out", str(out),
               "--steps", "4"])  # fmt: skip
    assert rc == 0
    poses = json.loads((out / "poses.json").read_text())
    assert len(poses["steps"]) == 5
    assert len(list((out / "cam0").glob("step_*.png"))) == 5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([[{"type": "push", "object": 42, "velocity": [1, 0, 0]}]]))
    assert main(["rollout", str(run), "--actions", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err
    # another dynamics model and mode: the objects' poses differ from the default's
    from spatialwm.dynamics.model import DynamicsModel, DynamicsParams, save_model

    slippery = tmp_path / "slippery.json"
    save_model(slippery, DynamicsModel(DynamicsParams(friction=0.05), mode="prior"))
    runs = {}
    for name, extra in (("default", []), ("slippery", ["--dynamics", str(slippery),
                                                        "--mode", "prior"])):  # fmt: skip
        argv = ["rollout", str(run), "--actions", str(data / "episode.json"),
                "--out", str(tmp_path / name), *extra]  # fmt: skip
        assert main(argv) == 0
        runs[name] = json.loads((tmp_path / name / "poses.json").read_text())
    assert runs["default"] != runs["slippery"]
    assert main(["rollout", str(run), "--actions", str(bad), "--out", str(out),
                 "--dynamics", str(tmp_path / "missing.json")]) == 2  # fmt: skip
    assert "missing.json" in capsys.readouterr().err


def test_eval_dynamics_cli(pushed, tmp_path, capsys):
    import shutil

    data, run = pushed
    runs = tmp_path / "runs"
    shutil.copytree(run, runs / data.name)  # reuse the fixture's reconstruction
    out = tmp_path / "eval.json"
    argv = ["eval-dynamics", str(data), "--runs", str(runs), "--every", "2", "--horizons",
            "1,3", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    methods = {"static", "constant velocity", "prior only", "learned only", "prior + learned"}
    for method in methods:
        assert f"| {method} | bystander |" in text
    assert "PSNR k=1" in text and "interpenetration" in text
    raw = json.loads(out.read_text())
    assert set(raw["errors"]) == methods and set(raw["psnr"]) == methods - {"constant velocity"}
    # every bystander is counted again, as moved or left still by the truth
    assert "bystanders split by their true motion" in text
    for per_group in raw["errors"].values():
        for h, rows in per_group["bystander"].items():
            split = [per_group.get(g, {}).get(h, []) for g in
                     ("bystander, truth moved", "bystander, truth still")]  # fmt: skip
            assert sorted(map(tuple, rows)) == sorted(map(tuple, split[0] + split[1]))
    # a static capture is not an episode: a clear error, no traceback
    tab = tmp_path / "tab"
    generate(tab, GenerateConfig("tabletop", views=2, width=32, height=24, objects=1))
    assert main(["eval-dynamics", str(tab), "--runs", str(runs)]) == 2
    assert "not an episode" in capsys.readouterr().err


def test_constant_velocity_integration():
    from spatialwm.data.episode import ObjectState
    from spatialwm.world_eval import _integrate

    o = ObjectState((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, np.pi))
    n = _integrate(o, 0.5)  # half a turn per second for 0.5 s: 90 degrees about +z
    assert np.allclose(n.position, (0.5, 0.0, 0.0))
    assert np.allclose(n.quaternion, (np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)), atol=1e-9)


def test_train_dynamics_cli(pushed, tmp_path, capsys):
    import shutil

    from spatialwm.dynamics.model import load_model

    data, run = pushed
    runs = tmp_path / "runs"
    shutil.copytree(run, runs / data.name)
    model = tmp_path / "model.json"
    # the same episode twice: the second copy is the validation episode
    argv = ["train-dynamics", str(data), str(data), "--runs", str(runs), "--out", str(model),
            "--horizon", "2", "--every", "3", "--iters", "30"]  # fmt: skip
    assert main(argv) == 0
    m = load_model(model)
    p = m.params
    errors = m.info["train_position_error_cm"]
    assert 0.2 <= p.friction <= 1.0 and min(errors.values()) >= 0
    assert m.residual is not None and m.learned_only is not None
    wm = WorldModel.load(run, dynamics=model)
    assert float(wm.prior.proxies.friction[0]) == pytest.approx(p.friction)
    assert wm.mode == m.mode in ("prior", "prior+learned") and wm.model.residual is not None
    assert set(m.info["validation_position_error_cm"]) == {"prior", "prior+learned"}
    assert WorldModel.load(run, dynamics=model, mode="learned").mode == "learned"
    out = capsys.readouterr().out
    assert "wrote" in out and "floor friction from" in out
    # the floor's friction as the episode's clean slides show it (the same two copies)
    from spatialwm.data import load_dataset
    from spatialwm.dynamics.slides import floor_friction

    ep = load_dataset(data).episode
    tracks = [torch.tensor([s.objects[i].position[:2] for s in ep.steps], dtype=torch.float64)
              for i in ep.object_ids]  # fmt: skip
    assert m.slide_friction == pytest.approx(floor_friction(tracks, ep.dt).friction, abs=1e-6)
    floor = floor_friction(tracks + tracks, ep.dt)
    for got, want in ((m.slide_friction_spread, floor.spread),
                      (m.slide_friction_share, floor.share)):  # fmt: skip
        assert (got is None) == (want is None) and (got is None or got == pytest.approx(want))
    # the parameters can be given instead of searched; a round on the model's own rollouts
    argv += ["--friction", "0.6", "--density", "800", "--dagger", "1", "--rotations", "2",
             "--geom", "box+hull", "--ensemble", "2"]  # fmt: skip
    assert main(argv) == 0
    m2 = load_model(model)
    assert m2.params.friction == 0.6 and m2.info["dagger"] == 1 and m2.info["rotations"] == 2
    assert m2.params.geom == "box+hull" and m2.info["ensemble"] == 2
    assert len(m2.residual) == len(m2.learned_only) == 2
    assert WorldModel.load(run, dynamics=model).prior.geom == "box+hull"
    assert "round 1 on its own rollouts" in capsys.readouterr().out
    # --floor-only: the floor's statistics written into an existing model, nothing trained
    import json
    from dataclasses import replace

    from spatialwm.dynamics.model import save_model

    before = load_model(model)
    damaged = tmp_path / "damaged.json"
    save_model(damaged, replace(before, slide_friction=None, slide_friction_spread=None))
    assert main(["train-dynamics", str(data), "--out", str(damaged), "--floor-only"]) == 0
    after = load_model(damaged)
    assert after.slide_friction == pytest.approx(floor_friction(tracks, ep.dt).friction,
                                                 abs=1e-6)  # fmt: skip
    assert after.params == before.params and after.info == before.info
    old, new = json.loads(model.read_text()), json.loads(damaged.read_text())
    assert old["residual"] == new["residual"] and old["learned_only"] == new["learned_only"]
    assert "floor friction from" in capsys.readouterr().out
    assert main(["train-dynamics", str(data), "--out", str(tmp_path / "none.json"),
                 "--floor-only"]) == 2  # fmt: skip
    assert "no model file to update" in capsys.readouterr().err
    assert main(["train-dynamics", str(data), "--out", str(model)]) == 2  # no --runs
    assert "--runs DIR is required" in capsys.readouterr().err


def test_transitions_from_the_models_own_rollouts(pushed):
    from spatialwm.dynamics.training import collect_transitions

    data, run = pushed
    episode = load_dataset(data).episode
    wm = WorldModel.load(run, mode="prior")
    T = len(episode.steps)
    forced = collect_transitions([(wm, episode)])
    assert len(forced) == T - 1
    own = collect_transitions([(wm, episode)], rollout=3, every=4)
    assert len(own) == sum(min(3, T - 2 - t0) for t0 in range(0, T - 2, 4))
    # the first starts from the model's own prediction of step 1 and learns the true step 2
    from spatialwm.dynamics.prior import apply_actions
    from spatialwm.dynamics.residual import Poses

    assert torch.equal(own[0].truth.p, forced[1].truth.p)
    predicted = wm.step(wm.with_object_states(wm.state, episode.steps[0].objects),
                        episode.steps[0].actions)  # fmt: skip
    after = apply_actions(predicted, wm.canonical_actions(episode.steps[1].actions))
    assert torch.allclose(own[0].after.p, Poses.of(after).p)
    with pytest.raises(InputError, match="rollout"):
        collect_transitions([(wm, episode)], rollout=-1)


def test_example_03_rollout_and_counterfactual(tmp_path, capsys):
    import runpy

    path = Path(__file__).resolve().parents[1] / "examples" / "03_rollout_and_counterfactual.py"
    mod = runpy.run_path(str(path))
    assert mod["main"](["--preset", "debug", "--steps", "4", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "ground truth" in out and "counterfactual" in out
