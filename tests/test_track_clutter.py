"""RGB-only clutter (spatialwm.track.clutter): what is recorded and what is dropped."""

from __future__ import annotations

import torch

from spatialwm.track.clutter import CLEAR, off_clutter, record_clutter
from spatialwm.track.segments import Segment

H, W = 20, 30


def _seg(camera: int, x0: int, y0: int, x1: int, y1: int) -> Segment:
    m = torch.zeros(H, W, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return Segment(camera, 1, m, int(m.sum()), ((x0 + x1) / 2, (y0 + y1) / 2), (x0, y0, x1, y1))


def test_record_keeps_leftovers_clear_of_every_silhouette():
    sil = torch.zeros(1, 2, H, W, dtype=torch.bool)
    sil[0, 0, 5:10, 5:10] = True  # one object, camera 0
    far = _seg(0, 20, 2, 24, 6)
    touching = _seg(0, 10 + CLEAR - 1, 5, 10 + CLEAR + 2, 8)  # within CLEAR px of it
    other_cam = _seg(1, 6, 6, 9, 9)  # where the object is in camera 0, but in camera 1
    images = torch.rand(2, H, W, 3)
    key, mask, then = record_clutter(b"k", [far, touching, other_cam], sil, images)
    assert key == b"k" and torch.equal(then, images) and then is not images
    assert torch.equal(mask[0], far.mask)
    assert torch.equal(mask[1], other_cam.mask)
    # no objects at all: every leftover is clutter
    _, mask, _ = record_clutter(b"k", [touching], torch.zeros(0, 2, H, W, dtype=torch.bool),
                                images)  # fmt: skip
    assert torch.equal(mask[0], touching.mask)


def test_off_clutter_drops_unchanged_clutter_only():
    images = torch.rand(1, H, W, 3)
    speck = _seg(0, 20, 2, 24, 6)
    clutter = record_clutter(b"k", [speck], torch.zeros(0, 1, H, W, dtype=torch.bool), images)
    big = _seg(0, 18, 0, 26, 10)  # an object over the speck: a region mostly not clutter
    kept = off_clutter([[speck, big, _seg(0, 1, 1, 5, 5)]], images, clutter, 0.12)
    assert [s.box for s in kept[0]] == [big.box, (1, 1, 5, 5)]
    changed = images.clone()
    changed[0, 2:6, 20:24] += 0.5  # something now covers the speck's pixels: not clutter
    assert [s.box for s in off_clutter([[speck]], changed, clutter, 0.12)[0]] == [speck.box]
    half = _seg(0, 22, 2, 26, 6)  # half of its pixels on clutter: kept
    assert len(off_clutter([[half]], images, clutter, 0.12)[0]) == 1
