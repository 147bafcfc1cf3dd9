"""Surprise: a per-step prediction-error signal (violation of expectation).

Per object, from the association of the prediction with what the cameras show:

* seen where predicted: ``min(1, (d / gate)^2)`` with ``d`` the Mahalanobis distance of its
  segment from the predicted position (a small correction is not surprising);
* predicted in view but found in no camera: the fraction of its full silhouette expected to
  be visible given its position uncertainty (the silhouette blurred by the position std in
  pixels, against what the predicted scene puts in front of it): an object that should be in
  plain sight is missing: 1; one that may well have stayed behind the wall: less;
* with instance masks, a segment no object explains (something appeared where nothing was
  predicted): 1.

The step's surprise is the maximum over objects and segments, in [0, 1]. An episode's score is
the maximum over a window of steps; :func:`auc` compares possible and impossible episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from torch import Tensor

from spatialwm.track.associate import Match, Prediction
from spatialwm.track.segments import Segment


def expected_visibility(amodal: Tensor, occluders: Tensor, sigma_px: float) -> float:
    """Expected visible fraction of a full silhouette ``amodal [H, W]`` (bool) whose position
    is uncertain by ``sigma_px`` pixels, behind ``occluders [H, W]`` (bool); what leaves the
    image counts as unseen."""
    a = amodal.numpy().astype(np.float32)
    total = float(a.sum())
    if total == 0:
        return 0.0
    if sigma_px > 0.5:
        a = ndimage.gaussian_filter(a, sigma_px, mode="constant", truncate=3.0)
    return float((a * (~occluders.numpy())).sum()) / total


def step_surprise(
    preds: dict[tuple[int, int], Prediction],
    matches: dict[tuple[int, int], Match],
    unmatched: Sequence[Segment],
    groups: Sequence[int],
    num_cameras: int,
    *,
    gate: float,
    min_pixels: int,
    use_unmatched: bool,
    occluders: dict[tuple[int, int], Tensor] | None = None,
) -> tuple[float, dict[int, float]]:
    """``(step surprise, {group: object surprise})`` (see the module docstring).

    ``occluders[(group, camera)]``: ``[H, W]`` bool pixels where the predicted scene shows
    something else than the object (without it: the predicted visible fraction is used)."""
    per: dict[int, float] = {}
    for g in groups:
        seen = [matches[(g, c)] for c in range(num_cameras) if (g, c) in matches]
        if seen:
            per[g] = max(min(1.0, (m.distance / gate) ** 2) for m in seen)
            continue
        pv = 0.0
        for c in range(num_cameras):
            p = preds.get((g, c))
            if p is None or p.amodal_area < 2 * min_pixels:
                continue
            if occluders is not None and (g, c) in occluders:
                ev = expected_visibility(p.amodal, occluders[(g, c)], p.sigma)
            else:
                ev = p.modal_area / p.amodal_area
            pv = max(pv, min(1.0, ev))
        per[g] = pv
    extra = 0.0
    if use_unmatched and any(s.area >= 3 * min_pixels for s in unmatched):
        extra = 1.0
    return max([extra, *per.values()]), per


def auc(negatives: Sequence[float], positives: Sequence[float]) -> float:
    """Area under the ROC curve: the probability that a positive (impossible) episode scores
    above a negative (possible) one, ties counting half."""
    if not negatives or not positives:
        return float("nan")
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


__all__ = ["auc", "expected_visibility", "step_surprise"]
