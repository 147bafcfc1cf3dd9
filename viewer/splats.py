"""A scene state's Gaussians as viser splat buffers, one per group, in the group's own frame.

viser packs covariances as float16 (about 3 significant digits, smallest normal 6e-5). The
scenes here are metre scale with Gaussians of a millimetre or two, whose covariances (1e-6
m^2 and less) would land among float16's subnormals and lose most of their precision. So each
group is sent magnified by a factor ``k`` (centres times ``k``, covariances times ``k^2``,
covariance entries of order 1) and its node is scaled by ``1 / k``: the browser draws the
same Gaussians, while float16 only ever holds well-conditioned numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialwm.render.sh import sh_to_rgb
from spatialwm.scene.state import SceneState, group_slice, quat_to_matrix

#: float16's largest value is 65504; keep the biggest covariance entry far below it.
_F16_MAX_COV = 1.0e4


@dataclass(frozen=True)
class GroupSplats:
    """One group's Gaussians ready for ``scene.add_gaussian_splats`` (``N`` of them).

    Attributes:
        centers: ``[N, 3]`` float32, canonical frame, magnified by ``magnify``.
        covariances: ``[N, 3, 3]`` float32, canonical frame, magnified by ``magnify ** 2``.
        rgbs: ``[N, 3]`` float32 in [0, 1] (SH degree 0).
        opacities: ``[N, 1]`` float32 in [0, 1] (activated).
        magnify: ``k``; the node's ``scale`` is ``1 / k``.
    """

    centers: np.ndarray
    covariances: np.ndarray
    rgbs: np.ndarray
    opacities: np.ndarray
    magnify: float

    def __len__(self) -> int:
        return int(self.centers.shape[0])


def covariances(log_scales: torch.Tensor, quats: torch.Tensor) -> torch.Tensor:
    """``R diag(exp(s))^2 R^T``: ``log_scales [N, 3]``, ``quats [N, 4]`` wxyz -> ``[N, 3, 3]``
    (in the inputs' precision; float32 is far finer than the float16 the browser gets)."""
    rot = quat_to_matrix(quats)
    s = log_scales.exp()
    m = rot * s[:, None, :]
    return m @ m.transpose(1, 2)


def choose_magnify(cov: torch.Tensor) -> float:
    """A magnification ``k`` that puts the median Gaussian's largest variance near 1 while the
    largest covariance entry stays below :data:`_F16_MAX_COV` (a power of two, so scaling by
    it is exact)."""
    if len(cov) == 0:
        return 1.0
    top = cov.diagonal(dim1=1, dim2=2).amax(-1)
    med = float(top.median().clamp_min(1e-30))
    k = 1.0 / np.sqrt(med)
    k = min(k, np.sqrt(_F16_MAX_COV / max(float(top.max()), 1e-30)))
    return float(2.0 ** np.floor(np.log2(max(k, 1e-6))))


def group_splats(state: SceneState, g: int) -> GroupSplats:
    """Group ``g``'s Gaussians in its canonical frame (the frame its pose places; the
    background's is the world): centres, covariances from scales and quaternions, colour from
    the SH DC term (``0.5 + C0 * dc``, clipped to [0, 1]), activated opacity."""
    sl = group_slice(state, g)
    gs = state.gaussians
    cov = covariances(gs.scales[sl], gs.quats[sl])
    k = choose_magnify(cov)
    rgb = sh_to_rgb(gs.sh[sl, 0].float()).clamp(0, 1)
    return GroupSplats(
        centers=(gs.means[sl] * k).float().numpy(),
        covariances=(cov * (k * k)).float().numpy(),
        rgbs=rgb.numpy().astype(np.float32),
        opacities=torch.sigmoid(gs.opacities[sl].float())[:, None].numpy(),
        magnify=k,
    )


def float16_error(splats: GroupSplats) -> float:
    """Largest relative error of the covariances as the browser receives them (float16),
    relative to each Gaussian's largest variance: the check that tiny Gaussians survive."""
    c = splats.covariances.astype(np.float64)
    if len(c) == 0:
        return 0.0
    back = c.astype(np.float16).astype(np.float64)
    top = np.abs(np.diagonal(c, axis1=1, axis2=2)).max(-1)
    return float((np.abs(back - c).max((1, 2)) / np.maximum(top, 1e-30)).max())


__all__ = ["GroupSplats", "choose_magnify", "covariances", "float16_error", "group_splats"]
