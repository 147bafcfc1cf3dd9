"""Association of anonymous segments to the state's objects, by geometry: Mahalanobis gating
of each segment's centre against each object's predicted projection (the predicted position
std projected to pixels), then a Hungarian assignment per camera.

Appearance is not used to decide identity, so two identical objects keep their identities as
long as their predicted positions tell them apart. Partly occluded segments are allowed to sit
off the predicted centre by up to the hidden part of the object's radius.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from spatialwm.scene.render import Camera
from spatialwm.track.segments import Segment
from spatialwm.track.views import project

_BIG = 1e6


@dataclass(frozen=True)
class Prediction:
    """What the predicted state says about object ``group`` in camera ``camera``.

    Attributes:
        centre: ``(x, y)`` pixel position of the object's predicted centre.
        radius: the object's radius in pixels.
        sigma: the position std in pixels.
        amodal: ``[H, W]`` bool full silhouette at the predicted pose.
        amodal_area: its pixel count.
        modal_area: pixels where the object is predicted to be seen (in front).
        colour: the object's mean colour as the camera should see it.
    """

    group: int
    camera: int
    centre: tuple[float, float]
    radius: float
    sigma: float
    amodal: Tensor
    amodal_area: int
    modal_area: int
    colour: tuple[float, float, float] = (0.0, 0.0, 0.0)


def predictions(
    positions: Tensor,
    radii: Tensor,
    sigma: Tensor,
    groups: Sequence[int],
    cams: Sequence[Camera],
    amodal: Tensor,
    modal: Tensor,
    colours: Tensor | None = None,
) -> dict[tuple[int, int], Prediction]:
    """``{(group, camera): Prediction}`` for ``groups`` (objects in front of the cameras).

    Args:
        positions: ``[M, 3]`` predicted world positions; radii: ``[M]`` metres; sigma ``[M]``.
        amodal: ``[G, C, H, W]`` bool full silhouettes (``G = len(groups)``).
        modal: ``[G, C, H, W]`` bool predicted visible pixels.
        colours: ``[G, C, 3]`` mean colour of each of ``groups`` as each camera should see it
            (:func:`~spatialwm.track.views.seen_colours`).
    """
    out = {}
    for c, cam in enumerate(cams):
        uv, z = project(positions[list(groups)], cam)
        f = float(cam.K[0, 0])
        for k, g in enumerate(groups):
            if float(z[k]) <= 0.01:
                continue
            out[(g, c)] = Prediction(
                group=g,
                camera=c,
                centre=(float(uv[k, 0]), float(uv[k, 1])),
                radius=f * float(radii[g]) / float(z[k]),
                sigma=f * float(sigma[g]) / float(z[k]) + 1.0,
                amodal=amodal[k, c],
                amodal_area=int(amodal[k, c].sum()),
                modal_area=int(modal[k, c].sum()),
                colour=tuple(colours[k, c].tolist()) if colours is not None else (0.0, 0.0, 0.0),
            )
    return out


def mahalanobis(p: Prediction, s: Segment) -> float:
    """Distance (in stds) between a segment's centre and the object's predicted centre,
    allowing the segment to be the visible part of a partly hidden object."""
    d = math.hypot(s.centroid[0] - p.centre[0], s.centroid[1] - p.centre[1])
    full = max(p.amodal_area, math.pi * p.radius**2, 1.0)
    hidden_part = max(0.0, 1.0 - s.area / full)
    slack = max(0.0, d - p.radius * hidden_part)
    return slack / p.sigma


def _iou(a: Tensor, b: Tensor) -> float:
    inter = int((a & b).sum())
    union = int((a | b).sum())
    return inter / union if union else 0.0


@dataclass(frozen=True)
class Match:
    group: int
    segment: Segment
    distance: float  # Mahalanobis, in stds


def associate(
    preds: dict[tuple[int, int], Prediction],
    segments: Sequence[Sequence[Segment]],
    groups: Sequence[int],
    gate: float,
    colour_gate: float = math.inf,
) -> tuple[dict[tuple[int, int], Match], list[Segment]]:
    """Hungarian assignment per camera of ``segments`` to ``groups``.

    Cost: squared Mahalanobis distance plus ``2 (1 - IoU)`` of the predicted full silhouette
    with the segment; pairs beyond ``gate`` stds, a segment more than 3x the object's full
    silhouette (another, bigger object), or one whose mean colour is farther than
    ``colour_gate`` (RGB distance) from the colour the camera should see of the object (its
    render at the predicted pose: another-looking object) are forbidden.
    Identity is decided by geometry: identical-looking objects pass the colour gate alike.

    Returns ``({(group, camera): Match}, unmatched segments)``.
    """
    matches: dict[tuple[int, int], Match] = {}
    unmatched: list[Segment] = []
    for c, segs in enumerate(segments):
        gs = [g for g in groups if (g, c) in preds]
        if not segs:
            continue
        if not gs:
            unmatched.extend(segs)
            continue
        cost = np.full((len(gs), len(segs)), _BIG)
        dist = np.zeros_like(cost)
        for i, g in enumerate(gs):
            p = preds[(g, c)]
            for j, s in enumerate(segs):
                d = mahalanobis(p, s)
                dist[i, j] = d
                too_big = s.area > 3.0 * max(p.amodal_area, math.pi * p.radius**2) + 30
                looks = math.dist(s.colour, p.colour) <= colour_gate
                if d <= gate and not too_big and looks:
                    cost[i, j] = d * d + 2.0 * (1.0 - _iou(p.amodal, s.mask))
        rows, cols = linear_sum_assignment(cost)
        used = set()
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] < _BIG:
                matches[(gs[i], c)] = Match(gs[i], segs[j], float(dist[i, j]))
                used.add(j)
        unmatched.extend(s for j, s in enumerate(segs) if j not in used)
    return matches, unmatched


__all__ = ["Match", "Prediction", "associate", "mahalanobis", "predictions"]
