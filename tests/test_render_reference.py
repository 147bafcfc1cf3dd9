"""The oracle itself, checked against gsplat's own pure-torch projection and SH code (which run
on CPU), so that the native kernels and the oracle cannot share a convention mistake."""

from __future__ import annotations

import torch
from conftest import random_cameras, random_gaussians
from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci
from gsplat.cuda._torch_impl import _spherical_harmonics as gsplat_sh

from spatialwm.render import _native, _reference
from spatialwm.render.sh import spherical_harmonics


def test_projection_agrees_with_gsplat_torch_reference():
    means, quats, scales, _, _ = (t.double() for t in random_gaussians(500, seed=21))
    opacities = torch.ones(500, dtype=torch.float64)  # gsplat's torch code uses 3.33 sigma
    viewmats, Ks = random_cameras(3, 64, 40, seed=21, dtype=torch.float64)
    covars, _ = _quat_scale_to_covar_preci(quats, scales, compute_preci=False, triu=False)
    g_radii, g_means2d, g_depths, g_conics, _ = _fully_fused_projection(
        means, covars, viewmats, Ks, 64, 40, eps2d=0.3
    )
    radii, means2d, depths, conics = _reference.project(
        means, quats, scales, opacities, viewmats, Ks, 64, 40, 0.3, 0.01, 1e10, 0.0
    )
    vis = (radii > 0).all(-1)
    assert vis.sum() > 300
    assert torch.equal(radii[vis], g_radii[vis].to(torch.int32))
    torch.testing.assert_close(means2d[vis], g_means2d[vis])
    torch.testing.assert_close(depths[vis], g_depths[vis])
    torch.testing.assert_close(conics[vis], g_conics[vis])


def test_native_projection_matches_reference_forward_and_backward():
    params = random_gaussians(1500, seed=4)
    means, quats, scales, opacities, _ = params
    viewmats, Ks = random_cameras(3, 80, 60, seed=4)
    outs, grads = [], []
    for mod, dt in ((_native, torch.float32), (_reference, torch.float64)):
        leaves = [t.to(dt).clone().requires_grad_(True) for t in (means, quats, scales)]
        radii, m2, d, c = mod.project(
            *leaves, opacities.to(dt), viewmats.to(dt), Ks.to(dt), 80, 60, 0.3, 0.01, 1e10, 0.0
        )
        g = torch.Generator().manual_seed(0)
        loss = sum(
            (t * torch.randn(t.shape, generator=g, dtype=torch.float64).to(dt)).sum()
            for t in (m2, d, c)
        )
        loss.backward()
        outs.append((radii, m2.detach(), d.detach(), c.detach()))
        grads.append([t.grad for t in leaves])
    (r_n, *f_n), (r_r, *f_r) = outs
    assert torch.equal(r_n, r_r)
    for a, b in zip(f_n, f_r, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-4)
    for a, b in zip(*grads, strict=True):
        rel = (a.double() - b).norm() / b.norm()
        assert rel < 1e-4, rel


def test_sh_matches_gsplat_torch_reference():
    g = torch.Generator().manual_seed(5)
    dirs = torch.randn(300, 3, generator=g, dtype=torch.float64)
    coeffs = torch.randn(300, 16, 3, generator=g, dtype=torch.float64)
    for degree in range(4):
        ours = spherical_harmonics(degree, dirs, coeffs)
        theirs = gsplat_sh(degree, dirs, coeffs)
        torch.testing.assert_close(ours, theirs)
