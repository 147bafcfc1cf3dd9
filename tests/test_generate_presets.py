"""Each preset runs at a tiny size, is deterministic, and does what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from spatialwm.data import CameraAction, PlaceAction, PushAction, WaitAction, load_dataset
from spatialwm.generate import (
    HELDOUT_IDS,
    PRESETS,
    GenerateConfig,
    generate,
    resolve_pool,
)

TINY = {"width": 64, "height": 48, "points": 200}


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    cfg = GenerateConfig("push", seed=4, views=2, cameras=1, steps=5, amodal=True, **TINY)
    a = _files(generate(tmp_path / "a", cfg).path)
    b = _files(generate(tmp_path / "b", cfg).path)
    assert a.keys() == b.keys() and len(a) > 10
    assert [k for k in a if a[k] != b[k]] == []
    c = _files(generate(tmp_path / "c", GenerateConfig(**{**cfg.__dict__, "seed": 5})).path)
    assert c["transforms.json"] != a["transforms.json"]
    assert c["episode.json"] != a["episode.json"]


def test_tabletop_is_a_static_capture(tmp_path):
    cfg = GenerateConfig("tabletop", seed=1, views=5, **TINY)
    ds = load_dataset(generate(tmp_path / "t", cfg).path)
    assert len(ds) == 5 and ds.steps == (0,) * 5
    assert ds.camera_names == tuple(f"view_{i:03d}" for i in range(5))
    assert len(ds.episode) == 1 and ds.episode.steps[0].actions == ()
    assert 3 <= len(ds.objects) <= 6 and not any(o.static for o in ds.objects)
    speeds = np.linalg.norm(ds.episode.velocities()[0, :, :3], axis=1)
    assert (speeds < 0.01).all()  # at rest
    assert GenerateConfig("tabletop").resolved().views == 32


def test_push_moves_objects(tmp_path):
    cfg = GenerateConfig("push", seed=2, views=0, cameras=2, steps=14, **TINY)
    ds = load_dataset(generate(tmp_path / "p", cfg).path)
    assert len(ds) == 2 * 15 and ds.num_steps == 15
    acts = [a for s in ds.episode.steps for a in s.actions]
    pushes = [a for a in acts if isinstance(a, PushAction)]
    assert len(pushes) >= 2
    assert all(isinstance(a, (PushAction, PlaceAction, WaitAction)) for a in acts)
    assert all(1.2 <= np.hypot(*a.velocity[:2]) <= 2.0 for a in pushes)
    assert ds.episode.steps[-1].actions == ()
    poses = ds.episode.poses()
    moved = np.linalg.norm(poses[-1, :, :2] - poses[0, :, :2], axis=1)
    assert moved.max() > 0.08


def test_occlusion_hides_an_object_from_every_camera(tmp_path):
    cfg = GenerateConfig("occlusion", seed=0, views=0, cameras=2, steps=20, **TINY)
    ds = load_dataset(generate(tmp_path / "o", cfg).path)
    wall = [o for o in ds.objects if o.static]
    assert len(wall) == 1 and wall[0].name == "wall"
    longest = 0
    for obj in ds.objects:
        run = 0
        for s in ds.episode.steps:
            hidden = all(s.visibility[c][obj.id] == 0.0 for c in ds.episode.cameras)
            in_view = any(s.amodal_pixels[c][obj.id] > 0 for c in ds.episode.cameras)
            run = run + 1 if hidden and in_view else 0  # occluded, not out of the picture
            longest = max(longest, run)
    assert longest >= 3
    poses = ds.episode.poses()
    j = ds.object_ids.index(wall[0].id)
    np.testing.assert_allclose(poses[:, j], poses[:1, j].repeat(len(poses), 0), atol=1e-9)


def test_camera_preset_moves_only_cameras(tmp_path):
    cfg = GenerateConfig("camera", seed=3, views=0, cameras=2, steps=4, **TINY)
    ds = load_dataset(generate(tmp_path / "c", cfg).path)
    poses = ds.episode.poses()
    np.testing.assert_allclose(poses, poses[:1].repeat(len(poses), 0), atol=1e-6)
    for s in ds.episode.steps[:-1]:
        assert len(s.actions) == 2 and all(isinstance(a, CameraAction) for a in s.actions)
        for a in s.actions:  # the action sets the pose of that camera's next frame
            nxt = ds.frames[ds.frame_index(a.camera, s.index + 1)].c2w
            np.testing.assert_allclose(nxt, np.array(a.c2w), atol=1e-6)


def test_heldout_objects_never_in_defaults():
    rng = np.random.default_rng(0)
    for name in ("default", "builtin", "random"):
        pool = resolve_pool(name)
        assets = {a.urdf for g in pool.groups for a in g}
        assert not any(f"random_urdfs/{i:03d}/" in u for u in assets for i in HELDOUT_IDS)
        for _ in range(50):
            assert all("random_urdfs/9" not in a.urdf for a in pool.sample(rng, 6))
    heldout = resolve_pool("heldout")
    assert sorted(a.name for a in heldout.groups[0]) == [f"random_{i}" for i in HELDOUT_IDS]
    assert all(PRESETS[p].objects[1] <= 6 for p in PRESETS)


def test_heldout_objects_on_request(tmp_path):
    cfg = GenerateConfig(
        "tabletop", seed=0, views=1, objects=2, pool="random_950,random_999", **TINY
    )
    ds = load_dataset(generate(tmp_path / "h", cfg).path)
    assert sorted(o.name for o in ds.objects) == ["random_950", "random_999"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preset": "juggle"}, "unknown preset 'juggle'"),
        ({"preset": "tabletop", "steps": 3}, "static capture"),
        ({"preset": "push", "objects": 0}, r"--objects: expected an integer in \[1, 14\]"),
        ({"preset": "push", "width": 4}, "--width"),
        ({"preset": "push", "views": 0, "cameras": 0}, "nothing to render"),
        ({"preset": "push", "pool": "duck,nosuch"}, "unknown asset 'nosuch'"),
        ({"preset": "push", "pool": "duck,lego", "objects": 3}, "holds only 2 assets"),
        ({"preset": "push", "dt": 0.013}, "multiple of the 1/240"),
    ],
)
def test_bad_settings(tmp_path, kwargs, match):
    from spatialwm.errors import InputError

    with pytest.raises(InputError, match=match):
        generate(tmp_path / "x", GenerateConfig(**{**TINY, **kwargs}))
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []  # no partial folder left behind
