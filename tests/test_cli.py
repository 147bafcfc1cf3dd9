"""The ``spatialwm`` command line: verbs, help, and one-line errors."""

from __future__ import annotations

import pytest

from spatialwm.cli import build_parser, main


def test_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in ("demo", "generate", "reconstruct", "bench"):
        assert verb in out


def test_demo_reconstructs_and_reuses(tmp_path, capsys):
    data = tmp_path / "capture"
    assert main(["generate", str(data), "--views", "6", "--width", "48", "--height", "36",
                 "--objects", "2", "--quiet"]) == 0  # fmt: skip
    argv = ["demo", "--out", str(tmp_path / "demo"), "--data", str(data), "--preset", "debug",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out PSNR" in out and "scene.ply" in out
    assert (tmp_path / "demo" / "run" / "metrics.json").exists()
    assert main(argv) == 0  # a finished demo run is reused, not redone
    assert "reusing the finished demo run" in capsys.readouterr().out


def test_bad_demo_argument_is_one_line(capsys, tmp_path):
    assert main(["demo", "--data", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spatialwm demo: error:") and "Traceback" not in err
    assert main(["demo", "--preset", "nope", "--out", str(tmp_path)]) == 2


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
