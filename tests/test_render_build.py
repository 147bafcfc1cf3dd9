"""Building the native kernels: lazily, cached, with a clear error when a tool is missing."""

from __future__ import annotations

import platform
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


def test_a_stale_build_lock_is_removed(tmp_path):
    # torch waits for ever on the lock of a build that was killed mid-way
    (tmp_path / "lock").touch()
    (tmp_path / "bindings.o").touch()
    now = (tmp_path / "lock").stat().st_mtime
    assert not _build.clear_stale_lock(tmp_path, idle=600, now=now + 60)  # a build under way
    assert (tmp_path / "lock").exists()
    with pytest.warns(UserWarning, match="stale build lock"):
        assert _build.clear_stale_lock(tmp_path, idle=600, now=now + 601)
    assert not (tmp_path / "lock").exists()
    assert not _build.clear_stale_lock(tmp_path, idle=600, now=now + 601)  # no lock
    assert not _build.clear_stale_lock(tmp_path / "missing", idle=600)  # no directory


def test_extension_is_cached():
    assert _build.load_native() is _build.load_native()


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 vector levels")
def test_avx2_build_matches_the_native_build():
    """The kernels' AVX2 code paths (what most users' CPUs run) against this machine's build:
    a second build for x86-64-v3 (about a minute), forward and backward."""
    import torch
    from conftest import random_cameras, random_gaussians

    from spatialwm.render import _native

    avx2 = _build.load_native(arch="x86-64-v3")
    native = _build.load_native()
    assert avx2 is not native
    means, quats, scales, opacities, colors = random_gaussians(1500, 3, seed=13)
    viewmats, Ks = random_cameras(2, 70, 50, seed=13)
    radii, m2, depths, conics = native.project_fwd(
        means, quats, scales, opacities, viewmats, Ks, 70, 50, 0.3, 0.01, 1e10, 0.0
    )
    isect = _native.isect_tiles(m2, radii, depths, 70, 50)
    cols = colors[None].expand(2, -1, -1).contiguous()
    ops = opacities[None].expand(2, -1).contiguous()
    bg = torch.rand(2, 3)
    outs = []
    for ext in (native, avx2):
        rc, ra, rT, last = ext.rasterize_fwd(m2, conics, cols, ops, bg, 70, 50, *isect[:2])
        g = torch.Generator().manual_seed(1)
        vrc, vra = torch.randn(rc.shape, generator=g), torch.randn(ra.shape, generator=g)
        grads = ext.rasterize_bwd(
            m2, conics, cols, ops, bg, 70, 50, *isect, rc, rT, last, vrc, vra, True
        )
        outs.append((rc, ra, *grads))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
