"""The train / held-out split: every 8th view, or the dataset's own lists."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from spatialwm.errors import DatasetError
from spatialwm.recon.views import _split


def _dataset(n: int, **meta) -> SimpleNamespace:
    frames = [SimpleNamespace(file_path=f"images/{i:03d}.png") for i in range(n)]
    return SimpleNamespace(frames=frames, meta=meta, root=Path("/data"))


def test_every_eighth_view_is_held_out():
    train, test = _split(_dataset(20), list(range(20)), 8)
    assert test == [0, 8, 16] and len(train) == 17 and not set(train) & set(test)
    assert _split(_dataset(1), [0], 8) == ([0], [])  # a single view: nothing held out


def test_dataset_lists_win():
    ds = _dataset(6, test_filenames=["images/002.png", "images/005.png"])
    assert _split(ds, list(range(6)), 8) == ([0, 1, 3, 4], [2, 5])
    ds = _dataset(6, train_filenames=["images/000.png"], test_filenames=["images/001.png"])
    assert _split(ds, list(range(6)), 8) == ([0], [1])
    ds = _dataset(2, test_filenames=["images/000.png", "images/001.png"])
    with pytest.raises(DatasetError, match="no training view"):
        _split(ds, [0, 1], 8)
