"""Rendering helpers of the observe loop: the whole predicted scene (colour + per-group
weights + the projection of every Gaussian) and each object alone (its full, amodal
silhouette)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.render import rasterization
from spatialwm.scene.render import Camera, view_colors
from spatialwm.scene.state import SceneState, group_slice, world_gaussians


def camera_tensors(cams: Sequence[Camera]) -> tuple[Tensor, Tensor]:
    """``viewmats [C,4,4]``, ``Ks [C,3,3]`` float32."""
    return (
        torch.stack([c.viewmat.float() for c in cams]),
        torch.stack([c.K.float() for c in cams]),
    )


@dataclass(frozen=True)
class SceneView:
    """The predicted scene seen by ``C`` cameras.

    Attributes:
        rgb: ``[C, H, W, 3]``.
        groups: ``[C, H, W, M]`` per-group weight (group 0 also holds the transmittance).
        means2d: ``[C, N, 2]`` projected centres of all Gaussians (pixels).
        radii: ``[C, N, 2]`` screen radii (0 = culled).
        depths: ``[C, N]`` camera depths of the Gaussians.
        colors: ``[C, N, 3]`` view-dependent colours of the Gaussians.
    """

    rgb: Tensor
    groups: Tensor
    means2d: Tensor
    radii: Tensor
    depths: Tensor
    colors: Tensor


@torch.no_grad()
def render_scene(state: SceneState, cams: Sequence[Camera]) -> SceneView:
    """Render ``state`` from ``cams`` (same size) keeping the projection meta."""
    viewmats, Ks = camera_tensors(cams)
    w, h = cams[0].width, cams[0].height
    g = world_gaussians(state)
    sh = torch.cat([g["sh0"], g["shN"]], 1)
    campos = torch.linalg.inv(viewmats)[:, :3, 3]
    colors = view_colors(sh, g["means"], campos, state.gaussians.sh_degree)
    m = state.num_groups
    one_hot = torch.nn.functional.one_hot(state.gaussians.group, m).float()
    c = len(cams)
    feats = torch.cat([colors, one_hot[None].expand(c, -1, -1)], -1)
    bg = torch.cat([state.background_color, torch.eye(m)[0]])
    out, _, meta = rasterization(
        g["means"], g["quats"], g["scales"].exp(), torch.sigmoid(g["opacities"]), feats,
        viewmats, Ks, w, h, backgrounds=bg[None].expand(c, -1).contiguous(),
    )  # fmt: skip
    return SceneView(
        rgb=out[..., :3].clamp(0, 1),
        groups=out[..., 3:],
        means2d=meta["means2d"].detach(),
        radii=meta["radii"].detach(),
        depths=meta["depths"].detach(),
        colors=colors.detach(),
    )


@torch.no_grad()
def render_alone(
    state: SceneState,
    groups: Sequence[int],
    cams: Sequence[Camera],
    *,
    colours: Tensor | None = None,
) -> Tensor:
    """Each group of ``groups`` rendered alone (nothing in front): ``[G, C, H, W]`` alpha; given
    ``colours`` ``[C, N, 3]`` (every Gaussian's view-dependent colour in each camera, as
    :attr:`SceneView.colors`), ``[G, C, H, W, 4]``: the colour premultiplied by alpha, then
    alpha."""
    viewmats, Ks = camera_tensors(cams)
    w, h = cams[0].width, cams[0].height
    g = world_gaussians(state)
    out = torch.zeros(len(groups), len(cams), h, w, 1 if colours is None else 4)
    for k, grp in enumerate(groups):
        sl = group_slice(state, grp)
        if sl.stop <= sl.start:
            continue
        feats = torch.ones(len(cams), sl.stop - sl.start, 1)
        if colours is not None:
            feats = torch.cat([colours[:, sl], feats], -1)
        img, alpha, _ = rasterization(
            g["means"][sl], g["quats"][sl], g["scales"][sl].exp(),
            torch.sigmoid(g["opacities"][sl]), feats, viewmats, Ks, w, h,
        )  # fmt: skip
        out[k] = alpha if colours is None else torch.cat([img[..., :3], alpha], -1)
    return out[..., 0] if colours is None else out


def seen_colours(alone: Tensor) -> tuple[Tensor, Tensor]:
    """``(colour [G, C, 3], coverage [G, C])`` of :func:`render_alone` with colours: each
    group's alpha-weighted mean colour in each view (what a camera should see of the object
    at its pose, lit faces and all) and its summed alpha (pixels)."""
    cover = alone[..., 3].sum((2, 3))
    return alone[..., :3].sum((2, 3)) / cover.clamp_min(1e-6)[..., None], cover


__all__ = ["SceneView", "camera_tensors", "render_alone", "render_scene", "seen_colours"]


@torch.no_grad()
def render_static(state: SceneState, keep: Sequence[int], cams: Sequence[Camera]) -> Tensor:
    """RGB ``[C, H, W, 3]`` of the background plus the groups in ``keep`` only (what the scene
    looks like without its movable objects)."""
    viewmats, Ks = camera_tensors(cams)
    w, h = cams[0].width, cams[0].height
    g = world_gaussians(state)
    rows = torch.zeros(len(state.gaussians), dtype=torch.bool)
    for grp in [0, *keep]:
        rows[group_slice(state, grp)] = True
    sh = torch.cat([g["sh0"], g["shN"]], 1)[rows]
    campos = torch.linalg.inv(viewmats)[:, :3, 3]
    colors = view_colors(sh, g["means"][rows], campos, state.gaussians.sh_degree)
    c = len(cams)
    out, _, _ = rasterization(
        g["means"][rows], g["quats"][rows], g["scales"][rows].exp(),
        torch.sigmoid(g["opacities"][rows]), colors, viewmats, Ks, w, h,
        backgrounds=state.background_color[None].expand(c, -1).contiguous(),
    )  # fmt: skip
    return out.clamp(0, 1)


def project(points: Tensor, cam: Camera) -> tuple[Tensor, Tensor]:
    """World ``points [P, 3]`` -> pixels ``[P, 2]`` and camera depth ``[P]``."""
    v = cam.viewmat.float()
    pc = points.float() @ v[:3, :3].T + v[:3, 3]
    z = pc[:, 2].clamp_min(1e-6)
    K = cam.K.float()
    uv = torch.stack([K[0, 0] * pc[:, 0] / z + K[0, 2], K[1, 1] * pc[:, 1] / z + K[1, 2]], -1)
    return uv, pc[:, 2]


def projection_jacobian(point: Tensor, cam: Camera) -> Tensor:
    """``[2, 3]`` derivative of the pixel position of world ``point [3]`` w.r.t. the point."""
    v = cam.viewmat.float()
    pc = v[:3, :3] @ point.float() + v[:3, 3]
    x, y, z = pc.tolist()
    z = max(z, 1e-6)
    fx, fy = float(cam.K[0, 0]), float(cam.K[1, 1])
    d = torch.tensor([[fx / z, 0.0, -fx * x / z**2], [0.0, fy / z, -fy * y / z**2]])
    return d @ v[:3, :3]


__all__ += ["project", "projection_jacobian", "render_static"]
