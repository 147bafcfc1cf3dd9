"""PLY files: the ``vertex`` element as named columns, and point clouds on top of it.

:func:`read_ply_vertices` / :func:`write_ply_vertices` read any ASCII or binary PLY's
``vertex`` element by property name and write binary little-endian ones; every PLY the project
touches goes through them (point clouds here, Gaussian splats in :mod:`spatialwm.scene.ply`).
:func:`read_ply_points` reads a point cloud (``ply_file_path`` of ``transforms.json``, e.g.
``sparse_pc.ply``, what ``ns-process-data`` and open3d write): ``x y z`` and, when present,
``red green blue``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spatialwm.data.io import atomic_write_bytes
from spatialwm.errors import DatasetError

__all__ = ["read_ply_points", "read_ply_vertices", "write_ply_points", "write_ply_vertices"]

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


def read_ply_vertices(
    path: str | os.PathLike, *, required: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The ``vertex`` element of a PLY file as ``{property name: [P] array}``, in file order,
    each column with its file dtype (ASCII files give float64).

    Args:
        required: property names that must be present (checked before the data is read).
    Raises:
        DatasetError: missing or unreadable file, not a PLY, no ``vertex`` element, a required
            property missing, list properties in it, data shorter than the header says.
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
    if not set(required) <= set(names):
        raise DatasetError(f"{path}: vertex element lacks {', '.join(required)} properties")
    if any(t is None for _, t in props):
        raise DatasetError(f"{path}: list properties in the vertex element are not supported")
    try:
        if fmt == "ascii":
            text = data[start:].decode("ascii").split("\n")
            rows = [r for r in text if r.strip()][:count]
            table = np.array([r.split()[: len(props)] for r in rows], dtype=np.float64)
            if table.shape != (count, len(props)):
                raise ValueError(f"expected {count} rows of {len(props)} values")
            return {n: table[:, i] for i, n in enumerate(names)}
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(n, order + t) for n, t in props])
        if len(data) - start < dtype.itemsize * count:
            raise ValueError("file is shorter than its header says")
        rec = np.frombuffer(data, dtype=dtype, count=count, offset=start)
        return {n: rec[n].astype(rec[n].dtype.newbyteorder("=")) for n in names}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: malformed PLY vertex data ({exc})") from None


_PLY_TYPE_OF = {"f4": "float", "f8": "double", "u1": "uchar", "i1": "char", "u2": "ushort",
                "i2": "short", "u4": "uint", "i4": "int"}  # fmt: skip


def write_ply_vertices(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    """Atomically write a binary little-endian PLY whose ``vertex`` element has one property
    per column, in the dict's order, each with its array's dtype (float32, uint8, int32, ...).

    Args:
        columns: ``{name: [P] array}``, all of the same length P.
    """
    cols = {n: np.asarray(c).reshape(-1) for n, c in columns.items()}
    lengths = {len(c) for c in cols.values()}
    if len(lengths) > 1:
        raise ValueError(f"PLY columns differ in length: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    dtype = np.dtype([(n, "<" + c.dtype.str[1:]) for n, c in cols.items()])
    unknown = [n for n, c in cols.items() if c.dtype.str[1:] not in _PLY_TYPE_OF]
    if unknown:
        raise ValueError(f"no PLY type for columns {unknown}")
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {count}\n"
    header += "".join(f"property {_PLY_TYPE_OF[c.dtype.str[1:]]} {n}\n" for n, c in cols.items())
    header += "end_header\n"
    rec = np.empty(count, dtype=dtype)
    for n, c in cols.items():
        rec[n] = c
    atomic_write_bytes(path, header.encode("ascii") + rec.tobytes())


def read_ply_points(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a point cloud.

    Returns:
        ``(xyz [P, 3] float32, rgb [P, 3] uint8 or None)``. Float colours in [0, 1] are
        scaled to 0..255.
    Raises:
        DatasetError: missing file, not a PLY, no ``vertex`` element with ``x y z``.
    """
    cols = read_ply_vertices(path, required=("x", "y", "z"))
    xyz = np.stack([cols["x"], cols["y"], cols["z"]], axis=1).astype(np.float32)
    if not np.isfinite(xyz).all():
        raise DatasetError(f"{path}: non-finite vertex coordinates")
    rgb = None
    if {"red", "green", "blue"} <= set(cols):
        c = np.stack([cols["red"], cols["green"], cols["blue"]], axis=1).astype(np.float64)
        if cols["red"].dtype.kind == "f" and c.size and c.max() <= 1.0:
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
    names = ("x", "y", "z", "red", "green", "blue")
    write_ply_vertices(path, dict(zip(names, [*xyz.T, *rgb.T], strict=True)))
