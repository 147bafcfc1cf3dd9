"""Render-and-compare pose refinement: each seen object's pose (translation along the ground +
yaw about world +Z for objects resting on the ground, or a full 6-DoF pose) is optimised
through the differentiable rasterizer.

Only what is needed is rendered: one small square window per (object, camera) pair around the
object's segment and predicted silhouette, resampled to ``render_size`` pixels (principal
point shifted and focal scaled, so the window is a tiny camera of its own), all windows in one
batched rasterizer call. Rendered with gradients: the fitted objects (at most
``max_gaussians`` each) and the other Gaussians in a window that may hide them; the rest of
the predicted scene is rendered once per window and composited behind. Loss per window: L1
photometric error plus ``mask_weight`` times the squared error of the object's rendered
probability against its segment, plus a weak prior pulling the pose towards the prediction
(scaled by the position std). Adam (step sizes from the std), ``iterations`` steps at most,
early stop once the pose stops moving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from spatialwm.render import rasterization
from spatialwm.scene.render import Camera
from spatialwm.scene.state import (
    SceneState,
    group_slice,
    quat_from_rotvec,
    quat_multiply,
    quat_to_matrix,
)
from spatialwm.track.segments import Segment
from spatialwm.track.state import TrackConfig, fitted_rows
from spatialwm.track.views import SceneView, camera_tensors


@dataclass(frozen=True)
class Window:
    """Object ``group`` seen by camera ``camera`` in the square ``x0, y0, size`` (pixels,
    may extend past the image border), with its ``segment`` (or ``None``: photometric only).
    Every window is rendered at the same resolution (``TrackConfig.render_size``)."""

    group: int
    camera: int
    x0: int
    y0: int
    size: int
    segment: Segment | None


def make_window(group: int, camera: int, boxes, pad: int, segment: Segment | None) -> Window:
    """The square around the union of ``boxes`` (``(x0, y0, x1, y1)`` each) plus ``pad``."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[2] for b in boxes)
    y1 = max(b[3] for b in boxes)
    size = math.ceil(max(x1 - x0, y1 - y0) + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Window(group, camera, round(cx - size / 2), round(cy - size / 2), size, segment)


def _crop(img: Tensor, x0: int, y0: int, size: int, res: int) -> tuple[Tensor, Tensor]:
    """``img [H, W, D]`` cropped to the square (zero-padded), resampled to ``res`` pixels:
    ``[res, res, D]`` and its validity ``[res, res]``."""
    h, w = img.shape[:2]
    out = img.new_zeros((size, size, img.shape[2] + 1))
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if xb > xa and yb > ya:
        out[ya - y0 : yb - y0, xa - x0 : xb - x0, :-1] = img[ya:yb, xa:xb]
        out[ya - y0 : yb - y0, xa - x0 : xb - x0, -1] = 1
    if size != res:
        chw = out.permute(2, 0, 1)[None]
        chw = F.interpolate(
            chw, size=(res, res), mode="bilinear", align_corners=False, antialias=size > res
        )
        out = chw[0].permute(1, 2, 0)
    return out[..., :-1], (out[..., -1] > 0.99).float()


@torch.no_grad()
def _render_behind(state, rows, windows, vm, kk, view, res) -> Tensor:
    """``[B, res, res, 3]``: the windows of the predicted scene without the fitted objects."""
    gs = state.gaussians
    idx = rows.nonzero()[:, 0]
    grp = gs.group[idx]
    rot = quat_to_matrix(state.orientations)[grp]
    means = (rot @ gs.means[idx][..., None])[..., 0] + state.positions[grp]
    quats = quat_multiply(state.orientations[grp], gs.quats[idx])
    colors = torch.stack([view.colors[w.camera][idx] for w in windows])
    bg = state.background_color[None].expand(len(windows), -1).contiguous()
    out, _, _ = rasterization(
        means, quats, gs.scales[idx].exp(), torch.sigmoid(gs.opacities[idx]), colors, vm, kk,
        res, res, backgrounds=bg,
    )  # fmt: skip
    return out.clamp(0, 1)


def refine_poses(
    state: SceneState,
    windows: Sequence[Window],
    images: Tensor,
    cams: Sequence[Camera],
    view: SceneView,
    sigma: Tensor,
    config: TrackConfig,
    *,
    use_masks: bool,
    rotation: str = "yaw",
    full: Sequence[int] = (),
) -> tuple[SceneState, dict[int, float]]:
    """Optimise the poses of the objects in ``windows``.

    Args:
        state: the predicted state (the starting poses).
        windows: (object, camera) windows.
        images: ``[C, H, W, 3]`` observations; cams: their cameras.
        view: the predicted render (``means2d``/``radii``/``depths`` select the Gaussians
            near each window that may hide the object; ``colors`` are reused).
        sigma: ``[M]`` position std (m) of the prior term.
        rotation: ``"yaw"``: objects resting on the ground, translation along the ground and
            rotation about world +Z (height kept from the prediction); ``"full"``: 3D
            translation and a rotation vector.
        full: groups fitted with 6 DoF even in ``"yaw"`` mode (well seen objects, which may
            have tipped over).

    Returns:
        ``(state with the refined poses, {group: final loss})``.
    """
    if not windows:
        return state, {}
    groups = sorted({w.group for w in windows})
    gi = {g: k for k, g in enumerate(groups)}
    gs = state.gaussians
    n = len(gs)
    # which Gaussians take part: the fitted objects', and the other objects' Gaussians in a
    # window that are nearer than the fitted object's far side (possible occluders); the rest
    # (the background and everything behind) is composited from ``behind``
    keep = torch.zeros(n, dtype=torch.bool)
    near_any = torch.zeros(n, dtype=torch.bool)
    for w in windows:
        m2, r = view.means2d[w.camera], view.radii[w.camera]
        if r.dim() == 2:
            rx, ry = r[:, 0], r[:, 1]
        else:
            rx = ry = r
        depth = view.depths[w.camera]
        dg = depth[group_slice(state, w.group)]
        far = float(dg.max()) + 0.02
        mid = float(dg.median())
        touch = (
            (rx > 0)
            & (m2[:, 0] + rx >= w.x0)
            & (m2[:, 0] - rx <= w.x0 + w.size)
            & (m2[:, 1] + ry >= w.y0)
            & (m2[:, 1] - ry <= w.y0 + w.size)
        )
        near_any |= touch
        # other objects nearer than its far side; background (ground) nearer than its middle
        keep |= touch & torch.where(gs.group > 0, depth <= far, depth <= mid)
    fit_rows = torch.zeros(n, dtype=torch.bool)
    fit_all = torch.zeros(n, dtype=torch.bool)
    for g in groups:
        sl = group_slice(state, g)
        keep[sl] = False
        fit_all[sl] = True
        fit_rows[fitted_rows(state, g, config.max_gaussians)] = True
    # the fitted objects' Gaussians first, then the fixed ones
    idx = torch.cat([fit_rows.nonzero()[:, 0], (keep & ~fit_rows).nonzero()[:, 0]])
    nm = int(fit_rows.sum())
    grp = gs.group[idx]
    rot = quat_to_matrix(state.orientations)[grp]
    arm = (rot @ gs.means[idx][..., None])[..., 0]  # world offset from the group's origin
    base_pos = state.positions[grp]
    wquats = quat_multiply(state.orientations[grp], gs.quats[idx])
    scales = gs.scales[idx].exp()
    opac = torch.sigmoid(gs.opacities[idx])
    fitted = torch.full((len(idx),), -1, dtype=torch.int64)
    for g in groups:
        fitted[grp == g] = gi[g]
    fk = fitted[:nm]
    arm_m, base_m, wq_m = arm[:nm], base_pos[:nm], wquats[:nm]
    fixed_means, fixed_quats = (base_pos + arm)[nm:], wquats[nm:]

    # per-window cameras, features and targets
    viewmats, Ks = camera_tensors(cams)
    res = config.render_size
    vm, kk, feats, tgt_rgb, tgt_mask, valid = [], [], [], [], [], []
    for w in windows:
        k = res / w.size
        K = Ks[w.camera].clone()
        K[0, 2] -= w.x0
        K[1, 2] -= w.y0
        K[:2] *= k
        vm.append(viewmats[w.camera])
        kk.append(K)
        is_obj = (grp == w.group).float()[:, None]
        feats.append(torch.cat([view.colors[w.camera][idx], is_obj], -1))
        seg = w.segment.mask.float()[..., None] if w.segment is not None else None
        if seg is None:
            seg = torch.zeros(*images.shape[1:3], 1)
        stack = torch.cat([images[w.camera], seg], -1)
        crop, v = _crop(stack, w.x0, w.y0, w.size, res)
        tgt_rgb.append(crop[..., :3])
        tgt_mask.append(crop[..., 3])
        valid.append(v)
    vm, kk = torch.stack(vm), torch.stack(kk)
    feats = torch.stack(feats)
    behind = _render_behind(state, ~fit_all & near_any, windows, vm, kk, view, res)
    tgt_rgb, tgt_mask, valid = torch.stack(tgt_rgb), torch.stack(tgt_mask), torch.stack(valid)
    has_mask = torch.tensor([w.segment is not None for w in windows], dtype=torch.float32)
    mw = config.mask_weight if use_masks else 0.5 * config.mask_weight
    npix = valid.sum((1, 2)).clamp_min(1.0)
    sig = sigma[groups].clamp_min(1e-3)

    trans = torch.zeros(len(groups), 3, requires_grad=True)
    rvec = torch.zeros(len(groups), 3, requires_grad=True)
    dof_t = torch.ones(len(groups), 3)
    dof_r = torch.ones(len(groups), 3)
    if rotation == "yaw":
        for g in groups:
            if g not in full:
                dof_t[gi[g], 2] = 0.0  # along the ground
                dof_r[gi[g], :2] = 0.0  # about +Z
    params = [trans, rvec]
    # step sizes follow each object's uncertainty (Adam moves every parameter by about its
    # step size, so a well-predicted object must not be kicked by a full step)
    lr_t = (0.3 * sig).clamp(0.001, config.lr_translation)[:, None]
    lrs = [lr_t, config.lr_rotation]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    last = None
    still = 0
    it = 0
    losses = torch.zeros(len(groups))
    for _ in range(config.iterations):
        rv = rvec * dof_r
        dq = quat_from_rotvec(rv)  # [G, 4]
        R = quat_to_matrix(dq)
        t3 = trans * dof_t
        moved = (R[fk] @ arm_m[..., None])[..., 0] + base_m + t3[fk]
        means = torch.cat([moved, fixed_means])
        quats = torch.cat([quat_multiply(dq[fk], wq_m), fixed_quats])
        out, alpha, _ = rasterization(means, quats, scales, opac, feats, vm, kk, res, res)
        rgb = out[..., :3] + (1.0 - alpha) * behind
        l1 = ((rgb - tgt_rgb).abs().mean(-1) * valid).sum((1, 2)) / npix
        ml = (((out[..., 3] - tgt_mask) ** 2) * valid).sum((1, 2)) / npix * has_mask
        per_window = l1 + mw * ml
        prior = 1e-3 * ((trans / sig[:, None]) ** 2).sum(-1)
        loss = per_window.sum() + prior.sum()
        grads = torch.autograd.grad(loss, params)
        it += 1
        with torch.no_grad():  # Adam
            for p, gr, (m1, m2), lr in zip(params, grads, moments, lrs, strict=True):
                m1.mul_(0.9).add_(gr, alpha=0.1)
                m2.mul_(0.999).addcmul_(gr, gr, value=0.001)
                step = lr * (m1 / (1 - 0.9**it)) / ((m2 / (1 - 0.999**it)).sqrt() + 1e-12)
                p.sub_(step)
        with torch.no_grad():
            for k, w in enumerate(windows):
                losses[gi[w.group]] = float(per_window[k])
            cur = torch.cat([trans.detach().flatten(), rvec.detach().flatten()])
            if last is not None and float((cur - last).abs().max()) < 2e-4:
                still += 1
                if still >= 3:
                    break
            else:
                still = 0
            last = cur
    with torch.no_grad():
        rv = rvec * dof_r
        dq = quat_from_rotvec(rv.detach())
        pos = state.positions.clone()
        quat = state.orientations.clone()
        for g in groups:
            k = gi[g]
            pos[g] = pos[g] + (trans.detach() * dof_t)[k]
            q = quat_multiply(dq[k], quat[g])
            quat[g] = q / q.norm()
    return state.replace(positions=pos, orientations=quat), {
        g: float(losses[gi[g]]) for g in groups
    }


__all__ = ["Window", "make_window", "refine_poses"]
