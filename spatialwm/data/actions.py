"""The action schema: the one definition shared by the generator, the world model and the viewer.

An action is a JSON object with a ``"type"`` and the fields of that type. Object ids are the
ids of the dataset's ``objects`` list (1..K; 0 is the background and never an object), camera
names are the ``camera`` names of its frames. World frame: +Z up, metres, seconds.

``{"type": "push", "object": id, "velocity": [vx, vy, vz]}``
    Set the object's linear velocity (m/s, world frame, of its centre of mass) at the start
    of the step. Its angular velocity is left as it was. Friction, gravity and collisions
    act from then on: the generator's pushes of 1.2-2 m/s slide an object 10-35 cm.
``{"type": "place", "object": id, "pose": [x, y, z, qw, qx, qy, qz]}``
    Teleport the object at the start of the step: centre-of-mass position (m) and
    orientation as a unit quaternion, scalar first (wxyz), world frame. Its linear and
    angular velocities become zero (it then falls if placed in the air).
``{"type": "camera", "camera": name, "c2w": [[...], [...], [...], [...]]}``
    Move a camera: ``c2w`` is its new 4x4 camera-to-world matrix in the OpenGL convention
    of ``transforms.json`` (+X right, +Y up, looking along -Z). Frames of later steps see
    the new pose. The camera must exist (a name used by the dataset's frames).
``{"type": "wait"}``
    Do nothing; the world evolves for one step.

Timing (see :mod:`spatialwm.data.episode`): a step ``t`` starts from state ``t`` (what the
frames with ``step == t`` show), applies every action of step ``t`` in list order, then
simulates ``dt`` seconds, giving state ``t + 1``. A step's ``actions`` is a list (several
pushes, or a push and camera moves, may happen at once); an empty list means wait.

In Python each action is a frozen dataclass; :func:`parse_action` reads and validates one
from JSON, :meth:`to_json` (or :func:`action_to_json`) writes it back. Invalid input raises
:class:`spatialwm.errors.InputError` whose message starts with where the action came from.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from spatialwm.errors import InputError

__all__ = [
    "ACTION_TYPES",
    "Action",
    "CameraAction",
    "PlaceAction",
    "PushAction",
    "WaitAction",
    "action_to_json",
    "parse_action",
    "parse_actions",
    "step_actions",
    "validate_action",
]


def _floats(value: Any, n: int, where: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != n:
        raise InputError(f"{where}: expected a list of {n} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{where}: expected finite numbers, got {v!r}")
        out.append(float(v))
    return tuple(out)


def _object_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{where}: object id must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class PushAction:
    """Set ``object``'s linear velocity (m/s, world) at the start of the step."""

    object: int
    velocity: tuple[float, float, float]
    type: ClassVar[str] = "push"

    def __post_init__(self) -> None:
        _object_id(self.object, "push.object")
        object.__setattr__(self, "velocity", _floats(self.velocity, 3, "push.velocity"))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object, "velocity": list(self.velocity)}


@dataclass(frozen=True)
class PlaceAction:
    """Teleport ``object`` to ``pose = (x, y, z, qw, qx, qy, qz)`` (world, centre of mass)."""

    object: int
    pose: tuple[float, float, float, float, float, float, float]
    type: ClassVar[str] = "place"

    def __post_init__(self) -> None:
        _object_id(self.object, "place.object")
        pose = _floats(self.pose, 7, "place.pose")
        qn = math.sqrt(sum(q * q for q in pose[3:]))
        if abs(qn - 1.0) > 1e-3:
            raise InputError(f"place.pose: quaternion (wxyz) must have unit norm, got {qn:.6g}")
        object.__setattr__(self, "pose", pose)

    @property
    def position(self) -> tuple[float, float, float]:
        return self.pose[:3]

    @property
    def quaternion(self) -> tuple[float, float, float, float]:
        """Orientation, wxyz."""
        return self.pose[3:]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object, "pose": list(self.pose)}


@dataclass(frozen=True)
class CameraAction:
    """Move camera ``camera`` to ``c2w`` (4x4 OpenGL camera-to-world, rows)."""

    camera: str
    c2w: tuple[tuple[float, float, float, float], ...]
    type: ClassVar[str] = "camera"

    def __post_init__(self) -> None:
        if not isinstance(self.camera, str) or not self.camera:
            raise InputError(f"camera.camera: expected a non-empty name, got {self.camera!r}")
        rows = self.c2w
        if hasattr(rows, "tolist"):  # numpy array or torch tensor
            rows = rows.tolist()
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or len(rows) != 4:
            raise InputError(f"camera.c2w: expected a 4x4 matrix, got {self.c2w!r}")
        m = tuple(_floats(r, 4, "camera.c2w") for r in rows)
        if max(abs(a - b) for a, b in zip(m[3], (0.0, 0.0, 0.0, 1.0), strict=True)) > 1e-6:
            raise InputError(f"camera.c2w: last row must be [0, 0, 0, 1], got {list(m[3])}")
        # The rotation part must be orthonormal and right-handed.
        for i in range(3):
            for j in range(3):
                dot = sum(m[k][i] * m[k][j] for k in range(3))
                if abs(dot - (1.0 if i == j else 0.0)) > 1e-3:
                    raise InputError("camera.c2w: rotation part is not orthonormal")
        det = (
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        )
        if det < 0:
            raise InputError("camera.c2w: rotation part is a reflection (determinant < 0)")
        object.__setattr__(self, "c2w", m)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "camera": self.camera, "c2w": [list(r) for r in self.c2w]}


