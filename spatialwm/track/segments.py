"""Detections: anonymous image segments, from instance masks or (RGB only) from the pixels the
static background does not explain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor


@dataclass(frozen=True)
class Segment:
    """One image region that shows one object (which one is for association to decide).

    Attributes:
        camera: index of the view.
        label: the region's label in the input (anonymous; kept only for evaluation).
        mask: ``[H, W]`` bool.
        area: pixel count.
        centroid: ``(x, y)`` pixel centre (pixel centres at +0.5).
        box: ``(x0, y0, x1, y1)`` bounding box, end exclusive.
        colour: mean RGB of its interior (the pixels at least one pixel inside its edge,
            which the camera blends with what lies behind); of all its pixels for a sliver
            with fewer than :data:`MIN_INTERIOR` interior pixels.
    """

    camera: int
    label: int
    mask: Tensor
    area: int
    centroid: tuple[float, float]
    box: tuple[int, int, int, int]
    colour: tuple[float, float, float] = (0.0, 0.0, 0.0)


# a segment's colour is its interior's when it has at least this many interior pixels
MIN_INTERIOR = 4


def _segment(camera: int, label: int, mask: np.ndarray, image: np.ndarray) -> Segment:
    ys, xs = np.nonzero(mask)
    cy, cx = np.nonzero(ndimage.binary_erosion(mask))
    if len(cy) < MIN_INTERIOR:
        cy, cx = ys, xs
    return Segment(
        camera=camera,
        label=int(label),
        mask=torch.from_numpy(mask),
        area=len(xs),
        centroid=(float(xs.mean()) + 0.5, float(ys.mean()) + 0.5),
        box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        colour=tuple(float(v) for v in image[cy, cx].mean(0)),
    )


def segments_from_masks(masks: Tensor, images: Tensor, min_pixels: int) -> list[list[Segment]]:
    """Per camera, one segment per nonzero label of ``masks [C, H, W]`` with at least
    ``min_pixels`` pixels (``images [C, H, W, 3]`` give their colours)."""
    out = []
    imgs = images.numpy()
    for c, m in enumerate(masks.numpy()):
        labels, counts = np.unique(m, return_counts=True)
        out.append(
            [
                _segment(c, lab, m == lab, imgs[c])
                for lab, n in zip(labels, counts, strict=True)
                if lab != 0 and n >= min_pixels
            ]
        )
    return out


def segments_from_residual(
    images: Tensor, background: Tensor, threshold: float, min_pixels: int
) -> list[list[Segment]]:
    """RGB only: connected regions where ``images [C,H,W,3]`` differ from the render of the
    static part of the scene ``background [C,H,W,3]`` by more than ``threshold`` (max over
    channels), after a 3x3 opening; regions under ``min_pixels`` are dropped."""
    diff = (images - background).abs().amax(-1).numpy() > threshold
    imgs = images.numpy()
    out = []
    for c, d in enumerate(diff):
        d = ndimage.binary_opening(d, structure=np.ones((3, 3), bool))
        labels, n = ndimage.label(d)
        segs = []
        for lab in range(1, n + 1):
            m = labels == lab
            if int(m.sum()) >= min_pixels:
                segs.append(_segment(c, lab, m, imgs[c]))
        out.append(segs)
    return out


__all__ = ["MIN_INTERIOR", "Segment", "segments_from_masks", "segments_from_residual"]
