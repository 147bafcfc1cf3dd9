"""The ``spatialwm`` command line: verbs, help, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from spatialwm.cli import build_parser, main


def test_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in ("demo", "generate", "bench"):
        assert verb in out


def test_demo_writes_a_png(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path), "--views", "2", "--width", "64", "--height", "48",
               "--gaussians", "5000"])  # fmt: skip
    assert rc == 0
    img = np.asarray(Image.open(tmp_path / "demo.png"))
    assert img.shape == (2 * 48, 3 * 64, 3)
    rgb = img[:, :64].reshape(-1, 3)
    assert (rgb != 255).any(axis=1).mean() > 0.2, "the scene should cover part of the image"
    assert "backend 'native'" in capsys.readouterr().out


def test_bad_demo_argument_is_one_line(capsys):
    assert main(["demo", "--views", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spatialwm demo: error:") and "Traceback" not in err


def test_bench_raster_prints_a_table(capsys):
    rc = main(["bench", "raster", "--sizes", "2000", "--resolutions", "64x48", "--threads", "1",
               "--repeats", "1"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "| N | image | threads |" in out and "| 2,000 | 64x48 | 1 |" in out


def test_parser_builds_without_heavy_imports():
    assert build_parser().prog == "spatialwm"


def test_generate_through_the_cli(tmp_path, capsys):
    out = tmp_path / "scene"
    rc = main(["generate", str(out), "--preset", "tabletop", "--views", "2", "--width", "32",
               "--height", "24", "--quiet"])  # fmt: skip
    assert rc == 0 and (out / "transforms.json").is_file()
    assert main(["generate", str(tmp_path / "x"), "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "Traceback" not in err
