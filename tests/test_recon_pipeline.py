"""End-to-end reconstruction on tiny data (seconds): outputs, PLY round trip, resume after a
kill (identical to an uninterrupted run), bad input, foreign datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialwm.cli import main
from spatialwm.errors import DatasetError, InputError
from spatialwm.generate import GenerateConfig, generate
from spatialwm.recon import preset, reconstruct, run_finished
from spatialwm.scene.io import load_state
from spatialwm.scene.ply import read_splat_ply
from spatialwm.scene.state import world_gaussians

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "ds"
    generate(out, GenerateConfig(preset="tabletop", views=10, width=64, height=48, objects=2))
    return out


def _quiet(*_a, **_k):
    pass


def test_end_to_end(tiny, tmp_path):
    run = tmp_path / "run"
    cfg = preset("debug", steps=60)
    m = reconstruct(tiny, run, cfg, progress=False, log=_quiet)
    for name in ("config.json", "state.pt", "scene.ply", "metrics.json"):
        assert (run / name).exists(), name
    assert not (run / "checkpoint.pt").exists()  # removed once the outputs are written
    assert run_finished(run) and not run_finished(tmp_path / "none")
    assert m["test_views"] == 2 and m["train_views"] == 8 and m["steps"] == 60
    assert m["psnr"] > 18 and m["ssim"] > 0.5  # a trained scene, not the initial blur
    assert m["mean_object_iou"] > 0.3 and set(m["mask_iou"]) == {"1", "2"}
    assert len(list((run / "eval").glob("*.png"))) == 2
    assert json.loads((run / "metrics.json").read_text())["num_gaussians"] == m["num_gaussians"]

    # the state and the PLYs agree, field by field
    state, meta = load_state(run / "state.pt")
    assert meta["dataset"] == str(tiny.resolve())
    assert state.object_ids.tolist() == [0, 1, 2] and state.object_names[0] == "background"
    world = world_gaussians(state)
    params, extra = read_splat_ply(run / "scene.ply")
    assert len(params["means"]) == len(state.gaussians) == m["num_gaussians"]
    for k in ("means", "quats", "scales", "opacities", "sh0", "shN"):
        assert torch.allclose(params[k], world[k].float(), atol=1e-6), k
    assert np.array_equal(extra["object_id"], state.object_ids[state.gaussians.group].numpy())
    plys = sorted(p.name for p in (run / "objects").glob("*.ply"))
    assert plys[0].startswith("0_background") and len(plys) == 3
    obj, _ = read_splat_ply(next((run / "objects").glob("1_*.ply")))
    s = slice(int(state.offsets[1]), int(state.offsets[2]))
    assert torch.equal(obj["means"], state.gaussians.means[s])  # canonical frame
    assert obj["means"].mean(0).abs().max() < 0.05  # centred on the object


def test_resume_after_kill_matches_uninterrupted(tiny, tmp_path):
    cfg = preset("debug", steps=30)
    straight = reconstruct(tiny, tmp_path / "a", cfg, progress=False, log=_quiet)

    import spatialwm.recon.train as train

    real = train.train_step
    calls = {"n": 0}

    def dying_step(*args, **kwargs):
        if calls["n"] == 17:
            raise KeyboardInterrupt  # the run is killed after its checkpoint at step 17
        calls["n"] += 1
        return real(*args, **kwargs)

    train.train_step = dying_step
    try:
        with pytest.raises(KeyboardInterrupt):
            reconstruct(tiny, tmp_path / "b", cfg, progress=False, log=_quiet)
    finally:
        train.train_step = real
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 17  # debug preset checkpoints every step
    with pytest.raises(InputError, match="--resume"):
        reconstruct(tiny, tmp_path / "b", cfg, progress=False, log=_quiet)
    assert not run_finished(tmp_path / "b")  # killed: its checkpoint is left
    with pytest.raises(DatasetError, match="other settings"):  # refused, before any work
        reconstruct(tiny, tmp_path / "b", preset("debug", steps=31), resume=True,
                    progress=False, log=_quiet)  # fmt: skip
    resumed = reconstruct(tiny, tmp_path / "b", cfg, resume=True, progress=False, log=_quiet)
    assert resumed["steps"] == 30
    a, _ = load_state(tmp_path / "a" / "state.pt")
    b, _ = load_state(tmp_path / "b" / "state.pt")
    assert torch.equal(a.gaussians.means, b.gaussians.means)
    assert torch.equal(a.gaussians.sh, b.gaussians.sh)
    assert resumed["psnr"] == straight["psnr"]
    # a finished run: --resume has nothing to do and returns its metrics
    again = reconstruct(tiny, tmp_path / "b", cfg, resume=True, progress=False, log=_quiet)
    assert again["psnr"] == pytest.approx(resumed["psnr"], abs=1e-5)


def test_bad_input(tiny, tmp_path):
    cfg = preset("debug")
    with pytest.raises(DatasetError, match="no such dataset"):
        reconstruct(tmp_path / "nope", tmp_path / "o1", cfg, progress=False, log=_quiet)
    with pytest.raises(InputError, match="unknown preset"):
        preset("fastest")
    with pytest.raises(InputError, match="sh_degree"):
        preset("debug", sh_degree=5)
    # a mask holding an id that is not one of the dataset's objects: named, before any work
    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    mask = next((bad / "masks").glob("*.png"))
    from spatialwm.data.io import read_png, write_png

    a = read_png(mask)
    a[0, 0] = 9
    write_png(mask, a)
    with pytest.raises(DatasetError, match=rf"{mask.name}.*\[9\]"):
        reconstruct(bad, tmp_path / "o2", cfg, progress=False, log=_quiet)
    assert not (tmp_path / "o2").exists()
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            reconstruct(tiny, tmp_path / "o3", cfg, device="cuda", progress=False, log=_quiet)


def test_cli_on_nerfstudio_fixture(tmp_path, capsys):
    """A foreign dataset: OPENCV distortion, a sparse point cloud, no masks, no depth."""
    run = tmp_path / "ns"
    rc = main(["reconstruct", str(FIXTURES / "ns_colmap"), "--out", str(run),
               "--preset", "debug", "--quiet"])  # fmt: skip
    assert rc == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["mask_iou"] == {} and m["num_gaussians"] > 0
    state, _ = load_state(run / "state.pt")
    assert state.num_groups == 1  # one group: the background
    rc = main(["reconstruct", str(FIXTURES / "ns_colmap"), "--out", str(run), "--preset", "debug"])
    assert rc == 2
    assert "--resume" in capsys.readouterr().err


def test_example_02_runs(tiny, tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "02_reconstruct.py"
    spec = importlib.util.spec_from_file_location("example_02", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    image = tmp_path / "moved.png"
    argv = ["--data", str(tiny), "--preset", "debug", "--out", str(tmp_path / "run")]
    assert mod.main([*argv, "--image", str(image)]) == 0
    from spatialwm.data.io import read_png

    panel = read_png(image)
    assert panel.shape == (48, 128, 3)
    assert (panel[:, :64] != panel[:, 64:]).any()  # moving the object changed the render
    assert "before | after" in capsys.readouterr().out
