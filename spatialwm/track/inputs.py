"""Checks of what ``observe`` is given: images, cameras and optional instance masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from spatialwm.errors import InputError
from spatialwm.scene.render import Camera


def _as_tensor(x, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise InputError(f"observe: {what} must be a tensor or array, got {type(x).__name__}")


def check_observation(
    images,
    cameras: Sequence[Camera] | Mapping[str, Camera],
    masks=None,
    *,
    known_cameras: Mapping[str, Camera] | None = None,
) -> tuple[Tensor, list[Camera], Tensor | None]:
    """Validate one step's observation.

    Args:
        images: ``[C, H, W, 3]`` (or a list of ``[H, W, 3]``) RGB in [0, 1] (uint8 is scaled).
        cameras: ``C`` :class:`Camera` objects, or camera names of ``known_cameras``.
        masks: optional ``[C, H, W]`` integer instance segments (0 = background; ids are
            anonymous labels, not object ids).
        known_cameras: named cameras to resolve names against.

    Returns:
        ``(images [C,H,W,3] float32, cameras, masks [C,H,W] int64 or None)``.
    Raises:
        InputError: with a message naming the problem.
    """
    if isinstance(cameras, Mapping):
        cameras = list(cameras.values())
    if isinstance(cameras, (Camera, str)):
        cameras = [cameras]
    cams: list[Camera] = []
    for j, c in enumerate(cameras):
        if isinstance(c, str):
            if not known_cameras or c not in known_cameras:
                known = sorted(known_cameras or {})
                raise InputError(f"observe: unknown camera {c!r} (known: {known})")
            c = known_cameras[c]
        if not isinstance(c, Camera):
            raise InputError(f"observe: cameras[{j}] is not a Camera but {type(c).__name__}")
        cams.append(c)
    if not cams:
        raise InputError("observe: no camera given")
    if isinstance(images, (list, tuple)):
        images = torch.stack([_as_tensor(i, f"images[{j}]") for j, i in enumerate(images)])
    images = _as_tensor(images, "images")
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[-1] != 3:
        raise InputError(f"observe: images must be [C, H, W, 3], got {list(images.shape)}")
    if images.shape[0] != len(cams):
        raise InputError(f"observe: {images.shape[0]} images for {len(cams)} cameras")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    images = images.float()
    if not torch.isfinite(images).all():
        raise InputError("observe: images contain NaN or infinite values")
    h, w = images.shape[1:3]
    for j, c in enumerate(cams):
        if (c.width, c.height) != (w, h):
            raise InputError(
                f"observe: image {j} is {w}x{h} but camera {c.name or j!r} is {c.width}x{c.height}"
            )
        if not (torch.isfinite(c.viewmat).all() and torch.isfinite(c.K).all()):
            raise InputError(f"observe: camera {c.name or j!r} has non-finite parameters")
    if masks is not None:
        if isinstance(masks, (list, tuple)):
            masks = torch.stack([_as_tensor(m, f"masks[{j}]") for j, m in enumerate(masks)])
        masks = _as_tensor(masks, "masks")
        if masks.dim() == 2:
            masks = masks[None]
        if masks.shape != (len(cams), h, w):
            raise InputError(
                f"observe: masks must be [C, H, W] = {[len(cams), h, w]}, got {list(masks.shape)}"
            )
        if masks.is_floating_point():
            if not torch.isfinite(masks).all() or not torch.equal(masks, masks.round()):
                raise InputError("observe: masks must hold integer instance labels")
        masks = masks.long()
        if (masks < 0).any():
            raise InputError("observe: masks hold negative labels")
    return images, cams, masks


__all__ = ["check_observation"]
