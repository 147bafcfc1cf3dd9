"""Association of segments to objects: the gates (identity among look-alikes is covered by
the loop's tests)."""

import math

import numpy as np
import torch

from spatialwm.track.associate import Prediction, associate
from spatialwm.track.segments import Segment


def _disc(cx: float, cy: float, r: float, h: int = 40, w: int = 60) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def _segment(mask: torch.Tensor, colour) -> Segment:
    ys, xs = np.nonzero(mask.numpy())
    return Segment(0, 7, mask, len(xs), (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5),
                   (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
                   tuple(colour))  # fmt: skip


def _prediction(colour) -> Prediction:
    amodal = _disc(20.0, 20.0, 6.0)
    area = int(amodal.sum())
    return Prediction(1, 0, (20.0, 20.0), 6.0, 3.0, amodal, area, area, tuple(colour))


def test_the_colour_gate_refuses_another_colour_and_geometry_decides_the_rest():
    colour = (0.42, 0.42, 0.42)  # as the camera should see the object
    pred = {(1, 0): _prediction(colour)}
    mask = _disc(21.0, 20.0, 6.0)
    same = _segment(mask, (0.45, 0.40, 0.43))
    matches, unmatched = associate(pred, [[same]], [1], gate=4.0, colour_gate=0.2)
    assert matches[(1, 0)].segment is same and not unmatched
    other = _segment(mask, (0.1, 0.45, 0.1))
    assert math.dist(other.colour, colour) > 0.2
    matches, unmatched = associate(pred, [[other]], [1], gate=4.0, colour_gate=0.2)
    assert not matches and unmatched == [other]
    matches, _ = associate(pred, [[other]], [1], gate=4.0)  # no colour gate
    assert (1, 0) in matches
    far = _segment(_disc(50.0, 20.0, 6.0), colour)  # 30 px off, sigma 3 px: beyond the gate
    matches, unmatched = associate(pred, [[far]], [1], gate=4.0, colour_gate=0.2)
    assert not matches and unmatched == [far]
