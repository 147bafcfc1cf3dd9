"""Scene-state files: a versioned dict of tensors written with ``torch.save`` (atomically) and
read back with ``weights_only=True`` (no code runs on load)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from spatialwm.data.io import atomic_write_bytes
from spatialwm.errors import DatasetError
from spatialwm.scene.state import STATE_FORMAT_VERSION, Gaussians, SceneState

_GAUSSIAN_FIELDS = ("means", "quats", "scales", "opacities", "sh", "group")
_STATE_FIELDS = (
    "offsets", "object_ids", "positions", "orientations", "linear_velocity", "angular_velocity",
    "background_color",
)  # fmt: skip


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` to a temp file beside ``path``, then rename (never a half-written file)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_state(path: str | os.PathLike, state: SceneState, *, meta: dict | None = None) -> None:
    """Write ``state`` (and optional JSON-able ``meta``) to ``path`` atomically."""
    record = {
        "format": "spatialwm.scene_state",
        "format_version": STATE_FORMAT_VERSION,
        "gaussians": {k: getattr(state.gaussians, k).detach().cpu() for k in _GAUSSIAN_FIELDS},
        "object_names": list(state.object_names),
        "step": int(state.step),
        "meta": dict(meta or {}),
    }
    record.update({k: getattr(state, k).detach().cpu() for k in _STATE_FIELDS})
    if state.friction is not None:
        record["friction"] = state.friction.detach().cpu()
    atomic_torch_save(path, record)


def load_state(path: str | os.PathLike) -> tuple[SceneState, dict]:
    """Read a state file written by :func:`save_state`.

    Returns:
        ``(state, meta)``.
    Raises:
        DatasetError: missing / unreadable file, another format or version, inconsistent shapes.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: scene state file not found")
    try:
        rec = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DatasetError(f"{path}: not a readable scene state file ({e})") from None
    if not isinstance(rec, dict) or rec.get("format") != "spatialwm.scene_state":
        raise DatasetError(f"{path}: not a spatialwm scene state file")
    version = rec.get("format_version")
    if version != STATE_FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {version}, this spatialwm reads version "
            f"{STATE_FORMAT_VERSION}; re-run the reconstruction with this version"
        )
    try:
        g = Gaussians(**{k: rec["gaussians"][k] for k in _GAUSSIAN_FIELDS})
        state = SceneState(
            gaussians=g,
            object_names=tuple(rec["object_names"]),
            step=int(rec["step"]),
            friction=rec.get("friction"),
            **{k: rec[k] for k in _STATE_FIELDS},
        )
    except (KeyError, TypeError) as e:
        raise DatasetError(f"{path}: scene state lacks field {e}") from None
    n, m = len(g), state.num_groups
    ok = (
        all(getattr(g, k).shape[0] == n for k in _GAUSSIAN_FIELDS)
        and state.offsets.shape == (m + 1,)
        and int(state.offsets[-1]) == n
        and len(state.object_names) == m
        and all(getattr(state, k).shape[0] == m for k in _STATE_FIELDS[1:-1])
        and state.background_color.shape == (3,)
        and (state.friction is None or state.friction.shape == (m,))
    )
    if not ok:
        raise DatasetError(f"{path}: scene state has inconsistent shapes")
    return state, dict(rec.get("meta", {}))


__all__ = ["atomic_torch_save", "load_state", "save_state"]
