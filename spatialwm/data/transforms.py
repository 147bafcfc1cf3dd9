"""``transforms.json`` (nerfstudio format) parsing and writing, with spatialwm's extensions.

nerfstudio keys (what ``ns-train`` reads):

* intrinsics ``camera_model fl_x fl_y cx cy w h`` and optional distortion ``k1 k2 k3 k4 p1
  p2``, at the top level (shared) or in each frame (a frame's value wins);
* ``frames[]`` with ``file_path``, ``transform_matrix`` (4x4 camera-to-world, OpenGL
  convention: +X right, +Y up, looking along -Z; world +Z up, metres), optional
  ``mask_path`` and ``depth_file_path`` (16-bit PNG, millimetres, 0 = unknown);
* optional ``ply_file_path`` (a point cloud in the same world frame), ``applied_transform``.

spatialwm extensions (extra keys nerfstudio ignores):

* per frame ``step`` (int, index into ``episode.json``'s steps; default 0), ``camera``
  (str, the camera's name; default: ``file_path`` without its extension) and ``amodal_mask_path``
  (16-bit PNG: bit ``id - 1`` is set where object ``id``'s full silhouette covers the pixel,
  hidden parts included);
* top level ``objects``: ``[{"id": 1, "name": "duck", "asset": "duck_vhacd.urdf",
  "scale": 1.0}, ...]`` (ids 1..K match the values of ``mask_path``; optional ``"static":
  true`` for objects that never move), ``depth_unit_scale_factor`` (metres per depth unit,
  default 0.001) and ``spatialwm`` (generator metadata).

In our masks (``mask_path``) each pixel holds an instance id: 0 = background, 1..K =
objects (8-bit or 16-bit PNG). Note that nerfstudio itself reads ``mask_path`` as a binary
keep-mask (0 = ignore the pixel), so ``ns-train`` on our folders trains on objects only.

This module is numpy-only; :mod:`spatialwm.data.dataset` builds the torch-facing loader on it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spatialwm.data.io import image_size, write_json
from spatialwm.errors import DatasetError

__all__ = [
    "CAMERA_MODELS",
    "DISTORTION_KEYS",
    "FrameRecord",
    "Intrinsics",
    "ObjectInfo",
    "ParsedTransforms",
    "parse_transforms",
    "resolve_file",
    "transforms_to_json",
    "write_transforms",
]

#: Camera models the loader accepts (perspective models of nerfstudio / COLMAP).
CAMERA_MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "OPENCV_FISHEYE")
#: Order of the distortion vector (nerfstudio's ``get_distortion_params`` order).
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
_INTRINSIC_KEYS = ("camera_model", "fl_x", "fl_y", "cx", "cy", "w", "h", *DISTORTION_KEYS)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels plus the camera model's distortion parameters."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    camera_model: str = "PINHOLE"
    distortion: tuple[float, ...] = (0.0,) * 6  # k1 k2 k3 k4 p1 p2

    @property
    def K(self) -> np.ndarray:
        """``[3, 3]`` float64 intrinsics matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "camera_model": self.camera_model,
            "fl_x": self.fx,
            "fl_y": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "w": self.width,
            "h": self.height,
        }
        for k, v in zip(DISTORTION_KEYS, self.distortion, strict=True):
            if v != 0.0:
                out[k] = v
        return out


@dataclass(frozen=True)
class ObjectInfo:
    """An entry of the top-level ``objects`` list."""

    id: int
    name: str
    asset: str = ""
    scale: float = 1.0
    static: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "asset": self.asset,
            "scale": self.scale,
        }
        if self.static:
            out["static"] = True
        out.update(self.extra)
        return out


@dataclass(frozen=True, eq=False)
class FrameRecord:
    """One frame: paths as written in the file (relative to its folder), pose, intrinsics."""

    file_path: str
    c2w: np.ndarray  # [4, 4] float64, OpenGL camera-to-world
    intrinsics: Intrinsics
    step: int = 0
    camera: str = ""
    mask_path: str | None = None
    depth_file_path: str | None = None
    amodal_mask_path: str | None = None

    def to_json(self, *, with_intrinsics: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"file_path": self.file_path}
        if self.mask_path is not None:
            out["mask_path"] = self.mask_path
        if self.depth_file_path is not None:
            out["depth_file_path"] = self.depth_file_path
        if self.amodal_mask_path is not None:
            out["amodal_mask_path"] = self.amodal_mask_path
        out["transform_matrix"] = np.asarray(self.c2w, dtype=np.float64).tolist()
        if with_intrinsics:
            out.update(self.intrinsics.to_json())
        out["step"] = self.step
        out["camera"] = self.camera
        return out


