"""``spatialwm generate``: argument parsing, exit codes, output folder handling."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from spatialwm.errors import InputError, SpatialWMError
from spatialwm.generate import cli

ROOT = Path(__file__).resolve().parents[1]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spatialwm")
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    return parser.parse_args(argv)


def _run(argv: list[str]) -> int:
    args = _parse(argv)
    return args.func(args)


def test_generate_command(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["generate", str(out), "--preset", "push", "--seed", "1", "--views", "1"]
    argv += ["--cameras", "1", "--steps", "2", "--width", "32", "--height", "24", "--objects", "3"]
    assert _run(argv) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "transforms.json").exists() and (out / "episode.json").exists()
    assert len(list((out / "images").iterdir())) == 1 + 3

    with pytest.raises(InputError, match="not empty"):
        _run(argv)  # OUT exists: refuse
    assert _run([*argv, "--force", "--quiet"]) == 0  # replace a previous dataset
    assert capsys.readouterr().out == ""


def test_force_never_deletes_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="refusing to replace"):
        _run(["generate", str(tmp_path / "mine"), "--force", "--width", "32", "--height", "24"])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--preset", "tabletop", "--steps", "4"], "static capture"),
        (["--pool", "duck,zebra"], "unknown asset 'zebra'"),
        (["--objects", "40"], "--objects"),
    ],
)
def test_bad_arguments_raise_spatialwm_errors(tmp_path, extra, match):
    with pytest.raises(SpatialWMError, match=match):
        _run(["generate", str(tmp_path / "o"), "--width", "32", "--height", "24", *extra])


def test_help_does_not_import_pybullet():
    code = (
        "import sys, argparse, spatialwm.generate.cli as c;"
        "p = argparse.ArgumentParser(); c.register(p.add_subparsers());"
        "assert 'pybullet' not in sys.modules, 'pybullet imported at module import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_data_package_imports_neither_renderer_nor_generator():
    """Data flows one way: spatialwm.data must not import the renderer or the generator."""
    for path in (ROOT / "spatialwm" / "data").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(("spatialwm.render", "spatialwm.generate", "pybullet")), (
                    f"{path.name} imports {n}"
                )


def test_example_01_runs(capsys):
    import runpy

    mod = runpy.run_path(str(ROOT / "examples" / "01_generate_and_load.py"))
    assert mod["main"](["--preset", "camera"]) == 0
    out = capsys.readouterr().out
    assert "viewmats (" in out and "object 1:" in out
