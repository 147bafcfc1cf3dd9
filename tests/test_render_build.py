"""Building the native kernels: lazily, cached, with a clear error when a tool is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spatialwm.errors import BuildError
from spatialwm.render import _build


def test_importing_spatialwm_compiles_nothing():
    code = (
        "import sys, spatialwm, spatialwm.render, spatialwm.cli\n"
        "assert not any(m.startswith('spatialwm_native') for m in sys.modules)\n"
        "assert 'torch.utils.cpp_extension' not in sys.modules, 'cpp_extension imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(BuildError, match="apt-get install g\\+\\+"):
        _build._check_toolchain()


def test_missing_sources_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(_build, "SOURCE_DIR", tmp_path)
    with pytest.raises(BuildError, match=r"rasterize_cpu\.cpp"):
        _build._check_toolchain()


def test_extension_is_cached():
    assert _build.load_native() is _build.load_native()
