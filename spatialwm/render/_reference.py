"""Slow, dense, obviously-right torch implementation of the rasterizer: the test oracle.

It has the same semantics as the native kernels (and gsplat 1.5.3) but evaluates every
visible Gaussian at every pixel, sorts with ``torch.sort(stable=True)`` and gets every
gradient from autograd, in any float dtype (float64 for gradchecks). Memory is
O(C * H * W * N): use it on small scenes only.

The two functions mirror the native ops (see ``cuda_ext/rasterize.h``) so that the pipeline
in :mod:`spatialwm.render.rasterize` can run on either.
"""

from __future__ import annotations

import torch
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
TRANSMITTANCE_MIN = 1e-4
EXTEND_MAX = 3.33


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """``[N, 4]`` wxyz quaternions (any norm) -> ``[N, 3, 3]`` rotation matrices."""
    w, x, y, z = (quats / quats.norm(dim=-1, keepdim=True)).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*quats.shape[:-1], 3, 3)


def sh_colors(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """SH colours (no offset): ``dirs [C,N,3]``, ``coeffs [N,K,3]`` -> ``[C,N,3]``."""
    from spatialwm.render.sh import spherical_harmonics

    return spherical_harmonics(degree, dirs, coeffs[None].expand(len(dirs), -1, -1, -1))


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    eps2d: float,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """EWA projection. Shapes as the native ``project_fwd``: returns ``radii [C,N,2]`` int32,
    ``means2d [C,N,2]``, ``depths [C,N]``, ``conics [C,N,3]``; culled entries are zero."""
    R = quat_to_rotmat(quats)
    M = R * scales[:, None, :]
    cov = M @ M.transpose(-1, -2)  # [N,3,3]
    Rv, tv = viewmats[:, :3, :3], viewmats[:, :3, 3]
    pc = torch.einsum("cij,nj->cni", Rv, means) + tv[:, None, :]  # [C,N,3]
    cov_c = Rv[:, None] @ cov[None] @ Rv.transpose(-1, -2)[:, None]  # [C,N,3,3]
    x, y, z = pc.unbind(-1)
    in_depth = (z >= near_plane) & (z <= far_plane)
    z = torch.where(in_depth, z, torch.ones_like(z))  # keeps culled entries finite
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    u, v = x / z, y / z
    tx = z * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, u))
    ty = z * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, v))
    zero = torch.zeros_like(z)
    J = torch.stack([fx / z, zero, -fx * tx / z**2, zero, fy / z, -fy * ty / z**2], dim=-1).reshape(
        *z.shape, 2, 3
    )
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    a = cov2d[..., 0, 0] + eps2d
    b = cov2d[..., 0, 1]
    c = cov2d[..., 1, 1] + eps2d
    det = a * c - b * b
    ok_det = det > 0
    det = torch.where(ok_det, det, torch.ones_like(det))
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    means2d = torch.stack([fx * u + cx, fy * v + cy], dim=-1)
    with torch.no_grad():
        op = opacities[None].expand_as(z)
        ok_op = op >= ALPHA_MIN
        extend = torch.sqrt(2.0 * torch.log(op.clamp_min(ALPHA_MIN) / ALPHA_MIN))
        extend = extend.clamp_max(EXTEND_MAX)
        rx = torch.ceil(extend * a.clamp_min(0).sqrt())
        ry = torch.ceil(extend * c.clamp_min(0).sqrt())
        ok_clip = ~((rx <= radius_clip) & (ry <= radius_clip))
        mx, my = means2d[..., 0], means2d[..., 1]
        ok_img = ~((mx + rx <= 0) | (mx - rx >= width) | (my + ry <= 0) | (my - ry >= height))
        valid = in_depth & ok_det & ok_op & ok_clip & ok_img
        radii = torch.stack([rx, ry], dim=-1).to(torch.int32) * valid[..., None]
    keep = valid[..., None]
    return (
        radii,
        torch.where(keep, means2d, torch.zeros_like(means2d)),
        torch.where(valid, z, torch.zeros_like(z)),
        torch.where(keep, conics, torch.zeros_like(conics)),
    )


