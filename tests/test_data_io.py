"""JSON / PNG / PLY helpers and episode.json round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spatialwm.data.actions import PushAction, WaitAction
from spatialwm.data.episode import Episode, EpisodeStep, ObjectState, read_episode, write_episode
from spatialwm.data.io import (
    atomic_write_bytes,
    dumps_json,
    encode_png,
    read_json,
    read_png,
    write_json,
    write_png,
)
from spatialwm.data.ply import read_ply_points, write_ply_points
from spatialwm.errors import DatasetError


def test_dumps_json_is_stable_and_rounded():
    obj = {"b": [1.23456789, -0.0, np.float32(0.1)], "a": {"m": np.eye(2)}, "s": "x", "n": None}
    text = dumps_json(obj)
    assert text == dumps_json(obj)
    assert list(json.loads(text)) == ["b", "a", "s", "n"]  # insertion order kept
    assert json.loads(text)["b"] == [1.234568, 0.0, 0.1]
    assert "[1.0, 0.0]" in text  # matrix rows stay on one line
    with pytest.raises(ValueError):
        dumps_json({"x": float("inf")})


def test_atomic_write_leaves_no_temp_files(tmp_path):
    p = tmp_path / "sub" / "f.json"
    write_json(p, {"a": 1})
    atomic_write_bytes(p, b"{}")
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.json"]
    assert read_json(p) == {}


def test_read_json_errors(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        read_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1, 2,}')
    with pytest.raises(DatasetError, match=r"bad\.json: malformed JSON at line 1"):
        read_json(bad)


def test_png_round_trips_and_determinism(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    m8 = rng.integers(0, 7, (6, 5), dtype=np.uint8)
    d16 = rng.integers(0, 65536, (6, 5), dtype=np.uint16)
    for name, a in [("rgb", rgb), ("m8", m8), ("d16", d16)]:
        write_png(tmp_path / f"{name}.png", a)
        b = read_png(tmp_path / f"{name}.png")
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
        assert encode_png(a) == encode_png(a.copy())
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), dtype=np.float32))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="not a readable image"):
        read_png(tmp_path / "junk.png")
    with pytest.raises(DatasetError, match="file not found"):
        read_png(tmp_path / "none.png", field="frames[0].file_path")


def test_ply_round_trip_and_errors(tmp_path):
    xyz = np.array([[0.0, 1.0, 2.0], [-1.5, 0.25, 3.0]], dtype=np.float32)
    rgb = np.array([[255, 0, 10], [1, 2, 3]], dtype=np.uint8)
    write_ply_points(tmp_path / "p.ply", xyz, rgb)
    x2, c2 = read_ply_points(tmp_path / "p.ply")
    np.testing.assert_array_equal(x2, xyz)
    np.testing.assert_array_equal(c2, rgb)
    (tmp_path / "bad.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n"
    )
    with pytest.raises(DatasetError, match="lacks x, y, z"):
        read_ply_points(tmp_path / "bad.ply")
    with pytest.raises(DatasetError, match="file not found"):
        read_ply_points(tmp_path / "none.ply")


def _episode() -> Episode:
    s = ObjectState((0.1, 0.2, 0.03), (1.0, 0.0, 0.0, 0.0))
    steps = (
        EpisodeStep(
            0, (PushAction(1, (1.5, 0.0, 0.0)),), {1: s}, {"cam0": {1: 1.0}}, {"cam0": {1: 40}}
        ),
        EpisodeStep(1, (WaitAction(),), {1: s}, {"cam0": {1: 0.5}}, {"cam0": {1: 40}}),
        EpisodeStep(2, (), {1: s}, {"cam0": {1: 0.0}}, {"cam0": {1: 0}}),
    )
    return Episode(0.1, steps, ("cam0",), {"preset": "test"})


def test_episode_round_trip(tmp_path):
    write_episode(tmp_path / "episode.json", _episode())
    ep = read_episode(tmp_path / "episode.json", object_ids={1}, camera_names={"cam0"})
    assert len(ep) == 3 and ep.dt == 0.1 and ep.cameras == ("cam0",)
    assert ep.steps[0].actions == (PushAction(1, (1.5, 0.0, 0.0)),)
    assert ep.steps[1].visibility == {"cam0": {1: 0.5}}
    assert ep.poses().shape == (3, 1, 7) and ep.velocities().shape == (3, 1, 6)
    first = (tmp_path / "episode.json").read_bytes()
    write_episode(tmp_path / "episode.json", ep)
    assert (tmp_path / "episode.json").read_bytes() == first


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda e: e.pop("dt"), r"dt: expected a positive number"),
        (
            lambda e: e["steps"][1]["actions"].append({"type": "push", "object": 5}),
            r"steps\[1\]\.actions\[1\]: push action lacks field 'velocity'",
        ),
        (
            lambda e: e["steps"][1]["actions"].append(
                {"type": "push", "object": 5, "velocity": [1, 0, 0]}
            ),
            r"steps\[1\]\.actions\[1\]\.object: unknown object id 5",
        ),
        (
            lambda e: e["steps"][0]["objects"]["1"].update(quaternion=[2, 0, 0, 0]),
            r"steps\[0\]\.objects\.1\.quaternion",
        ),
        (lambda e: e["steps"][0]["objects"].update({"x": {}}), r"object ids must be integers"),
        (lambda e: e["steps"][2].update(step=7), r"steps\[2\]\.step: expected 2"),
        (lambda e: e["steps"][1]["visibility"]["cam0"].update({"1": 1.5}), r"fraction in \[0, 1\]"),
        (lambda e: e["steps"][1]["objects"].pop("1"), "same object ids as step 0"),
        (lambda e: e.update(version=9), "unsupported version 9"),
    ],
)
def test_episode_bad_fields(tmp_path, edit, match):
    p = tmp_path / "episode.json"
    write_episode(p, _episode())
    e = json.loads(p.read_text())
    edit(e)
    p.write_text(json.dumps(e))
    with pytest.raises(DatasetError, match=match) as info:
        read_episode(p, object_ids={1}, camera_names={"cam0"})
    assert str(p) in str(info.value)
