"""Point-cloud PLY files (``ply_file_path`` of ``transforms.json``, e.g. ``sparse_pc.ply``).

Reads the ``vertex`` element of ASCII and binary PLY files (what ``ns-process-data`` and
open3d write): ``x y z`` and, when present, ``red green blue`` colours. Writes binary
little-endian ``x y z`` float32 + ``red green blue`` uint8.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spatialwm.data.io import atomic_write_bytes
from spatialwm.errors import DatasetError

__all__ = ["read_ply_points", "write_ply_points"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def _parse_header(path: Path, data: bytes) -> tuple[str, list[tuple[str, int, list]], int]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise DatasetError(f"{path}: not a PLY file (no 'ply' magic or 'end_header')")
    nl = data.find(b"\n", end)
    body_start = len(data) if nl < 0 else nl + 1
    lines = data[:end].decode("ascii", errors="replace").splitlines()[1:]
    fmt = None
    elements: list[tuple[str, int, list]] = []  # (name, count, [(prop, dtype | None)])
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            try:
                elements.append((words[1], int(words[2]), []))
            except ValueError:
                raise DatasetError(f"{path}: bad PLY header line {line!r}") from None
        elif words[0] == "property" and elements:
            if words[1] == "list":
                elements[-1][2].append((words[-1], None))
            elif len(words) == 3 and words[1] in _TYPES:
                elements[-1][2].append((words[2], _TYPES[words[1]]))
            else:
                raise DatasetError(f"{path}: bad PLY header line {line!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DatasetError(f"{path}: unsupported PLY format {fmt!r}")
    return fmt, elements, body_start


def read_ply_points(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a point cloud.

    Returns:
        ``(xyz [P, 3] float32, rgb [P, 3] uint8 or None)``. Float colours in [0, 1] are
        scaled to 0..255.
    Raises:
        DatasetError: missing file, not a PLY, no ``vertex`` element with ``x y z``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc})") from None
    fmt, elements, start = _parse_header(path, data)
    if not elements or elements[0][0] != "vertex":
        raise DatasetError(f"{path}: the first PLY element must be 'vertex'")
    _, count, props = elements[0]
    names = [p for p, _ in props]
    if not {"x", "y", "z"} <= set(names):
        raise DatasetError(f"{path}: vertex element lacks x, y, z properties")
    if any(t is None for _, t in props):
        raise DatasetError(f"{path}: list properties in the vertex element are not supported")
    try:
        if fmt == "ascii":
            text = data[start:].decode("ascii").split("\n")
            rows = [r for r in text if r.strip()][:count]
            table = np.array([r.split()[: len(props)] for r in rows], dtype=np.float64)
            if table.shape != (count, len(props)):
                raise ValueError(f"expected {count} rows of {len(props)} values")
            cols = {n: table[:, i] for i, n in enumerate(names)}
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            dtype = np.dtype([(n, order + t) for n, t in props])
            if len(data) - start < dtype.itemsize * count:
                raise ValueError("file is shorter than its header says")
            rec = np.frombuffer(data, dtype=dtype, count=count, offset=start)
            cols = {n: rec[n].astype(np.float64) for n in names}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: malformed PLY vertex data ({exc})") from None
    xyz = np.stack([cols["x"], cols["y"], cols["z"]], axis=1).astype(np.float32)
    if not np.isfinite(xyz).all():
        raise DatasetError(f"{path}: non-finite vertex coordinates")
    rgb = None
    if {"red", "green", "blue"} <= set(names):
        c = np.stack([cols["red"], cols["green"], cols["blue"]], axis=1)
        types = {n: t for n, t in props}
        if types["red"].startswith("f") and c.size and c.max() <= 1.0:
            c = c * 255.0
        rgb = np.clip(np.round(c), 0, 255).astype(np.uint8)
    return xyz, rgb


def write_ply_points(path: str | os.PathLike, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """Atomically write a binary little-endian PLY with float32 ``x y z`` and uint8 colours.

    Args:
        xyz: ``[P, 3]`` positions.
        rgb: ``[P, 3]`` uint8 colours.
    """
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    rgb = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if len(xyz) != len(rgb):
        raise ValueError(f"xyz has {len(xyz)} points but rgb has {len(rgb)}")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    )
    dtype = np.dtype(
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    )
    rec = np.empty(len(xyz), dtype=dtype)
    rec["x"], rec["y"], rec["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    rec["r"], rec["g"], rec["b"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    atomic_write_bytes(path, header.encode("ascii") + rec.tobytes())
