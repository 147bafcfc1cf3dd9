"""Native SH colour kernel vs the torch oracle (``spatialwm.render.sh``), forward and backward,
float64, fresh random inputs, outputs poisoned before the kernel runs."""

from __future__ import annotations

import pytest
import torch

from spatialwm.render import sh_colors, spherical_harmonics
from spatialwm.render._native import poisoned_outputs
from spatialwm.render._native import sh_colors as native_sh


def _inputs(C: int, N: int, K: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    scale = 0.1 + torch.rand(C, N, 1, generator=g, dtype=dtype) * 5
    dirs = torch.randn(C, N, 3, generator=g, dtype=dtype) * scale
    coeffs = torch.randn(N, K, 3, generator=g, dtype=dtype)
    return dirs, coeffs


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("C", [1, 3])
def test_native_sh_matches_reference(degree, C):
    K = 16  # more coefficients than the degree uses: the extra ones must be ignored
    dirs, coeffs = _inputs(C, 257, K, seed=10 * degree + C)
    dirs.requires_grad_(True)
    coeffs.requires_grad_(True)
    ref = spherical_harmonics(degree, dirs, coeffs[None].expand(C, -1, -1, -1))
    v = torch.randn_like(ref)
    ref_dirs, ref_coeffs = torch.autograd.grad(ref, (dirs, coeffs), v, allow_unused=True)
    if ref_dirs is None:  # degree 0 does not depend on the direction
        ref_dirs = torch.zeros_like(dirs)
    with poisoned_outputs():
        out = native_sh(degree, dirs, coeffs)
        got_dirs, got_coeffs = torch.autograd.grad(out, (dirs, coeffs), v)
    assert torch.allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got_coeffs, ref_coeffs, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got_dirs, ref_dirs, rtol=1e-9, atol=1e-11)
    nb = (degree + 1) ** 2
    assert (got_coeffs[:, nb:] == 0).all()


def test_native_sh_gradcheck():
    dirs, coeffs = _inputs(2, 7, 16, seed=5)
    dirs.requires_grad_(True)
    coeffs.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d, c: native_sh(3, d, c), (dirs, coeffs))


def test_sh_colors_backends_agree_in_float32():
    dirs, coeffs = _inputs(2, 1000, 16, seed=7, dtype=torch.float32)
    a = sh_colors(3, dirs, coeffs, backend="native")
    b = sh_colors(3, dirs, coeffs, backend="reference")
    assert torch.allclose(a, b, atol=1e-5)
    assert (a >= 0).all()  # +0.5 and clamped, gsplat's convention
