"""Resample distorted frames to the pinhole camera with the same ``K`` (the rasterizer is
pinhole). Brown-Conrady (OPENCV / RADIAL / SIMPLE_RADIAL: ``k1 k2 k3`` radial, ``p1 p2``
tangential) on normalised coordinates, pixel centres at ``+0.5`` as everywhere else."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from spatialwm.errors import DatasetError

PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")
BROWN_MODELS = ("OPENCV", "RADIAL", "SIMPLE_RADIAL")


def distortion_grid(K: Tensor, distortion: Tensor, width: int, height: int) -> Tensor:
    """For each pixel of the undistorted (pinhole ``K``) image, where to sample the distorted
    image: ``[H, W, 2]`` in ``grid_sample`` coordinates (``align_corners=False``).

    Args:
        K: ``[3, 3]`` intrinsics; distortion: ``[6]`` ``k1 k2 k3 k4 p1 p2``.
    """
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    k1, k2, k3, _, p1, p2 = (float(v) for v in distortion)
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float64) + 0.5,
        torch.arange(width, dtype=torch.float64) + 0.5,
        indexing="ij",
    )
    x, y = (u - cx) / fx, (v - cy) / fy
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    gx = 2 * (fx * xd + cx) / width - 1
    gy = 2 * (fy * yd + cy) / height - 1
    return torch.stack([gx, gy], -1).float()


def undistort(
    image: Tensor, grid: Tensor, *, mode: str = "bilinear"
) -> tuple[Tensor, Tensor]:
    """Resample ``image [H, W, C]`` (any dtype) through ``grid`` from :func:`distortion_grid`.

    Returns:
        ``(undistorted [H, W, C] same dtype, valid [H, W] bool)``; ``valid`` is False where
        the source pixel lies outside the distorted image.
    """
    x = image.permute(2, 0, 1)[None].double()
    out = F.grid_sample(x, grid[None].double(), mode=mode, padding_mode="border",
                        align_corners=False)[0].permute(1, 2, 0)  # fmt: skip
    valid = (grid.abs() <= 1).all(-1)
    if not image.dtype.is_floating_point:
        out = out.round()
    return out.to(image.dtype), valid


def check_camera_model(model: str, where: str) -> None:
    """``DatasetError`` for camera models the pipeline cannot undistort."""
    if model not in PINHOLE_MODELS + BROWN_MODELS:
        raise DatasetError(
            f"{where}: camera_model {model!r} is not supported for reconstruction "
            f"(supported: {', '.join(PINHOLE_MODELS + BROWN_MODELS)}); undistort the images "
            "first (e.g. COLMAP image_undistorter) and write a PINHOLE transforms.json"
        )


__all__ = ["check_camera_model", "distortion_grid", "undistort"]
