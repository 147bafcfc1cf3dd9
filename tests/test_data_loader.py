"""load_dataset on a hand-made ns-process-data folder, and on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spatialwm.data import load_dataset, project_points
from spatialwm.errors import DatasetError

FIXTURE = Path(__file__).parent / "fixtures" / "ns_colmap"


@pytest.fixture
def ns_copy(tmp_path: Path) -> Path:
    """A writable copy of the ns-process-data fixture."""
    dst = tmp_path / "ns"
    shutil.copytree(FIXTURE, dst)
    return dst


def _edit(folder: Path, fn) -> None:
    p = folder / "transforms.json"
    meta = json.loads(p.read_text())
    fn(meta)
    p.write_text(json.dumps(meta))


def test_loads_ns_process_data_layout():
    ds = load_dataset(FIXTURE)
    assert len(ds) == 3
    assert ds.viewmats.shape == (3, 4, 4) and ds.viewmats.dtype == torch.float32
    assert ds.Ks.shape == (3, 3, 3)
    np.testing.assert_allclose(
        ds.Ks[0].numpy(), [[20, 0, 12.1], [0, 20.5, 8.9], [0, 0, 1]], rtol=1e-6
    )
    assert ds.widths.tolist() == [24] * 3 and ds.heights.tolist() == [18] * 3
    assert ds.camera_models == ("OPENCV",) * 3
    # nerfstudio's distortion order: k1 k2 k3 k4 p1 p2
    np.testing.assert_allclose(
        ds.distortion[0].numpy(), [-0.012, 0.0031, 0, 0, 0.0004, -0.0002], rtol=1e-6
    )
    assert ds.steps == (0, 0, 0)
    assert ds.cameras == ("images/frame_00001", "images/frame_00002", "images/frame_00003")
    assert ds.objects == () and ds.episode is None
    assert ds.points.shape == (6, 3) and ds.point_colors.dtype == torch.uint8
    assert ds.mask(0) is None and ds.depth(0) is None and ds.amodal(0) is None
    assert ds.meta["applied_transform"][1] == [0.0, 0.0, 1.0, 0.0]


def test_hand_computed_camera_convention():
    # frame 1: camera at (0, -2, 1) looking at the origin (OpenGL c2w in the file). In OpenCV
    # terms the world point (0, 0, 0.5) is at X=0, Y=-1/sqrt5, Z=4.5/sqrt5 -> pixel (12.1, 4.34).
    ds = load_dataset(FIXTURE)
    w2c = ds.viewmats[0].double().numpy()
    cam = w2c[:3, :3] @ np.array([0.0, 0.0, 0.5]) + w2c[:3, 3]
    np.testing.assert_allclose(cam, [0.0, -1 / 5**0.5, 4.5 / 5**0.5], atol=1e-5)
    # camera centre: -R^T t
    np.testing.assert_allclose(-w2c[:3, :3].T @ w2c[:3, 3], [0.0, -2.0, 1.0], atol=1e-5)


def test_sparse_points_land_on_their_painted_pixels():
    """Each image has the point cloud's points painted in their colours where a pinhole camera
    (distortion ignored) sees them: the loader's viewmats + Ks must find those pixels."""
    ds = load_dataset(FIXTURE)
    pts, cols = ds.points.double().numpy(), ds.point_colors.numpy()
    for i in range(len(ds)):
        img = (ds.image(i).numpy() * 255 + 0.5).astype(np.uint8)
        uv, z = project_points(pts, ds.viewmats[i].double().numpy(), ds.Ks[i].double().numpy())
        assert (z > 0).all()
        for (u, v), c in zip(np.floor(uv).astype(int), cols, strict=True):
            assert img[v, u].tolist() == c.tolist(), (i, u, v)


