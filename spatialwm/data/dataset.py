"""``load_dataset``: a nerfstudio-format folder -> cameras in the rasterizer's convention.

Reads ``transforms.json`` (ours or any nerfstudio one, including what ``ns-process-data``
writes), the optional ``episode.json`` beside it and the optional point cloud named by
``ply_file_path``. Cameras come out as OpenCV world-to-camera ``viewmats`` plus ``Ks`` (see
:mod:`spatialwm.data.cameras`); images, masks, depth and amodal masks are read lazily, one
frame at a time, when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spatialwm.data.cameras import opengl_c2w_to_opencv_w2c
from spatialwm.data.episode import Episode, read_episode
from spatialwm.data.io import image_size, read_json, read_png
from spatialwm.data.ply import read_ply_points
from spatialwm.data.transforms import (
    FrameRecord,
    ObjectInfo,
    parse_transforms,
    resolve_file,
)
from spatialwm.errors import DatasetError

__all__ = ["Dataset", "load_dataset"]

_FILE_FIELDS = ("file_path", "mask_path", "depth_file_path", "amodal_mask_path")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset. ``N`` frames; tensors are on the CPU.

    Attributes:
        root: folder holding ``transforms.json``.
        frames: per-frame records as written in the file (paths, OpenGL pose, intrinsics).
        viewmats: ``[N, 4, 4]`` float32, OpenCV world-to-camera (+Z forward, +Y down).
        Ks: ``[N, 3, 3]`` float32 pinhole intrinsics in pixels.
        widths, heights: ``[N]`` int64 image sizes.
        camera_models: per-frame camera model (``PINHOLE``, ``OPENCV``...).
        distortion: ``[N, 6]`` float32 ``k1 k2 k3 k4 p1 p2`` (zeros for pinhole).
        steps: per-frame step index (0 for a static capture).
        cameras: per-frame camera name.
        objects: the ``objects`` list (empty for foreign datasets).
        episode: parsed ``episode.json`` or ``None``.
        points, point_colors: ``[P, 3]`` float32 / uint8 point cloud from ``ply_file_path``
            (world frame of the cameras), or ``None``.
        depth_unit_scale_factor: metres per stored depth unit (0.001: millimetres).
        meta: the raw top-level JSON (for keys this loader does not interpret).
    """

    root: Path
    frames: tuple[FrameRecord, ...]
    viewmats: torch.Tensor
    Ks: torch.Tensor
    widths: torch.Tensor
    heights: torch.Tensor
    camera_models: tuple[str, ...]
    distortion: torch.Tensor
    steps: tuple[int, ...]
    cameras: tuple[str, ...]
    objects: tuple[ObjectInfo, ...] = ()
    episode: Episode | None = None
    points: torch.Tensor | None = None
    point_colors: torch.Tensor | None = None
    depth_unit_scale_factor: float = 1e-3
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    # ----------------------------------------------------------------------- selections
    @property
    def object_ids(self) -> tuple[int, ...]:
        return tuple(o.id for o in self.objects)

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Distinct camera names in order of first appearance."""
        return tuple(dict.fromkeys(self.cameras))

    @property
    def num_steps(self) -> int:
        return max(self.steps) + 1

    def frames_at_step(self, step: int) -> list[int]:
        """Indices of the frames that show state ``step``."""
        return [i for i, s in enumerate(self.steps) if s == step]

    def frames_of_camera(self, camera: str) -> list[int]:
        """Indices of the frames taken by ``camera``, in step order."""
        return sorted(
            (i for i, c in enumerate(self.cameras) if c == camera), key=self.steps.__getitem__
        )

    def frame_index(self, camera: str, step: int) -> int:
        """Index of ``camera``'s frame at ``step``; ``KeyError`` if there is none."""
        for i, (c, s) in enumerate(zip(self.cameras, self.steps, strict=True)):
            if c == camera and s == step:
                return i
        raise KeyError(f"no frame of camera {camera!r} at step {step}")

    @property
    def c2w_opengl(self) -> torch.Tensor:
        """``[N, 4, 4]`` float32 camera-to-world as stored (OpenGL convention)."""
        return torch.from_numpy(np.stack([f.c2w for f in self.frames])).float()

    # ---------------------------------------------------------------------- lazy loading
    def frame_path(self, i: int, key: str) -> Path | None:
        """The file frame ``i`` names in field ``key`` (``file_path``, ``mask_path``,
        ``depth_file_path``, ``amodal_mask_path``), or ``None`` if it has none."""
        rel = getattr(self.frames[i], key)
        return None if rel is None else resolve_file(self.root, rel)


    def _read(self, i: int, key: str) -> np.ndarray | None:
        p = self.frame_path(i, key)
        if p is None:
            return None
        a = read_png(p, field=f"frames[{i}].{key}")
        w, h = int(self.widths[i]), int(self.heights[i])
        if a.shape[:2] != (h, w):
            raise DatasetError(
                f"{p} (frames[{i}].{key}): image is {a.shape[1]}x{a.shape[0]} but the "
                f"intrinsics (w, h) say {w}x{h}"
            )
        return a

    def image_path(self, i: int) -> Path:
        return self.frame_path(i, "file_path")

    def image(self, i: int) -> torch.Tensor:
        """Frame ``i``'s colour image: ``[H, W, 3]`` float32 in [0, 1] (alpha dropped,
        grey expanded to RGB)."""
        a = self._read(i, "file_path")
        if a.ndim == 2:
            grey = (a >> 8).astype(np.uint8) if a.dtype == np.uint16 else a
            a = np.repeat(grey[..., None], 3, axis=2)
        return torch.from_numpy(np.ascontiguousarray(a[..., :3])).float().div_(255.0)

    def mask(self, i: int) -> torch.Tensor | None:
        """Frame ``i``'s ``mask_path`` as ``[H, W]`` int64, or ``None`` if it has none.

        For spatialwm datasets: instance ids, 0 = background, 1..K = ``objects``. For foreign
        nerfstudio datasets the raw values (usually a binary keep-mask)."""
        a = self._read(i, "mask_path")
        if a is None:
            return None
        if a.ndim == 3:
            a = a[..., 0]
        return torch.from_numpy(a.astype(np.int64))

    def depth(self, i: int) -> torch.Tensor | None:
        """Frame ``i``'s depth as ``[H, W]`` float32 metres along the optical axis (z-depth),
        0 = unknown; ``None`` if the frame has no ``depth_file_path``."""
        a = self._read(i, "depth_file_path")
        if a is None:
            return None
        if a.ndim == 3:
            a = a[..., 0]
        return torch.from_numpy(a.astype(np.float32) * np.float32(self.depth_unit_scale_factor))

    def amodal(self, i: int) -> torch.Tensor | None:
        """Frame ``i``'s full per-object silhouettes: ``[M, H, W]`` bool, one plane per entry of
        ``objects`` (in that order), hidden parts included; ``None`` if not written."""
        a = self._read(i, "amodal_mask_path")
        if a is None:
            return None
        a = a.astype(np.int64)
        planes = [((a >> (o.id - 1)) & 1).astype(bool) for o in self.objects]
        h, w = a.shape[:2]
        if not planes:
            return torch.zeros((0, h, w), dtype=torch.bool)
        return torch.from_numpy(np.stack(planes))


