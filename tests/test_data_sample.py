"""The bundled sample data in ``data/``: it loads, is small, and its README commands rebuild it."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from spatialwm.data import PushAction, load_dataset
from spatialwm.data.io import read_png

DATA = Path(__file__).resolve().parents[1] / "data"


def _commands() -> list[list[str]]:
    """The ``spatialwm generate ...`` lines of data/README.md, as argument lists."""
    lines = (DATA / "README.md").read_text().splitlines()
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith("spatialwm generate data/")]


def test_sample_data_loads_and_is_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 5e6
    tab = load_dataset(DATA / "tabletop")
    assert len(tab) == 32 and tab.num_steps == 1 and tab.points is not None
    assert tab.widths.unique().tolist() == [256] and tab.heights.unique().tolist() == [192]
    assert tab.mask(5).max() == len(tab.objects)
    push = load_dataset(DATA / "push")
    assert push.num_steps == 25 and push.episode.cameras == ("cam0", "cam1")
    assert len(push.frames_of_camera("cam0")) == 25 and push.amodal(0) is not None
    assert any(isinstance(a, PushAction) for s in push.episode.steps for a in s.actions)
    for ds in (tab, push):
        for o in ds.objects:  # held-out assets never appear in bundled data
            assert not any(f"random_urdfs/{i}/" in o.asset for i in range(900, 1000))
    assert len(_commands()) == 2


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1])
def test_readme_commands_reproduce_sample_data(tmp_path, index):
    from spatialwm.generate import cli

    argv = _commands()[index]
    name = Path(argv[1]).name
    argv[1] = str(tmp_path / name)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    ours, theirs = tmp_path / name, DATA / name
    files = sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
    for rel in files:
        a, b = theirs / rel, ours / rel
        if rel.suffix == ".png":  # compare pixels: PNG bytes may differ across zlib builds
            np.testing.assert_array_equal(read_png(a), read_png(b), err_msg=str(rel))
        elif rel.suffix == ".json":
            assert json.loads(a.read_text()) == json.loads(b.read_text()), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
