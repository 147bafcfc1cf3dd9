"""RGB only: regions of the residual that nothing moving explains ("clutter").

Without instance masks, objects are found as the regions where the image differs from the
render of the static scene (:func:`~spatialwm.track.segments.segments_from_residual`). Where
the reconstruction's background is poor (far ground at the horizon, the edges of what the
capture covered) that residual also has regions no object makes, at every step, unchanged.
Association gives them nothing while every object is found; but an object that goes behind
an occluder is lost for the loop, and the recovery's wide gate (or the coarse shift to a far
sliver) may hand it one: on the second set of occlusion episodes a runner going behind the
wall was put on an 18-pixel speck at the horizon, 72 cm away.

Clutter is recorded at the first step with a set of cameras: the residual regions that the
association left unmatched and that lie clear of every object's predicted full silhouette
(the objects are then where tracking starts; the silhouettes grown by :data:`CLEAR` pixels).
Static objects' silhouettes do not count: what a static object leaves unexplained stays
put. At later steps a region is dropped if most of its pixels are clutter *and* look as they
did then (by less than the residual threshold): an object moving over clutter changes those
pixels, so it is still found.

What this assumes: at the first step the objects are where the state says (tracking starts
from a reconstruction or a previous state). An object already elsewhere then, whose segment
lies clear of every predicted silhouette, is taken for clutter until it moves. Cameras that
change every step record clutter every step and drop nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.functional import max_pool2d

from spatialwm.track.segments import Segment

__all__ = ["CLEAR", "Clutter", "off_clutter", "record_clutter"]

CLEAR = 3  # px: clutter lies at least this far from every predicted silhouette

#: ``(cameras' key, [C, H, W] clutter pixels, [C, H, W, 3] the images they were recorded in)``
Clutter = tuple[bytes, Tensor, Tensor]


def record_clutter(
    key: bytes, leftover: Sequence[Segment], silhouettes: Tensor, images: Tensor
) -> Clutter:
    """The clutter of one step: the pixels of the ``leftover`` segments (those association
    matched to no object) that touch none of ``silhouettes [G, C, H, W]`` (every movable
    object's predicted full silhouette, grown by :data:`CLEAR` pixels).

    Args:
        key: the cameras' key (:func:`~spatialwm.track.loop._camera_key`).
        leftover: unmatched segments of any cameras.
        silhouettes: ``[G, C, H, W]`` bool.
        images: ``[C, H, W, 3]`` the step's images.

    Returns:
        :data:`Clutter`.
    """
    C, H, W = images.shape[:3]
    near = silhouettes.any(0).float()[:, None] if len(silhouettes) else torch.zeros(C, 1, H, W)
    near = max_pool2d(near, 2 * CLEAR + 1, stride=1, padding=CLEAR)[:, 0] > 0
    mask = torch.zeros(C, H, W, dtype=torch.bool)
    for s in leftover:
        if not bool((s.mask & near[s.camera]).any()):
            mask[s.camera] |= s.mask
    return key, mask, images.clone()


def off_clutter(
    segments: Sequence[Sequence[Segment]], images: Tensor, clutter: Clutter, threshold: float
) -> list[list[Segment]]:
    """``segments`` (per camera) less those with over half their pixels on ``clutter``'s
    pixels that ``images [C, H, W, 3]`` show as they were recorded (max channel difference
    at most ``threshold``)."""
    _, mask, then = clutter
    still = mask & ((images - then).abs().amax(-1) <= threshold)
    return [
        [s for s in segs if int((s.mask & still[c]).sum()) * 2 <= s.area]
        for c, segs in enumerate(segments)
    ]