def _check_files(parsed: Any, root: Path, transforms_path: Path) -> None:
    """Every referenced file exists and its size matches the frame's intrinsics."""
    for i, fr in enumerate(parsed.frames):
        for key in _FILE_FIELDS:
            rel = getattr(fr, key)
            if rel is None:
                continue
            p = resolve_file(root, rel)
            where = f"{transforms_path}: frames[{i}].{key}"
            if not p.is_file():
                raise DatasetError(f"{where}: file {rel!r} not found")
            w, h = image_size(p, field=f"frames[{i}].{key}")
            if (w, h) != (fr.intrinsics.width, fr.intrinsics.height):
                raise DatasetError(
                    f"{where}: image {rel!r} is {w}x{h} but the intrinsics (w, h) say "
                    f"{fr.intrinsics.width}x{fr.intrinsics.height}"
                )


def load_dataset(
    path: str | os.PathLike,
    *,
    check_files: bool = True,
    load_episode: bool = True,
    load_points: bool = True,
) -> Dataset:
    """Load a nerfstudio-format dataset.

    Args:
        path: a folder holding ``transforms.json``, or the JSON file itself.
        check_files: check now that every referenced image / mask / depth file exists and
            that its size matches the intrinsics (reads headers only).
        load_episode: parse ``episode.json`` beside ``transforms.json`` when present.
        load_points: read the point cloud named by ``ply_file_path`` when present.
    Returns:
        A :class:`Dataset` (cameras as OpenCV ``viewmats`` [N, 4, 4] + ``Ks`` [N, 3, 3]).
    Raises:
        DatasetError: a missing or unreadable file, malformed JSON, a missing or invalid field,
            an image whose size disagrees with the intrinsics, an unknown object id or camera
            in ``episode.json``. The message names the file and the field.
    """
    path = Path(path)
    if path.is_dir():
        tpath = path / "transforms.json"
    elif path.suffix == ".json" or path.exists():
        tpath = path
    else:
        raise DatasetError(f"{path}: no such dataset folder or transforms file")
    if not tpath.exists():
        raise DatasetError(f"{tpath}: file not found (expected a nerfstudio transforms.json)")
    root = tpath.parent
    parsed = parse_transforms(read_json(tpath), tpath)
    if check_files:
        _check_files(parsed, root, tpath)

    frames = parsed.frames
    c2w = np.stack([f.c2w for f in frames])
    viewmats = torch.from_numpy(opengl_c2w_to_opencv_w2c(c2w)).float()
    Ks = torch.from_numpy(np.stack([f.intrinsics.K for f in frames])).float()
    widths = torch.tensor([f.intrinsics.width for f in frames], dtype=torch.int64)
    heights = torch.tensor([f.intrinsics.height for f in frames], dtype=torch.int64)
    distortion = torch.tensor([f.intrinsics.distortion for f in frames], dtype=torch.float32)
    cameras = tuple(f.camera for f in frames)
    steps = tuple(f.step for f in frames)
    seen: dict[tuple[str, int], int] = {}
    for i, key in enumerate(zip(cameras, steps, strict=True)):
        if key in seen:
            raise DatasetError(
                f"{tpath}: frames[{i}]: camera {key[0]!r} already has a frame at step {key[1]} "
                f"(frames[{seen[key]}])"
            )
        seen[key] = i

    episode = None
    epath = root / "episode.json"
    if load_episode and epath.exists():
        episode = read_episode(
            epath,
            object_ids={o.id for o in parsed.objects} if parsed.objects else None,
            camera_names=set(cameras),
        )
        if max(steps) >= len(episode.steps):
            i = steps.index(max(steps))
            raise DatasetError(
                f"{tpath}: frames[{i}].step: step {max(steps)} but {epath.name} has only "
                f"{len(episode.steps)} steps"
            )

    points = colors = None
    if load_points and parsed.ply_file_path is not None:
        xyz, rgb = read_ply_points(resolve_file(root, parsed.ply_file_path))
        points = torch.from_numpy(xyz)
        colors = None if rgb is None else torch.from_numpy(rgb)

    return Dataset(
        root=root,
        frames=frames,
        viewmats=viewmats,
        Ks=Ks,
        widths=widths,
        heights=heights,
        camera_models=tuple(f.intrinsics.camera_model for f in frames),
        distortion=distortion,
        steps=steps,
        cameras=cameras,
        objects=parsed.objects,
        episode=episode,
        points=points,
        point_colors=colors,
        depth_unit_scale_factor=parsed.depth_unit_scale_factor,
        meta=parsed.meta,
    )
