"""``spatialwm track`` on a tiny generated occlusion episode, its report, the impossible-event
variants of the generator, and the ``WorldModel.observe`` entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spatialwm.cli import main
from spatialwm.data import load_dataset
from spatialwm.errors import InputError
from spatialwm.generate import GenerateConfig, generate
from spatialwm.recon import preset, reconstruct
from spatialwm.track import TrackState
from spatialwm.world import WorldModel


def _cfg(steps: int = 7, views: int = 8, **kw) -> GenerateConfig:
    return GenerateConfig("occlusion", seed=3, views=views, cameras=2, steps=steps, width=64,
                          height=48, objects=2, pool="cube,domino", amodal=True, points=2000,
                          **kw)  # fmt: skip


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("track")
    data = generate(root / "occ", _cfg()).path
    run = root / "run"
    reconstruct(data, run, preset("debug", steps=40), progress=False, log=lambda *a: None)
    return data, run


def test_track_cli_writes_poses_and_a_report(episode, tmp_path, capsys):
    data, run = episode
    out = tmp_path / "out"
    assert main(["track", str(data), "--run", str(run), "--out", str(out), "--steps", "4"]) == 0
    printed = capsys.readouterr().out
    assert "| ours |" in printed and "| baseline |" in printed and "| smoothed |" in printed
    track = json.loads((out / "track.json").read_text())
    assert [s["step"] for s in track["steps"]] == [0, 1, 2, 3, 4]
    ids = {str(o.id) for o in load_dataset(data).objects}
    for s in track["steps"]:
        assert set(s["poses"]) == ids  # every object, every step
    assert set(track["steps"][1]["visibility"]) == ids
    movable = {str(o.id) for o in load_dataset(data).objects if not o.static}
    for s in track["steps"]:  # the smoothed poses beside the online ones, seen steps unchanged
        assert set(s["smoothed"]) == movable
        for i in set(map(str, s.get("seen", []))) & movable:
            assert s["smoothed"][i] == pytest.approx(s["poses"][i])
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["ours"]["objects kept at the end"] == 2
    smoothed, ours = report["summary"]["smoothed"], report["summary"]["ours"]
    assert smoothed["identity switches"] == ours["identity switches"]
    assert smoothed["n visible"] == ours["n visible"]
    assert len(report["surprise"]) == 5
    assert (out / "report.md").read_text().startswith("| method |")


def test_track_cli_bad_input(episode, tmp_path, capsys):
    data, run = episode
    out = str(tmp_path / "o")
    assert main(["track", str(data), "--run", str(run), "--out", out, "--camera", "cam7"]) == 2
    assert "cam7" in capsys.readouterr().err
    assert main(["track", str(data), "--run", str(tmp_path), "--out", out]) == 2
    assert main(["track", str(tmp_path), "--run", str(run), "--out", out]) == 2


def test_world_model_observe(episode):
    data, run = episode
    wm = WorldModel.load(run)
    ds = load_dataset(data)
    frames = [ds.frame_index(c, 1) for c in ds.episode.cameras]
    images = [ds.image(i) for i in frames]
    ts = wm.observe(wm.state, images, list(ds.episode.cameras), actions=ds.episode.steps[0].actions)
    assert isinstance(ts, TrackState) and ts.step == 1
    assert ts.scene.object_ids.tolist() == wm.state.object_ids.tolist()
    # the floor friction estimate starts at the model's, in the scene state the dynamics reads
    assert ts.friction is not None and torch.equal(ts.scene.friction, ts.friction)
    assert float(ts.friction[1]) == pytest.approx(wm.model.floor_friction)
    assert wm.state.friction is None  # the input state is not changed
    ts2 = wm.observe(ts, images, list(ds.episode.cameras), [ds.mask(i) for i in frames])
    assert ts2.step == 2
    with pytest.raises(InputError, match="unknown camera"):
        wm.observe(ts, images, ["cam0", "nope"])


def test_generate_violations_share_the_possible_episode_until_the_event(tmp_path):
    base = generate(tmp_path / "a", _cfg(14, views=1)).path
    assert "violation" not in (base / "transforms.json").read_text()  # bytes as before
    for kind in ("remove", "teleport"):
        alt = generate(tmp_path / kind, _cfg(14, views=1, violation=kind)).path
        ev = json.loads((alt / "episode.json").read_text())["metadata"]["violation"]
        assert ev["type"] == kind and len(ev["events"]) == 1
        t = ev["events"][0]["step"]
        a, b = load_dataset(base).episode, load_dataset(alt).episode
        assert a.steps[t].objects == b.steps[t].objects  # identical up to the event
        assert a.steps[t + 1].objects[1] != b.steps[t + 1].objects[1]
        assert a.steps[t].actions == b.steps[t].actions  # the event is in no action
        f = "images/view_000_0000.png"
        assert (base / f).read_bytes() == (alt / f).read_bytes()
    with pytest.raises(InputError, match="--violation"):
        _cfg(violation="vanish").resolved()
    with pytest.raises(InputError, match="only the occlusion preset"):
        GenerateConfig("push", violation="remove").resolved()


def test_example_04_object_permanence(tmp_path, capsys):
    import runpy

    path = Path(__file__).resolve().parents[1] / "examples" / "04_object_permanence.py"
    mod = runpy.run_path(str(path))
    assert mod["main"](["--preset", "debug", "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "step  2: mean error" in out and "kept 5 of 5 objects" in out


def test_benchmark_pushes_measures_the_first_steps(episode, capsys):
    # benchmarks/track.py pushes: every ground push of the episode's truth, its first
    # step's friction (the generator's floor is 0.6) and the slides predicted from it
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "track.py"
    spec = importlib.util.spec_from_file_location("bench_track", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data, _ = episode
    assert bench.main(["pushes", str(data)]) == 0
    rows = [r.split("|") for r in capsys.readouterr().out.splitlines() if r.startswith("| occ")]
    assert rows
    for r in rows:
        assert 0.3 < float(r[5]) < 2.5 and float(r[6]) > 0  # friction, true slide (cm)