def rasterize(
    means2d: Tensor,
    conics: Tensor,
    colors: Tensor,
    opacities: Tensor,
    backgrounds: Tensor | None,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    absgrad: bool = False,
) -> tuple[Tensor, Tensor, dict]:
    """Dense alpha compositing: every visible Gaussian at every pixel, front to back.

    Args: ``means2d [C,N,2]``, ``conics [C,N,3]``, ``colors [C,N,D]``, ``opacities [C,N]``,
    ``backgrounds [C,D]`` or None, ``radii [C,N,2]`` (visibility), ``depths [C,N]`` (order).
    Returns ``render_colors [C,H,W,D]``, ``render_alphas [C,H,W,1]`` and an empty dict (the
    native backend returns its binning tensors there, for ``meta``). With ``absgrad`` the
    backward pass stores ``means2d.absgrad`` (sum over pixels of |per-pixel gradient|).
    """
    C, _, D = colors.shape
    dev, dt = means2d.device, means2d.dtype
    ys, xs = torch.meshgrid(
        torch.arange(height, device=dev, dtype=dt) + 0.5,
        torch.arange(width, device=dev, dtype=dt) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)  # [P,2]
    out_c, out_a = [], []
    absgrads = []
    for ci in range(C):
        vis = (radii[ci] > 0).all(dim=-1).nonzero().squeeze(-1)
        order = torch.sort(depths[ci, vis].detach(), stable=True).indices
        idx = vis[order]
        m = means2d[ci, idx].unsqueeze(0).expand(pix.shape[0], -1, -1)  # [P,n,2]
        if absgrad and m.requires_grad:
            absgrads.append((ci, idx, m))
            m.retain_grad()
        d = m - pix[:, None, :]
        A, B, Cc = conics[ci, idx].unbind(-1)
        sigma = 0.5 * (A * d[..., 0] ** 2 + Cc * d[..., 1] ** 2) + B * d[..., 0] * d[..., 1]
        alpha = torch.clamp_max(opacities[ci, idx] * torch.exp(-sigma), ALPHA_MAX)
        valid = (sigma >= 0) & (alpha >= ALPHA_MIN)
        alpha = torch.where(valid, alpha, torch.zeros_like(alpha))
        one_minus = 1 - alpha
        T_after = torch.cumprod(one_minus, dim=1)
        blended = (T_after > TRANSMITTANCE_MIN).detach()
        kept = torch.where(blended, one_minus, torch.ones_like(one_minus))
        T_incl = torch.cumprod(kept, dim=1)
        T_before = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=1)
        w = alpha * T_before * blended
        rgb = w @ colors[ci, idx]  # [P,D]
        T_final = (
            T_incl[:, -1] if T_incl.shape[1] else torch.ones(pix.shape[0], dtype=dt, device=dev)
        )
        if backgrounds is not None:
            rgb = rgb + T_final[:, None] * backgrounds[ci]
        out_c.append(rgb.reshape(height, width, D))
        out_a.append((1 - T_final).reshape(height, width, 1))
    render_colors = torch.stack(out_c)
    render_alphas = torch.stack(out_a)
    if absgrads:
        _attach_absgrad(means2d, absgrads)
    return render_colors, render_alphas, {}


def _attach_absgrad(means2d: Tensor, parts: list) -> None:
    """After backward, set ``means2d.absgrad`` from the per-pixel gradients of ``parts``."""

    def hook(_grad: Tensor) -> None:
        total = torch.zeros_like(means2d)
        for ci, idx, m in parts:
            if m.grad is not None:
                total[ci, idx] = m.grad.abs().sum(0)
        means2d.absgrad = total

    # Runs once the per-pixel gradients exist: means2d's own gradient is accumulated last.
    means2d.register_hook(lambda g: (hook(g), g)[1])


def well_conditioned_pixels(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    *,
    alpha_rtol: float = 2e-4,
    transmittance_rtol: float = 5e-3,
) -> Tensor:
    """``[C, H, W]`` bool: pixels none of whose discrete compositing decisions lies within a
    relative ``alpha_rtol`` of its threshold (alpha vs 1/255 and vs the 0.999 clamp) or within
    ``transmittance_rtol`` (transmittance vs 1e-4, up to the Gaussian that stops the pixel).

    Float32 and float64 runs of the same scene may decide such near-ties differently (a
    Gaussian whose alpha is 1/255 * (1 + 1e-6) is blended in one and skipped in the other);
    oracle tests compare only pixels whose margin exceeds the float32 error.
    """
    C = means2d.shape[0]
    dev, dt = means2d.device, means2d.dtype
    ys, xs = torch.meshgrid(
        torch.arange(height, device=dev, dtype=dt) + 0.5,
        torch.arange(width, device=dev, dtype=dt) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
    out = []
    with torch.no_grad():
        for ci in range(C):
            vis = (radii[ci] > 0).all(dim=-1).nonzero().squeeze(-1)
            idx = vis[torch.sort(depths[ci, vis], stable=True).indices]
            d = means2d[ci, idx][None] - pix[:, None, :]
            A, B, Cc = conics[ci, idx].unbind(-1)
            sigma = 0.5 * (A * d[..., 0] ** 2 + Cc * d[..., 1] ** 2) + B * d[..., 0] * d[..., 1]
            raw = opacities[ci, idx] * torch.exp(-sigma)
            alpha = torch.where((sigma >= 0) & (raw >= ALPHA_MIN), raw.clamp_max(ALPHA_MAX), 0)
            T_after = torch.cumprod(1 - alpha, dim=1)
            reached = (
                torch.cat([torch.ones_like(T_after[:, :1]), T_after[:, :-1]], 1) > TRANSMITTANCE_MIN
            )
            inf = torch.full_like(raw, float("inf"))
            m_lo = torch.where((sigma >= 0) & reached, (raw - ALPHA_MIN).abs() / ALPHA_MIN, inf)
            m_hi = torch.where((sigma >= 0) & reached, (raw - ALPHA_MAX).abs() / ALPHA_MAX, inf)
            m_t = torch.where(
                reached & (alpha > 0), (T_after - TRANSMITTANCE_MIN).abs() / TRANSMITTANCE_MIN, inf
            )
            ok = (m_lo > alpha_rtol) & (m_hi > alpha_rtol) & (m_t > transmittance_rtol)
            out.append(ok.all(dim=1).reshape(height, width))
    return torch.stack(out)
