"""``episode.json``: ground-truth dynamics beside ``transforms.json``.

Layout (every generated dataset writes one; a static capture has a single step)::

    {
      "format": "spatialwm.episode", "version": 1,
      "dt": 0.1,                          # seconds between consecutive states
      "cameras": ["cam0", "cam1"],        # observation cameras (render every step)
      "metadata": {...},                  # generator settings (free-form)
      "steps": [
        {
          "step": 0,
          "actions": [{"type": "push", "object": 2, "velocity": [1.5, 0.2, 0.0]}],
          "objects": {                    # keyed by object id (decimal string)
            "1": {"position": [x, y, z], "quaternion": [qw, qx, qy, qz],
                  "linear_velocity": [vx, vy, vz], "angular_velocity": [wx, wy, wz]},
            ...
          },
          "visibility": {"cam0": {"1": 0.93, "2": 0.0}, ...},
          "amodal_pixels": {"cam0": {"1": 812, "2": 0}, ...}
        },
        ...
      ]
    }

Semantics: ``steps[t].objects`` is the state at time ``t * dt``: each object's centre-of-mass
position and orientation (unit quaternion, **wxyz**, world frame, +Z up, metres) and its
linear (m/s) and angular (rad/s, world axes) velocity. The frames of ``transforms.json``
whose ``step`` is ``t`` show that state. ``steps[t].actions`` are applied at the start of
step ``t``, after state ``t`` was observed, and lead to state ``t + 1`` (schema in
:mod:`spatialwm.data.actions`); the last step's actions are empty.

``visibility[camera][id]`` is the fraction of the object's full (amodal) silhouette that is
visible in that camera's frame of this step: visible pixels of the instance mask divided by
the pixels of the object rendered alone (0 when the object is entirely hidden or outside the
image). ``amodal_pixels[camera][id]`` is that full-silhouette pixel count, so 0 means "not
in the field of view" and ``visibility == 0`` with ``amodal_pixels > 0`` means "occluded".
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spatialwm.data.actions import Action, action_to_json, parse_actions
from spatialwm.data.io import read_json, write_json
from spatialwm.errors import DatasetError, InputError

__all__ = [
    "EPISODE_FORMAT",
    "Episode",
    "EpisodeStep",
    "ObjectState",
    "episode_to_json",
    "read_episode",
    "write_episode",
]

EPISODE_FORMAT = "spatialwm.episode"
EPISODE_VERSION = 1


@dataclass(frozen=True)
class ObjectState:
    """One object's ground-truth state (world frame, centre of mass)."""

    position: tuple[float, float, float]
    quaternion: tuple[float, float, float, float]  # wxyz
    linear_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angular_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "position": list(self.position),
            "quaternion": list(self.quaternion),
            "linear_velocity": list(self.linear_velocity),
            "angular_velocity": list(self.angular_velocity),
        }


