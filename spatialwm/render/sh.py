"""Real spherical harmonics up to degree 3 (the 3DGS convention), in plain torch."""

from __future__ import annotations

import torch
from torch import Tensor

# Normalisation constants of the real spherical harmonics, degrees 0..3.
_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    """Number of coefficients of an SH expansion of ``degree``: ``(degree + 1) ** 2``."""
    return (degree + 1) ** 2


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """The real SH basis functions evaluated at ``dirs [..., 3]`` (need not be unit length):
    ``[..., (degree + 1) ** 2]``, in the 3DGS coefficient order."""
    if not 0 <= degree <= 3:
        raise ValueError(f"sh_degree must be in 0..3, got {degree}")
    cols = [torch.full_like(dirs[..., 0], _C0)]
    if degree >= 1:
        d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x, y, z = d.unbind(-1)
        cols += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        xy, yz, xz = x * y, y * z, x * z
        cols += [
            _C2[0] * xy,
            _C2[1] * yz,
            _C2[2] * (2 * zz - xx - yy),
            _C2[3] * xz,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        cols += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * xy * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(cols, -1)


def spherical_harmonics(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Evaluate SH colours.

    Computed as one contraction of the basis with the coefficients, so the backward pass is a
    single product too (indexing coefficient by coefficient costs a full-size gradient buffer
    per coefficient).

    Args:
        degree: SH degree, 0..3; only the first ``(degree + 1) ** 2`` coefficients are used.
        dirs: ``[..., 3]`` viewing directions (need not be unit length).
        coeffs: ``[..., K, 3]`` coefficients with ``K >= (degree + 1) ** 2``.

    Returns:
        ``[..., 3]`` colours (before the usual ``+ 0.5`` offset).
    """
    basis = sh_basis(degree, dirs)
    k = basis.shape[-1]
    return (basis.unsqueeze(-2) @ coeffs[..., :k, :]).squeeze(-2)


def rgb_to_sh(rgb: Tensor) -> Tensor:
    """Degree-0 coefficient whose colour (after the ``+ 0.5`` offset) is ``rgb``."""
    return (rgb - 0.5) / _C0


def sh_to_rgb(sh0: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_sh`."""
    return sh0 * _C0 + 0.5


__all__ = ["num_sh_bases", "rgb_to_sh", "sh_basis", "sh_to_rgb", "spherical_harmonics"]
