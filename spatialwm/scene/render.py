"""Render a :class:`~spatialwm.scene.state.SceneState` from any cameras: RGB, expected depth,
alpha and a per-pixel object id map, in one rasterizer call (object one-hots ride along as
extra colour channels)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.render import rasterization, sh_colors
from spatialwm.scene.state import SceneState, world_gaussians


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``viewmat [4, 4]`` OpenCV world-to-camera (+Z forward, +Y down),
    ``K [3, 3]`` intrinsics in pixels, image ``width`` x ``height``, an optional ``name``."""

    viewmat: Tensor
    K: Tensor
    width: int
    height: int
    name: str = ""

    @staticmethod
    def from_dataset(dataset, index: int) -> Camera:
        """Frame ``index``'s camera of a :class:`~spatialwm.data.Dataset`."""
        return Camera(
            viewmat=dataset.viewmats[index],
            K=dataset.Ks[index],
            width=int(dataset.widths[index]),
            height=int(dataset.heights[index]),
            name=dataset.cameras[index],
        )

    def moved(self, c2w_opengl) -> Camera:
        """The same camera at a new pose given as an OpenGL camera-to-world (the ``camera``
        action's ``c2w``)."""
        from spatialwm.data.cameras import opengl_c2w_to_opencv_w2c

        w2c = torch.as_tensor(opengl_c2w_to_opencv_w2c(torch.as_tensor(c2w_opengl).double()))
        return Camera(w2c.to(self.viewmat.dtype), self.K, self.width, self.height, self.name)


@dataclass(frozen=True)
class Rendered:
    """Renders of ``C`` cameras.

    Attributes:
        rgb: ``[C, H, W, 3]`` in [0, 1] (background colour where nothing is).
        depth: ``[C, H, W]`` expected depth in metres (0 where alpha is 0).
        alpha: ``[C, H, W]`` accumulated opacity.
        groups: ``[C, H, W, M]`` per-group weight (plus transmittance in group 0).
        object_ids: ``[C, H, W]`` int64 dataset object id of the strongest group (0 =
            background, including empty pixels).
    """

    rgb: Tensor
    depth: Tensor
    alpha: Tensor
    groups: Tensor
    object_ids: Tensor


def view_colors(sh: Tensor, means: Tensor, campos: Tensor, degree: int) -> Tensor:
    """View-dependent colours: ``sh [N,K,3]``, ``means [N,3]``, ``campos [C,3]`` ->
    ``[C,N,3]`` (SH + 0.5, clamped at 0, as gsplat does; the backend follows the device)."""
    return sh_colors(degree, means[None] - campos[:, None], sh)


def render_state(
    state: SceneState,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,
) -> Rendered:
    """Render ``state`` from ``C`` cameras.

    Args:
        viewmats: ``[C, 4, 4]`` OpenCV world-to-camera; Ks: ``[C, 3, 3]``.
        width, height: image size in pixels.
        sh_degree: SH degree to evaluate (default: all the state has).
    """
    g = world_gaussians(state)
    device = viewmats.device
    g = {k: v.to(device) for k, v in g.items()}
    sh = torch.cat([g["sh0"], g["shN"]], 1)
    degree = state.gaussians.sh_degree if sh_degree is None else sh_degree
    campos = torch.linalg.inv(viewmats)[:, :3, 3]
    colors = view_colors(sh, g["means"], campos, degree)
    m = state.num_groups
    one_hot = torch.nn.functional.one_hot(state.gaussians.group.to(device), m).float()
    c = len(viewmats)
    feats = torch.cat([colors, one_hot[None].expand(c, -1, -1)], -1)
    bg = torch.cat([state.background_color.to(device), torch.eye(m, device=device)[0]])
    out, alpha, _ = rasterization(
        g["means"], g["quats"], g["scales"].exp(), torch.sigmoid(g["opacities"]), feats,
        viewmats, Ks, width, height, backgrounds=bg[None].expand(c, -1).contiguous(),
        render_mode="RGB+ED",
    )  # fmt: skip
    groups = out[..., 3:-1]
    return Rendered(
        rgb=out[..., :3].clamp(0, 1),
        depth=out[..., -1],
        alpha=alpha[..., 0],
        groups=groups,
        object_ids=state.object_ids.to(device)[groups.argmax(-1)],
    )


__all__ = ["Camera", "Rendered", "render_state", "view_colors"]