@dataclass(frozen=True)
class EpisodeStep:
    """State ``t`` (``objects``), what each camera saw of it, and the actions of step ``t``."""

    index: int
    actions: tuple[Action, ...]
    objects: Mapping[int, ObjectState]
    visibility: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    amodal_pixels: Mapping[str, Mapping[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Episode:
    """A parsed ``episode.json``; ``steps[t].index == t``."""

    dt: float
    steps: tuple[EpisodeStep, ...]
    cameras: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Sorted ids of the objects whose states the episode holds."""
        return tuple(sorted(self.steps[0].objects)) if self.steps else ()

    def poses(self) -> np.ndarray:
        """``[T, K, 7]`` float64: per step, per object (sorted ids) ``x y z qw qx qy qz``."""
        ids = self.object_ids
        return np.array(
            [[s.objects[i].position + s.objects[i].quaternion for i in ids] for s in self.steps],
            dtype=np.float64,
        ).reshape(len(self.steps), len(ids), 7)

    def velocities(self) -> np.ndarray:
        """``[T, K, 6]`` float64: per step, per object linear then angular velocity."""
        ids = self.object_ids
        return np.array(
            [
                [s.objects[i].linear_velocity + s.objects[i].angular_velocity for i in ids]
                for s in self.steps
            ],
            dtype=np.float64,
        ).reshape(len(self.steps), len(ids), 6)


def episode_to_json(episode: Episode) -> dict[str, Any]:
    """The JSON form of ``episode`` (see the module docstring for the layout)."""
    steps = []
    for s in episode.steps:
        steps.append(
            {
                "step": s.index,
                "actions": action_to_json(s.actions),
                "objects": {str(k): v.to_json() for k, v in sorted(s.objects.items())},
                "visibility": {
                    cam: {str(k): float(v) for k, v in sorted(vis.items())}
                    for cam, vis in s.visibility.items()
                },
                "amodal_pixels": {
                    cam: {str(k): int(v) for k, v in sorted(px.items())}
                    for cam, px in s.amodal_pixels.items()
                },
            }
        )
    return {
        "format": EPISODE_FORMAT,
        "version": EPISODE_VERSION,
        "dt": episode.dt,
        "cameras": list(episode.cameras),
        "metadata": dict(episode.metadata),
        "steps": steps,
    }


def write_episode(path: str | os.PathLike, episode: Episode) -> None:
    """Atomically write ``episode`` as deterministic JSON (floats rounded to 6 decimals)."""
    write_json(path, episode_to_json(episode), precision=6)


# ------------------------------------------------------------------------------------ reading


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> DatasetError:
        return DatasetError(f"{self.path}: {where}: {msg}")

    def vec(self, obj: Mapping[str, Any], key: str, n: int, where: str) -> tuple[float, ...]:
        if key not in obj:
            raise self.fail(f"{where}.{key}", "missing")
        v = obj[key]
        if not isinstance(v, list) or len(v) != n:
            raise self.fail(f"{where}.{key}", f"expected a list of {n} numbers, got {v!r}")
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise self.fail(f"{where}.{key}", f"expected finite numbers, got {x!r}")
            out.append(float(x))
        return tuple(out)

    def obj_id(self, key: str, where: str, object_ids: Collection[int] | None) -> int:
        try:
            i = int(key)
        except ValueError:
            raise self.fail(where, f"object ids must be integers, got {key!r}") from None
        if i < 1 or str(i) != key:
            raise self.fail(where, f"object ids must be integers >= 1, got {key!r}")
        if object_ids is not None and i not in object_ids:
            known = ", ".join(str(k) for k in sorted(object_ids)) or "none"
            raise self.fail(where, f"unknown object id {i} (known: {known})")
        return i

    def per_camera(
        self, raw: Any, where: str, object_ids: Collection[int] | None, kind: type
    ) -> dict[str, dict[int, Any]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(where, "expected an object keyed by camera name")
        out: dict[str, dict[int, Any]] = {}
        for cam, per_obj in raw.items():
            if not isinstance(per_obj, dict):
                raise self.fail(f"{where}.{cam}", "expected an object keyed by object id")
            vals: dict[int, Any] = {}
            for key, v in per_obj.items():
                i = self.obj_id(key, f"{where}.{cam}", object_ids)
                bad = isinstance(v, bool) or not isinstance(v, (int, float))
                if kind is float and (bad or not 0.0 <= v <= 1.0):
                    raise self.fail(
                        f"{where}.{cam}.{key}", f"expected a fraction in [0, 1], got {v!r}"
                    )
                if kind is int and (bad or v != int(v) or v < 0):
                    raise self.fail(f"{where}.{cam}.{key}", f"expected a pixel count, got {v!r}")
                vals[i] = kind(v)
            out[cam] = vals
        return out


def read_episode(
    path: str | os.PathLike,
    *,
    object_ids: Collection[int] | None = None,
    camera_names: Collection[str] | None = None,
) -> Episode:
    """Read and validate an ``episode.json``.

    Args:
        path: the file.
        object_ids: ids that exist (from ``transforms.json``'s ``objects``); actions and
            states naming other ids are errors. ``None`` skips the check.
        camera_names: cameras that exist (from the frames); camera actions naming others are
            errors. ``None`` skips the check.
    Raises:
        DatasetError: missing/unreadable file, malformed JSON, or a bad field; the message
            names the file and the field (e.g. ``steps[3].actions[0].object``).
    """
    path = Path(path)
    r = _Reader(path)
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise r.fail("top level", "expected a JSON object")
    if meta.get("format", EPISODE_FORMAT) != EPISODE_FORMAT:
        raise r.fail("format", f"expected {EPISODE_FORMAT!r}, got {meta.get('format')!r}")
    version = meta.get("version", EPISODE_VERSION)
    if version != EPISODE_VERSION:
        raise r.fail("version", f"unsupported version {version!r} (this reader: 1)")
    dt = meta.get("dt")
    if (
        isinstance(dt, bool)
        or not isinstance(dt, (int, float))
        or not (dt > 0 and math.isfinite(dt))
    ):
        raise r.fail("dt", f"expected a positive number of seconds, got {dt!r}")
    cameras = meta.get("cameras", [])
    if not isinstance(cameras, list) or not all(isinstance(c, str) for c in cameras):
        raise r.fail("cameras", "expected a list of camera names")
    raw_steps = meta.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise r.fail("steps", "expected a non-empty list")
    cam_check = set(camera_names) | set(cameras) if camera_names is not None else None

    steps = []
    ids0: set[int] | None = None
    for t, raw in enumerate(raw_steps):
        where = f"steps[{t}]"
        if not isinstance(raw, dict):
            raise r.fail(where, "expected an object")
        if raw.get("step", t) != t:
            raise r.fail(f"{where}.step", f"expected {t}, got {raw.get('step')!r}")
        try:
            actions = parse_actions(
                raw.get("actions", []),
                object_ids=object_ids,
                camera_names=cam_check,
                where=f"{where}.actions",
            )
        except InputError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        raw_objs = raw.get("objects", {})
        if not isinstance(raw_objs, dict):
            raise r.fail(f"{where}.objects", "expected an object keyed by object id")
        objects: dict[int, ObjectState] = {}
        for key, st in raw_objs.items():
            i = r.obj_id(key, f"{where}.objects", object_ids)
            w = f"{where}.objects.{key}"
            if not isinstance(st, dict):
                raise r.fail(w, "expected an object")
            q = r.vec(st, "quaternion", 4, w)
            qn = math.sqrt(sum(x * x for x in q))
            if abs(qn - 1.0) > 1e-3:
                raise r.fail(f"{w}.quaternion", f"expected a unit quaternion (wxyz), norm {qn:.6g}")
            zero = {"linear_velocity": [0.0] * 3, "angular_velocity": [0.0] * 3}
            st = {**zero, **st}
            objects[i] = ObjectState(
                position=r.vec(st, "position", 3, w),
                quaternion=q,
                linear_velocity=r.vec(st, "linear_velocity", 3, w),
                angular_velocity=r.vec(st, "angular_velocity", 3, w),
            )
        if ids0 is None:
            ids0 = set(objects)
        elif set(objects) != ids0:
            raise r.fail(f"{where}.objects", "every step must list the same object ids as step 0")
        steps.append(
            EpisodeStep(
                index=t,
                actions=actions,
                objects=objects,
                visibility=r.per_camera(
                    raw.get("visibility"), f"{where}.visibility", object_ids, float
                ),
                amodal_pixels=r.per_camera(
                    raw.get("amodal_pixels"), f"{where}.amodal_pixels", object_ids, int
                ),
            )
        )
    metadata = meta.get("metadata", {})
    if not isinstance(metadata, dict):
        raise r.fail("metadata", "expected an object")
    return Episode(dt=float(dt), steps=tuple(steps), cameras=tuple(cameras), metadata=metadata)