def transforms_to_json(
    frames: Sequence[FrameRecord],
    objects: Sequence[ObjectInfo] = (),
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``transforms.json`` dict. Intrinsics shared by every frame go to the top
    level, otherwise into each frame. ``extra`` keys (e.g. ``ply_file_path``) are added at the
    top level before ``objects`` and ``frames``."""
    shared = len({f.intrinsics for f in frames}) == 1
    out: dict[str, Any] = {}
    if shared:
        out.update(frames[0].intrinsics.to_json())
    out.update(extra or {})
    out["objects"] = [o.to_json() for o in objects]
    out["frames"] = [f.to_json(with_intrinsics=not shared) for f in frames]
    return out


def write_transforms(
    path: str | os.PathLike,
    frames: Sequence[FrameRecord],
    objects: Sequence[ObjectInfo] = (),
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Atomically write ``transforms.json`` (see :func:`transforms_to_json`)."""
    write_json(path, transforms_to_json(frames, objects, extra=extra), precision=6)


# ------------------------------------------------------------------------------------ parsing


class _Fields:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> DatasetError:
        return DatasetError(f"{self.path}: {where}: {msg}")

    def number(self, value: Any, where: str, *, positive: bool = False) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(where, f"expected a positive number, got {value!r}")
        return float(value)

    def size(self, value: Any, where: str) -> int:
        v = self.number(value, where, positive=True)
        if v != int(v):
            raise self.fail(where, f"expected an integer number of pixels, got {value!r}")
        return int(v)

    def path_str(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a file path, got {value!r}")
        return value


def _parse_objects(raw: Any, f: _Fields) -> tuple[ObjectInfo, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise f.fail("objects", "expected a list")
    out = []
    seen: set[int] = set()
    for i, o in enumerate(raw):
        where = f"objects[{i}]"
        if not isinstance(o, dict):
            raise f.fail(where, "expected an object")
        oid = o.get("id")
        if isinstance(oid, bool) or not isinstance(oid, int) or oid < 1:
            raise f.fail(f"{where}.id", f"expected an integer >= 1, got {oid!r}")
        if oid in seen:
            raise f.fail(f"{where}.id", f"duplicate object id {oid}")
        seen.add(oid)
        name = o.get("name", f"object_{oid}")
        if not isinstance(name, str):
            raise f.fail(f"{where}.name", f"expected a string, got {name!r}")
        asset = o.get("asset", "")
        if not isinstance(asset, str):
            raise f.fail(f"{where}.asset", f"expected a string, got {asset!r}")
        scale = f.number(o.get("scale", 1.0), f"{where}.scale", positive=True)
        static = o.get("static", False)
        if not isinstance(static, bool):
            raise f.fail(f"{where}.static", f"expected true or false, got {static!r}")
        extra = {k: v for k, v in o.items() if k not in ("id", "name", "asset", "scale", "static")}
        out.append(ObjectInfo(oid, name, asset, scale, static, extra))
    return tuple(out)


def _parse_matrix(value: Any, f: _Fields, where: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise f.fail(where, "expected a 4x4 (or 3x4) matrix of numbers") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise f.fail(where, f"expected a 4x4 matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise f.fail(where, "non-finite values")
    if abs(np.linalg.det(m[:3, :3])) < 1e-12:
        raise f.fail(where, "rotation part is singular")
    return m


def _parse_intrinsics(
    frame: Mapping[str, Any], top: Mapping[str, Any], f: _Fields, where: str, image_wh: Any
) -> Intrinsics:
    def get(key: str) -> tuple[Any, str] | None:
        if key in frame:
            return frame[key], f"{where}.{key}"
        if key in top:
            return top[key], key
        return None

    model_v = get("camera_model")
    model = "PINHOLE" if model_v is None else model_v[0]
    if model not in CAMERA_MODELS:
        raise f.fail(
            model_v[1] if model_v else "camera_model",
            f"unsupported camera model {model!r} (supported: {', '.join(CAMERA_MODELS)})",
        )
    wv, hv = get("w"), get("h")
    if wv is None or hv is None:
        w, h = image_wh()  # neither file nor frame gives the size: read it from the image
    else:
        w, h = f.size(*wv), f.size(*hv)
    fxv = get("fl_x")
    if fxv is not None:
        fx = f.number(*fxv, positive=True)
    elif get("camera_angle_x") is not None:  # Blender / instant-ngp style
        ang = f.number(*get("camera_angle_x"), positive=True)
        fx = 0.5 * w / math.tan(0.5 * ang)
    else:
        raise f.fail(f"{where}.fl_x", "missing focal length (fl_x)")
    fyv = get("fl_y")
    fy = f.number(*fyv, positive=True) if fyv is not None else fx
    cxv, cyv = get("cx"), get("cy")
    cx = f.number(*cxv) if cxv is not None else w / 2.0
    cy = f.number(*cyv) if cyv is not None else h / 2.0
    dist = []
    for k in DISTORTION_KEYS:
        v = get(k)
        dist.append(0.0 if v is None else f.number(*v))
    return Intrinsics(w, h, fx, fy, cx, cy, model, tuple(dist))


@dataclass(frozen=True, eq=False)
class ParsedTransforms:
    """What :func:`parse_transforms` returns (numpy-only)."""

    path: Path
    frames: tuple[FrameRecord, ...]
    objects: tuple[ObjectInfo, ...]
    ply_file_path: str | None
    depth_unit_scale_factor: float
    meta: Mapping[str, Any]


def parse_transforms(meta: Any, path: str | os.PathLike) -> ParsedTransforms:
    """Validate a loaded ``transforms.json`` dict; ``path`` is used for messages and to read
    image sizes when the file gives none. Raises ``DatasetError`` naming the field."""
    path = Path(path)
    root = path.parent
    f = _Fields(path)
    if not isinstance(meta, dict):
        raise f.fail("top level", "expected a JSON object")
    raw_frames = meta.get("frames")
    if not isinstance(raw_frames, list):
        raise f.fail("frames", "missing or not a list")
    if not raw_frames:
        raise f.fail("frames", "the list is empty")
    objects = _parse_objects(meta.get("objects"), f)
    frames = []
    for i, fr in enumerate(raw_frames):
        where = f"frames[{i}]"
        if not isinstance(fr, dict):
            raise f.fail(where, "expected an object")
        if "file_path" not in fr:
            raise f.fail(f"{where}.file_path", "missing")
        file_path = f.path_str(fr["file_path"], f"{where}.file_path")
        if "transform_matrix" not in fr:
            raise f.fail(f"{where}.transform_matrix", "missing")
        c2w = _parse_matrix(fr["transform_matrix"], f, f"{where}.transform_matrix")

        def wh(fp: str = file_path, w: str = where) -> tuple[int, int]:
            return image_size(resolve_file(root, fp), field=f"{path.name}: {w}.file_path")

        intr = _parse_intrinsics(fr, meta, f, where, wh)
        step = fr.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise f.fail(f"{where}.step", f"expected an integer >= 0, got {step!r}")
        camera = fr.get("camera", Path(file_path).with_suffix("").as_posix())
        if not isinstance(camera, str) or not camera:
            raise f.fail(f"{where}.camera", f"expected a non-empty name, got {camera!r}")
        opt = {}
        for key in ("mask_path", "depth_file_path", "amodal_mask_path"):
            opt[key] = f.path_str(fr[key], f"{where}.{key}") if key in fr else None
        frames.append(FrameRecord(file_path, c2w, intr, step, camera, **opt))
    ply = meta.get("ply_file_path")
    if ply is not None:
        ply = f.path_str(ply, "ply_file_path")
    scale = f.number(
        meta.get("depth_unit_scale_factor", 1e-3), "depth_unit_scale_factor", positive=True
    )
    return ParsedTransforms(path, tuple(frames), objects, ply, scale, meta)


def resolve_file(root: Path, p: str) -> Path:
    """A file path of ``transforms.json`` -> an existing path (adds ``.png`` to extension-less
    names as Blender-style files do, when only that exists)."""
    q = Path(p)
    q = q if q.is_absolute() else root / q
    if not q.exists() and not q.suffix and q.with_suffix(".png").exists():
        return q.with_suffix(".png")
    return q
