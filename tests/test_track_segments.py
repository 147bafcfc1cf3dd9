"""Detections: a segment's colour is its interior's (edge pixels blend with what is behind)."""

import torch

from spatialwm.track.segments import MIN_INTERIOR, segments_from_masks


def _image_and_mask(h: int, w: int, box: tuple[int, int, int, int]):
    """A red box whose edge pixels are blended half with the blue behind it."""
    x0, y0, x1, y1 = box
    image = torch.zeros(h, w, 3)
    image[..., 2] = 1.0
    mask = torch.zeros(h, w, dtype=torch.int64)
    mask[y0:y1, x0:x1] = 7
    image[y0:y1, x0:x1] = torch.tensor([0.5, 0.0, 0.5])  # edge: blend
    image[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = torch.tensor([1.0, 0.0, 0.0])  # interior
    return image, mask


def test_a_segment_is_coloured_by_its_interior_and_a_sliver_by_all_its_pixels():
    image, mask = _image_and_mask(20, 30, (5, 4, 15, 12))
    (seg,) = segments_from_masks(mask[None], image[None], 6)[0]
    assert seg.area == 80 and seg.label == 7
    assert seg.colour == (1.0, 0.0, 0.0)  # not pulled towards the blue by its edge
    image, mask = _image_and_mask(20, 30, (5, 4, 15, 6))  # 2 pixels tall: no interior
    (seg,) = segments_from_masks(mask[None], image[None], 6)[0]
    assert MIN_INTERIOR > 0 and seg.colour == (0.5, 0.0, 0.5)
