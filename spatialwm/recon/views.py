"""The capture a reconstruction fits: the dataset's step-0 frames, split into training and
held-out views, read into memory and checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.data.undistort import check_camera_model, distortion_grid, undistort
from spatialwm.errors import DatasetError


@dataclass(frozen=True)
class View:
    """One posed frame.

    Attributes:
        index: frame index in the dataset.
        name: the frame's ``file_path``.
        viewmat: ``[4, 4]`` OpenCV world-to-camera; K: ``[3, 3]``.
        image: ``[H, W, 3]`` uint8.
        labels: ``[H, W]`` int64 group index (0 = background) or None (no instance masks).
        depth: ``[H, W]`` float32 metres, 0 = unknown, or None.
        valid: ``[H, W]`` bool, pixels that count in the loss (undistortion border,
            nerfstudio keep-masks).
    """

    index: int
    name: str
    viewmat: Tensor
    K: Tensor
    image: Tensor
    labels: Tensor | None
    depth: Tensor | None
    valid: Tensor

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def image_float(self, device: torch.device | str = "cpu") -> Tensor:
        """``[H, W, 3]`` float32 in [0, 1]."""
        return self.image.to(device).float().div_(255.0)


@dataclass(frozen=True)
class Capture:
    """Training and held-out views plus the object table.

    Attributes:
        train, test: the views; ``test`` may be empty (a single-view capture).
        object_ids: ``M`` dataset object ids, ``0`` (background) first; ``[0]`` when the
            dataset has no instance masks.
        object_names: ``M`` names.
        has_masks, has_depth: whether instance masks / depth maps exist for every view.
    """

    train: tuple[View, ...]
    test: tuple[View, ...]
    object_ids: tuple[int, ...]
    object_names: tuple[str, ...]
    has_masks: bool
    has_depth: bool


def _split(dataset, indices: list[int], test_every: int) -> tuple[list[int], list[int]]:
    meta = dataset.meta
    names = {dataset.frames[i].file_path: i for i in indices}
    if meta.get("test_filenames"):
        test = [names[f] for f in meta["test_filenames"] if f in names]
        if meta.get("train_filenames"):
            train = [names[f] for f in meta["train_filenames"] if f in names]
        else:
            train = [i for i in indices if i not in set(test)]
        if not train:
            raise DatasetError(
                f"{dataset.root / 'transforms.json'}: train_filenames / test_filenames leave no "
                "training view among the step-0 frames"
            )
        return train, test
    if len(indices) == 1:
        return indices, []
    test = indices[::test_every]
    return [i for i in indices if i not in set(test)], test


def load_capture(dataset, *, test_every: int = 8) -> Capture:
    """Read the static capture (frames at step 0) of ``dataset`` into memory.

    Masks: for spatialwm datasets (an ``objects`` list) they are instance ids and become group
    indices; for other datasets nerfstudio's meaning applies (0 = ignore this pixel).
    Raises ``DatasetError`` (naming the file and field) on anything unusable.
    """
    where = dataset.root / "transforms.json"
    indices = dataset.frames_at_step(0) if dataset.steps else []
    if not indices:
        raise DatasetError(f"{where}: no frames at step 0 to reconstruct from")
    for i in indices:
        check_camera_model(dataset.camera_models[i], f"{where}: frames[{i}].camera_model")
    train_idx, test_idx = _split(dataset, indices, test_every)

    object_ids = (0, *dataset.object_ids) if dataset.objects else (0,)
    object_names = ("background", *(o.name for o in dataset.objects))
    group_of = torch.zeros(max(object_ids) + 1, dtype=torch.int64)
    for g, oid in enumerate(object_ids):
        group_of[oid] = g

    def read(i: int) -> View:
        image = (dataset.image(i) * 255 + 0.5).to(torch.uint8)
        mask, depth = dataset.mask(i), dataset.depth(i)
        valid = torch.ones(image.shape[:2], dtype=torch.bool)
        labels = None
        if mask is not None:
            if dataset.objects:
                extra = sorted(set(mask.unique().tolist()) - set(object_ids))
                if extra:
                    where = f"{dataset.frame_path(i, 'mask_path')} (frames[{i}].mask_path)"
                    raise DatasetError(
                        f"{where}: instance ids {extra} are not in the dataset's objects "
                        f"{list(object_ids[1:])}"
                    )
                labels = group_of[mask]
            else:
                valid &= mask > 0  # nerfstudio: a keep-mask
        if depth is not None and not torch.isfinite(depth).all():
            raise DatasetError(
                f"{dataset.frame_path(i, 'depth_file_path')} (frames[{i}].depth_file_path): "
                "non-finite depth"
            )
        K = dataset.Ks[i]
        if dataset.camera_models[i] not in ("PINHOLE", "SIMPLE_PINHOLE") and bool(
            dataset.distortion[i].abs().sum() > 0
        ):
            grid = distortion_grid(K, dataset.distortion[i], image.shape[1], image.shape[0])
            image, inside = undistort(image, grid)
            valid = undistort(valid[..., None].to(torch.uint8), grid, mode="nearest")[0][..., 0]
            valid = valid.bool() & inside
            if labels is not None:
                labels = undistort(labels[..., None], grid, mode="nearest")[0][..., 0]
            if depth is not None:
                depth = undistort(depth[..., None], grid, mode="nearest")[0][..., 0]
        return View(
            index=i,
            name=dataset.frames[i].file_path,
            viewmat=dataset.viewmats[i],
            K=K,
            image=image.contiguous(),
            labels=labels,
            depth=depth,
            valid=valid,
        )

    train = tuple(read(i) for i in train_idx)
    test = tuple(read(i) for i in test_idx)
    views = train + test
    return Capture(
        train=train,
        test=test,
        object_ids=tuple(object_ids),
        object_names=tuple(object_names),
        has_masks=bool(dataset.objects) and all(v.labels is not None for v in views),
        has_depth=all(v.depth is not None for v in views),
    )


__all__ = ["Capture", "View", "load_capture"]