def test_accepts_json_path_and_per_frame_intrinsics(ns_copy):
    def per_frame(meta):
        for f in meta["frames"]:
            f.update({k: meta[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")})
            f["fl_x"] = 21.0
        for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
            del meta[k]

    _edit(ns_copy, per_frame)
    ds = load_dataset(ns_copy / "transforms.json")
    assert ds.Ks[:, 0, 0].tolist() == [21.0] * 3


def test_missing_size_falls_back_to_image_header(ns_copy):
    _edit(ns_copy, lambda m: (m.pop("w"), m.pop("h")))
    ds = load_dataset(ns_copy)
    assert ds.widths.tolist() == [24] * 3


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("frames"), r"frames: missing or not a list"),
        (
            lambda m: m["frames"][1].pop("transform_matrix"),
            r"frames\[1\]\.transform_matrix: missing",
        ),
        (lambda m: m["frames"][0].update(transform_matrix=[[1, 0], [0, 1]]), r"4x4"),
        (lambda m: m["frames"][2].pop("file_path"), r"frames\[2\]\.file_path: missing"),
        (lambda m: m.update(camera_model="EQUIRECTANGULAR"), r"camera_model: unsupported"),
        (lambda m: m.update(fl_x="big"), r"fl_x: expected a finite number"),
        (lambda m: m.update(w=32), r"is 24x18 but the intrinsics \(w, h\) say 32x18"),
        (
            lambda m: m["frames"][1].update(file_path="images/nope.png"),
            r"frames\[1\]\.file_path: file 'images/nope.png' not found",
        ),
        (lambda m: m.update(objects=[{"id": 1}, {"id": 1}]), r"objects\[1\]\.id: duplicate"),
        (lambda m: m["frames"][0].update(step=-1), r"frames\[0\]\.step"),
    ],
)
def test_bad_transforms(ns_copy, edit, match):
    _edit(ns_copy, edit)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(ns_copy)
    assert "transforms.json" in str(info.value)


def test_missing_folder_and_malformed_json(tmp_path, ns_copy):
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"transforms\.json: file not found"):
        load_dataset(tmp_path / "empty")
    (ns_copy / "transforms.json").write_text('{"frames": [')
    with pytest.raises(DatasetError, match="malformed JSON"):
        load_dataset(ns_copy)


def test_lazy_image_size_check(ns_copy):
    """With check_files=False, a wrong-sized image is reported when it is read."""
    Image.new("RGB", (10, 10)).save(ns_copy / "images" / "frame_00002.png")
    ds = load_dataset(ns_copy, check_files=False)
    ds.image(0)
    with pytest.raises(
        DatasetError, match=r"frame_00002\.png \(frames\[1\]\.file_path\): image is 10x10"
    ):
        ds.image(1)
    with pytest.raises(DatasetError, match="is 10x10 but the intrinsics"):
        load_dataset(ns_copy)


def test_bad_ply(ns_copy):
    (ns_copy / "sparse_pc.ply").write_text("garbage")
    with pytest.raises(DatasetError, match=r"sparse_pc\.ply: not a PLY file"):
        load_dataset(ns_copy)
    assert load_dataset(ns_copy, load_points=False).points is None


@pytest.fixture
def push_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled push episode."""
    dst = tmp_path / "push"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "push", dst)
    return dst


def _edit_episode(folder: Path, fn) -> None:
    p = folder / "episode.json"
    ep = json.loads(p.read_text())
    fn(ep)
    p.write_text(json.dumps(ep))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda e: e["steps"][4]["actions"].append(
                {"type": "push", "object": 42, "velocity": [1, 0, 0]}
            ),
            r"episode\.json: steps\[4\]\.actions\[1\]\.object: "
            r"unknown object id 42 \(known: 1, 2, 3, 4, 5\)",
        ),
        (
            lambda e: e["steps"][4]["actions"].append(
                {"type": "camera", "camera": "cam9", "c2w": np.eye(4).tolist()}
            ),
            r"steps\[4\]\.actions\[1\]\.camera: unknown camera 'cam9'",
        ),
        (
            lambda e: e["steps"][0]["objects"].update({"9": e["steps"][0]["objects"]["1"]}),
            "unknown object id 9",
        ),
        (
            lambda e: e.update(steps=e["steps"][:3]),
            r"frames\[\d+\]\.step: step 24 but episode\.json has only 3",
        ),
    ],
)
def test_bad_episode_is_reported_by_the_loader(push_copy, edit, match):
    _edit_episode(push_copy, edit)
    with pytest.raises(DatasetError, match=match):
        load_dataset(push_copy)
    assert load_dataset(push_copy, load_episode=False).episode is None
