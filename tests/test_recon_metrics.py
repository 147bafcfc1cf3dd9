"""PSNR, SSIM (separable window vs a direct 2D window in float64) and mask IoU."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from spatialwm.recon.metrics import mask_iou, psnr, ssim


def _ssim_direct(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM with the full 11x11 window, written out term by term (the oracle)."""
    x = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    g = g / g.sum()
    c = a.shape[-1]
    w = (g[:, None] * g[None, :]).expand(c, 1, 11, 11)
    a, b = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    mx, my = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    sxx = F.conv2d(a * a, w, groups=c) - mx**2
    syy = F.conv2d(b * b, w, groups=c) - my**2
    sxy = F.conv2d(a * b, w, groups=c) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (
        ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    ).mean()


def test_ssim_matches_direct_window():
    g = torch.Generator().manual_seed(3)
    for h, w, c in [(40, 50, 3), (11, 11, 1), (33, 17, 4)]:
        a = torch.rand(h, w, c, generator=g, dtype=torch.float64)
        b = (a + 0.2 * torch.randn(h, w, c, generator=g, dtype=torch.float64)).clamp(0, 1)
        assert torch.allclose(ssim(a, b), _ssim_direct(a, b), atol=1e-12)


def test_ssim_identity_and_gradient():
    a = torch.rand(13, 15, 3, dtype=torch.float64, requires_grad=True)
    assert math.isclose(float(ssim(a.detach(), a.detach())), 1.0, abs_tol=1e-12)
    b = torch.rand(13, 15, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: ssim(x, b), (a,))


def test_psnr_known_value():
    a = torch.zeros(8, 8, 3)
    b = torch.full((8, 8, 3), 0.1)
    assert math.isclose(float(psnr(a, b)), 20.0, rel_tol=1e-5)  # mse 0.01


def test_mask_iou():
    pred = torch.tensor([[0, 1, 1], [2, 2, 0]])
    gt = torch.tensor([[0, 1, 0], [2, 2, 2]])
    iou = mask_iou(pred, gt, [1, 2, 3])
    assert iou[1] == 0.5 and math.isclose(iou[2], 2 / 3) and math.isnan(iou[3])
