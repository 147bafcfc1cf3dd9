"""Quick looks at a dataset frame: colourised instance masks, image | mask side by side."""

from __future__ import annotations

import os

import numpy as np

from spatialwm.data.io import write_png

__all__ = ["colorize_instances", "frame_preview", "save_frame_preview"]

# A fixed, distinguishable palette; id 0 (background) is black, ids beyond it cycle.
_PALETTE = np.array(
    [
        [0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
        [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60],
        [250, 190, 212], [0, 128, 128], [220, 190, 255], [170, 110, 40], [128, 0, 0],
        [170, 255, 195],
    ],
    dtype=np.uint8,
)  # fmt: skip


def colorize_instances(mask: np.ndarray) -> np.ndarray:
    """``[H, W]`` integer instance ids -> ``[H, W, 3]`` uint8 colours (0 = black)."""
    m = np.asarray(mask).astype(np.int64)
    idx = np.where(m == 0, 0, (m - 1) % (len(_PALETTE) - 1) + 1)
    return _PALETTE[idx]


def frame_preview(dataset, index: int) -> np.ndarray:
    """Frame ``index`` of a loaded :class:`~spatialwm.data.Dataset` as ``[H, 2W, 3]`` uint8:
    the image, then its colourised instance mask (black if the frame has none)."""
    img = (dataset.image(index).numpy() * 255.0 + 0.5).astype(np.uint8)
    mask = dataset.mask(index)
    colours = np.zeros_like(img) if mask is None else colorize_instances(mask.numpy())
    return np.concatenate([img, colours], axis=1)


def save_frame_preview(path_or_dataset, index: int, out: str | os.PathLike) -> None:
    """Write :func:`frame_preview` of a dataset (a loaded one or a folder) to the PNG ``out``."""
    ds = path_or_dataset
    if isinstance(ds, (str, os.PathLike)):
        from spatialwm.data.dataset import load_dataset

        ds = load_dataset(ds)
    write_png(out, frame_preview(ds, index))
