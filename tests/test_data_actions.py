"""The action schema: parse, validate, serialise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spatialwm.data.actions import (
    CameraAction,
    PlaceAction,
    PushAction,
    WaitAction,
    action_to_json,
    parse_action,
    parse_actions,
)
from spatialwm.data.cameras import look_at
from spatialwm.errors import InputError, SpatialWMError

C2W = look_at((0.5, 0.1, 0.4), (0.0, 0.0, 0.0))
GOOD = [
    {"type": "push", "object": 2, "velocity": [1.5, -0.25, 0.0]},
    {"type": "place", "object": 1, "pose": [0.1, 0.2, 0.05, 1.0, 0.0, 0.0, 0.0]},
    {"type": "camera", "camera": "cam0", "c2w": C2W.tolist()},
    {"type": "wait"},
]


def test_round_trip_through_json():
    actions = parse_actions(GOOD, object_ids={1, 2}, camera_names={"cam0"})
    assert [type(a) for a in actions] == [PushAction, PlaceAction, CameraAction, WaitAction]
    text = json.dumps(action_to_json(actions))
    again = parse_actions(json.loads(text))
    assert again == actions
    assert actions[0].velocity == (1.5, -0.25, 0.0)
    assert actions[1].quaternion == (1.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(np.array(actions[2].c2w), C2W)


def test_camera_action_accepts_numpy():
    a = CameraAction("cam1", C2W)
    assert a.to_json()["c2w"][3] == [0.0, 0.0, 0.0, 1.0]


def test_errors_are_spatialwm_errors():
    assert issubclass(InputError, SpatialWMError)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"type": "jump"}, "unknown action type 'jump'"),
        ({"object": 1}, "unknown action type None"),
        ([1, 2], "expected an object"),
        ({"type": "push", "object": 1}, "lacks field 'velocity'"),
        ({"type": "push", "object": 1, "velocity": [1, 2, 3], "speed": 2}, "unknown field 'speed'"),
        ({"type": "push", "object": 1, "velocity": [1, 2]}, "list of 3 numbers"),
        ({"type": "push", "object": 1, "velocity": [1, "x", 3]}, "finite numbers"),
        ({"type": "push", "object": 1, "velocity": [1, float("nan"), 3]}, "finite numbers"),
        ({"type": "push", "object": 0, "velocity": [1, 2, 3]}, "integer >= 1"),
        ({"type": "push", "object": True, "velocity": [1, 2, 3]}, "integer >= 1"),
        ({"type": "push", "object": 9, "velocity": [1, 2, 3]}, "unknown object id 9"),
        ({"type": "place", "object": 1, "pose": [0, 0, 0, 2, 0, 0, 0]}, "unit norm"),
        ({"type": "camera", "camera": "cam7", "c2w": C2W.tolist()}, "unknown camera 'cam7'"),
        ({"type": "camera", "camera": "cam0", "c2w": np.eye(3).tolist()}, "4x4"),
        ({"type": "camera", "camera": "cam0", "c2w": (2 * np.eye(4)).tolist()}, "last row"),
        (
            {"type": "camera", "camera": "cam0", "c2w": np.diag([1, 1, -1, 1.0]).tolist()},
            "reflection",
        ),
    ],
)
def test_bad_actions(obj, match):
    with pytest.raises(InputError, match=match) as info:
        parse_action(obj, object_ids={1, 2}, camera_names={"cam0"}, where="ep.json: steps[3]")
    assert str(info.value).startswith("ep.json: steps[3]")


def test_parse_actions_accepts_single_and_empty():
    assert parse_actions({"type": "wait"}) == (WaitAction(),)
    assert parse_actions([]) == ()
    with pytest.raises(InputError, match="list of actions"):
        parse_actions("wait")
