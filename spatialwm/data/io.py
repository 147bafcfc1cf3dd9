"""Small file helpers: atomic writes, deterministic JSON and PNG, readers that fail clearly.

Every write goes to a temporary file in the destination folder and is moved into place with
``os.replace``, so a reader never sees a half-written file. JSON is written with the caller's
key order, floats rounded to a fixed number of decimals and lists of numbers kept on one
line, so the same data always gives the same bytes. PNGs are encoded by Pillow with fixed
settings and no metadata (deterministic bytes for the same pixels).

Readers raise :class:`spatialwm.errors.DatasetError` whose message names the file (and the
field, where the caller passes one) instead of letting ``OSError`` / ``JSONDecodeError``
tracebacks escape.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from spatialwm.errors import DatasetError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "dumps_json",
    "encode_png",
    "image_size",
    "read_json",
    "read_png",
    "write_json",
    "write_png",
]


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``).

    The parent folder is created if needed. On failure the temp file is removed and the
    previous content of ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------- JSON


def _clean_float(x: float, precision: int) -> float:
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite float {x!r} to JSON")
    return round(x, precision) + 0.0  # "+ 0.0" turns -0.0 into 0.0


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str, np.generic))


def _scalar(x: Any, precision: int) -> str:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return json.dumps(_clean_float(x, precision))
    return json.dumps(x, ensure_ascii=False)


def _dump(obj: Any, precision: int, indent: int, level: int) -> str:
    pad = " " * (indent * (level + 1))
    end = " " * (indent * level)
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if _is_scalar(obj):
        return _scalar(obj, precision)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = []
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"JSON keys must be strings, got {k!r}")
            key = json.dumps(k, ensure_ascii=False)
            items.append(f"{pad}{key}: {_dump(v, precision, indent, level + 1)}")
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(_is_scalar(v) for v in obj):
            return "[" + ", ".join(_scalar(v, precision) for v in obj) + "]"
        items = [pad + _dump(v, precision, indent, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def dumps_json(obj: Any, *, precision: int = 6, indent: int = 2) -> str:
    """Serialise ``obj`` deterministically.

    Dict keys keep their insertion order, floats are rounded to ``precision`` decimals
    (-0.0 becomes 0.0; NaN/inf are refused), lists of scalars stay on one line (so a 4x4
    matrix reads as four rows), numpy arrays and scalars are accepted. Ends with a newline.
    """
    return _dump(obj, precision, indent, 0) + "\n"


def write_json(path: str | os.PathLike, obj: Any, *, precision: int = 6) -> None:
    """Atomically write ``obj`` as deterministic JSON (see :func:`dumps_json`)."""
    atomic_write_text(path, dumps_json(obj, precision=precision))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; missing, unreadable or malformed files raise ``DatasetError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


# ---------------------------------------------------------------------------------------- PNG


def encode_png(array: np.ndarray) -> bytes:
    """Encode an image array as PNG bytes (deterministic: fixed zlib level, no metadata).

    Args:
        array: ``[H, W]`` uint8 (8-bit grey), ``[H, W]`` uint16 (16-bit grey),
            ``[H, W, 3]`` uint8 (RGB) or ``[H, W, 4]`` uint8 (RGBA).
    """
    a = np.ascontiguousarray(array)
    ok = (a.ndim == 2 and a.dtype in (np.uint8, np.uint16)) or (
        a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8
    )
    if not ok:
        raise ValueError(f"cannot encode array of shape {a.shape} and dtype {a.dtype} as PNG")
    img = Image.fromarray(a)  # L, I;16, RGB or RGBA
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6, optimize=False)
    return buf.getvalue()


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` as a PNG (shapes and dtypes as in :func:`encode_png`)."""
    atomic_write_bytes(path, encode_png(array))


def _open_image(path: Path, field: str | None) -> Image.Image:
    where = f"{path}" if field is None else f"{path} ({field})"
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DatasetError(f"{where}: file not found") from None
    except UnidentifiedImageError:
        raise DatasetError(f"{where}: not a readable image") from None
    except OSError as exc:
        raise DatasetError(f"{where}: cannot read image ({exc})") from None


def image_size(path: str | os.PathLike, *, field: str | None = None) -> tuple[int, int]:
    """Return ``(width, height)`` of an image file, reading only its header."""
    with _open_image(Path(path), field) as img:
        return img.size


def read_png(path: str | os.PathLike, *, field: str | None = None) -> np.ndarray:
    """Read an image file into a numpy array.

    Returns ``[H, W]`` uint8 or uint16 for grey images (16-bit PNGs keep their 16 bits),
    ``[H, W, 3]`` uint8 for colour images (palette and grey+alpha are converted to RGB,
    RGBA keeps ``[H, W, 4]``). Any format Pillow reads is accepted (PNG, JPEG...).
    """
    path = Path(path)
    with _open_image(path, field) as img:
        try:
            img.load()
        except OSError as exc:
            where = f"{path}" if field is None else f"{path} ({field})"
            raise DatasetError(f"{where}: cannot decode image ({exc})") from None
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L"):
            return np.array(img, dtype=np.uint16)
        if mode == "I":
            a = np.array(img)
            if a.size and (a.min() < 0 or a.max() > 65535):
                raise DatasetError(f"{path}: 32-bit integer image out of 16-bit range")
            return a.astype(np.uint16)
        if mode in ("L", "1"):
            return np.array(img.convert("L"), dtype=np.uint8)
        if mode == "RGBA":
            return np.array(img, dtype=np.uint8)
        if mode == "RGB":
            return np.array(img, dtype=np.uint8)
        if mode in ("P", "PA", "LA", "CMYK", "YCbCr"):
            if mode == "P" and "transparency" in img.info:
                return np.array(img.convert("RGBA"), dtype=np.uint8)
            return np.array(img.convert("RGB"), dtype=np.uint8)
        raise DatasetError(f"{path}: unsupported image mode {mode}")