@dataclass(frozen=True)
class WaitAction:
    """Do nothing for one step."""

    type: ClassVar[str] = "wait"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


Action = PushAction | PlaceAction | CameraAction | WaitAction

#: Action classes by their JSON ``type``.
ACTION_TYPES: dict[str, type] = {
    cls.type: cls for cls in (PushAction, PlaceAction, CameraAction, WaitAction)
}

_FIELDS = {
    "push": ("object", "velocity"),
    "place": ("object", "pose"),
    "camera": ("camera", "c2w"),
    "wait": (),
}


def validate_action(
    action: Action,
    *,
    object_ids: Collection[int] | None = None,
    camera_names: Collection[str] | None = None,
    where: str = "action",
) -> None:
    """Check that ``action`` refers to known objects / cameras.

    ``object_ids`` / ``camera_names``: the ids and names that exist; ``None`` skips that
    check. Raises ``InputError`` naming ``where`` and the unknown id or name.
    """
    if isinstance(action, (PushAction, PlaceAction)):
        if object_ids is not None and action.object not in object_ids:
            known = ", ".join(str(i) for i in sorted(object_ids)) or "none"
            raise InputError(f"{where}.object: unknown object id {action.object} (known: {known})")
    elif isinstance(action, CameraAction):
        if camera_names is not None and action.camera not in camera_names:
            known = ", ".join(sorted(camera_names)) or "none"
            raise InputError(f"{where}.camera: unknown camera {action.camera!r} (known: {known})")
    elif not isinstance(action, WaitAction):
        raise InputError(f"{where}: not an action: {action!r}")


def parse_action(
    obj: Any,
    *,
    object_ids: Collection[int] | None = None,
    camera_names: Collection[str] | None = None,
    where: str = "action",
) -> Action:
    """Parse and validate one action from its JSON form (a dict).

    Unknown ``type``, missing or extra fields, malformed values and (when ``object_ids`` /
    ``camera_names`` are given) unknown objects or cameras raise ``InputError`` whose message
    starts with ``where`` (e.g. ``"episode.json: steps[3].actions[0]"``).
    """
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object with a 'type', got {obj!r}")
    kind = obj.get("type")
    if kind not in ACTION_TYPES:
        known = ", ".join(ACTION_TYPES)
        raise InputError(f"{where}.type: unknown action type {kind!r} (known: {known})")
    fields = _FIELDS[kind]
    missing = [f for f in fields if f not in obj]
    if missing:
        raise InputError(f"{where}: {kind} action lacks field {missing[0]!r}")
    extra = sorted(set(obj) - set(fields) - {"type"})
    if extra:
        raise InputError(f"{where}: {kind} action has unknown field {extra[0]!r}")
    try:
        action = ACTION_TYPES[kind](**{f: obj[f] for f in fields})
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    validate_action(action, object_ids=object_ids, camera_names=camera_names, where=where)
    return action


def parse_actions(
    obj: Any,
    *,
    object_ids: Collection[int] | None = None,
    camera_names: Collection[str] | None = None,
    where: str = "actions",
) -> tuple[Action, ...]:
    """Parse a step's actions: a list of action objects (or a single one). ``[]`` = wait."""
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list):
        raise InputError(f"{where}: expected a list of actions, got {obj!r}")
    return tuple(
        parse_action(a, object_ids=object_ids, camera_names=camera_names, where=f"{where}[{i}]")
        for i, a in enumerate(obj)
    )


def step_actions(actions: Action | Sequence[Action] | None) -> list[Action]:
    """A step's actions as a list: one action, a sequence of them, or ``None`` (wait)."""
    if actions is None:
        return []
    return [actions] if not isinstance(actions, Sequence) else list(actions)


def action_to_json(action: Action | Iterable[Action]) -> Any:
    """JSON form of one action (a dict) or of several (a list of dicts)."""
    if isinstance(action, (PushAction, PlaceAction, CameraAction, WaitAction)):
        return action.to_json()
    return [a.to_json() for a in action]
