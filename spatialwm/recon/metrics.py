"""Image metrics: PSNR, SSIM (the 11x11 Gaussian-window SSIM of Wang et al. 2004, as 3DGS and
nerfstudio report it) and per-object mask IoU."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB of images in [0, 1]; ``pred``, ``target`` ``[..., H, W, 3]`` -> scalar."""
    mse = (pred.clamp(0, 1) - target).square().mean()
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


@functools.cache
def _window_1d(size: int, sigma: float, dtype: torch.dtype) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def _blur(x: Tensor, g: Tensor) -> Tensor:
    """Separable Gaussian filter, valid region: ``x [B, C, H, W]``."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(pred: Tensor, target: Tensor, *, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM (valid region, Gaussian window) of ``[H, W, C]`` or ``[B, H, W, C]`` images in
    [0, 1]; differentiable (the training loss uses ``1 - ssim``). The 2D Gaussian window is
    applied as two 1D passes (same result, a fifth of the work)."""
    if pred.dim() == 3:
        pred, target = pred[None], target[None]
    x = pred.permute(0, 3, 1, 2)
    y = target.permute(0, 3, 1, 2)
    c = x.shape[1]
    g = _window_1d(window, sigma, x.dtype).to(x.device)
    stats = _blur(torch.cat([x, y, x * x, y * y, x * y], 1), g)
    mu_x, mu_y, exx, eyy, exy = stats.split(c, 1)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).mean()


def mask_iou(pred: Tensor, target: Tensor, ids: list[int]) -> dict[int, float]:
    """IoU per object id of integer id maps ``pred``, ``target`` (same shape, any batch),
    summed over all pixels; an id absent from both gets ``nan``."""
    out = {}
    for i in ids:
        p, t = pred == i, target == i
        union = int((p | t).sum())
        out[i] = float((p & t).sum()) / union if union else float("nan")
    return out


__all__ = ["mask_iou", "psnr", "ssim"]
