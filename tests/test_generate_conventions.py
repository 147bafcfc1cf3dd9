"""Generated data obeys the conventions the loader promises (camera, masks, depth, visibility)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatialwm.data import load_dataset, look_at, project_points
from spatialwm.data.transforms import Intrinsics
from spatialwm.generate import GenerateConfig, generate

W, H = 96, 72


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> Path:
    # Convex objects whose centre of mass lies inside them, so it projects into the mask.
    cfg = GenerateConfig(
        "push", seed=11, views=6, cameras=2, steps=10, width=W, height=H, objects=4,
        pool="cube,lego,jenga,sphere", amodal=True, points=500,
    )  # fmt: skip
    return generate(tmp_path_factory.mktemp("gen") / "push", cfg).path


def test_object_centre_projects_into_its_mask(pushed):
    ds = load_dataset(pushed)
    checked = in_amodal = 0
    for i in range(len(ds)):
        step = ds.episode.steps[ds.steps[i]]
        mask = ds.mask(i).numpy()
        amodal = ds.amodal(i).numpy()
        w2c, K = ds.viewmats[i].double().numpy(), ds.Ks[i].double().numpy()
        for j, obj in enumerate(ds.objects):
            centre = np.array([step.objects[obj.id].position])
            uv, z = project_points(centre, w2c, K)
            u, v = np.floor(uv[0]).astype(int)
            if z[0] <= 0 or not (0 <= u < W and 0 <= v < H):
                continue
            assert amodal[j, v, u], f"frame {i}: centre of object {obj.id} outside its silhouette"
            in_amodal += 1
            if step.visibility[ds.cameras[i]][obj.id] >= 0.9:  # (nearly) unoccluded
                assert mask[v, u] == obj.id, f"frame {i}: centre of {obj.id} not in its mask"
                checked += 1
    assert checked >= 0.8 * len(ds) * len(ds.objects)  # not vacuous
    assert in_amodal >= checked


def test_depth_matches_projected_centres(pushed):
    ds = load_dataset(pushed)
    for i in ds.frames_at_step(0):
        step = ds.episode.steps[0]
        depth = ds.depth(i).numpy()
        assert depth.dtype == np.float32 and (depth >= 0).all()
        for obj in ds.objects:
            uv, z = project_points(
                np.array([step.objects[obj.id].position]),
                ds.viewmats[i].double().numpy(),
                ds.Ks[i].double().numpy(),
            )
            u, v = np.floor(uv[0]).astype(int)
            if 0 <= u < W and 0 <= v < H and ds.mask(i)[v, u] == obj.id:
                # the visible surface is in front of the centre, by less than the object size
                assert z[0] - 0.08 < depth[v, u] <= z[0] + 0.002


def test_visibility_is_mask_over_amodal(pushed):
    ds = load_dataset(pushed)
    for i in range(len(ds)):
        step = ds.episode.steps[ds.steps[i]]
        mask, amodal = ds.mask(i).numpy(), ds.amodal(i).numpy()
        for j, obj in enumerate(ds.objects):
            full = int(amodal[j].sum())
            seen = int(((mask == obj.id) & amodal[j]).sum())
            assert step.amodal_pixels[ds.cameras[i]][obj.id] == full
            expected = seen / full if full else 0.0
            assert step.visibility[ds.cameras[i]][obj.id] == pytest.approx(expected, abs=1e-6)
            assert not ((mask == obj.id) & ~amodal[j]).any()  # visible pixels within silhouette


def test_point_cloud_lies_on_the_scene(pushed):
    ds = load_dataset(pushed)
    assert ds.points.shape == (500, 3)
    pts = ds.points.numpy()
    assert (pts[:, 2] > -0.01).all() and (pts[:, 2] < 0.2).all()  # ground and objects


def test_renderer_honours_off_centre_principal_point():
    from spatialwm.data.cameras import opengl_c2w_to_opencv_w2c
    from spatialwm.data.episode import ObjectState
    from spatialwm.generate.render import Renderer
    from spatialwm.generate.sim import SceneObject

    r = Renderer({1: SceneObject(1, "cube", "cube_small.urdf", 1.2)})
    try:
        r.set_states({1: ObjectState((0.0, 0.0, 0.03), (1.0, 0.0, 0.0, 0.0))})
        c2w = look_at((0.35, -0.25, 0.3), (0.0, 0.0, 0.03))
        intr = Intrinsics(128, 96, 150.0, 140.0, 64.0 + 17.0, 48.0 - 11.0)
        frame = r.render(c2w, intr)
    finally:
        r.close()
    ys, xs = np.nonzero(frame.instances == 1)
    uv, _ = project_points(np.array([[0.0, 0.0, 0.03]]), opengl_c2w_to_opencv_w2c(c2w), intr.K)
    assert abs(xs.mean() + 0.5 - uv[0, 0]) < 2.0
    assert abs(ys.mean() + 0.5 - uv[0, 1]) < 2.0
    assert frame.amodal[1].sum() == (frame.instances == 1).sum()  # alone: nothing occludes it


def test_supersampled_pixels_resolve_to_majority_and_front():
    from spatialwm.generate.render import Renderer

    # one pixel per row, four samples each: ids, depth (m), valid
    ids = np.array([[[0, 0, 1, 1], [2, 2, 2, 0], [0, 0, 0, 0], [1, 2, 1, 2]]])
    z = np.array([[[9.0, 9.0, 1.0, 1.2], [2.0, 2.2, 2.4, 9.0], [5, 5, 5, 5], [3.0, 1.0, 3.0, 1.0]]])
    valid = np.ones_like(z, dtype=bool)
    valid[0, 2] = False  # sky
    best, depth, ok = Renderer._resolve(ids, z, valid)
    assert best.tolist() == [[1, 2, 0, 2]]  # ties go to the nearest surface
    assert np.allclose(depth[0, :2], [1.1, 2.2]) and depth[0, 3] == 1.0
    assert ok.tolist() == [[True, True, False, True]]


def test_supersampling_antialiases_without_moving_anything(tmp_path):
    cfgs = {
        s: GenerateConfig(
            "tabletop", seed=4, views=3, width=W, height=H, objects=3, points=0, supersample=s
        )
        for s in (1, 2)
    }
    ds = {s: load_dataset(generate(tmp_path / f"s{s}", c).path) for s, c in cfgs.items()}
    for i in range(3):
        m1, m2 = ds[1].mask(i), ds[2].mask(i)
        assert (m1 == m2).float().mean() > 0.97  # the same objects in the same places
        d1, d2 = ds[1].depth(i), ds[2].depth(i)
        both = (d1 > 0) & (d2 > 0) & (m1 == m2)
        assert (d1[both] - d2[both]).abs().median() < 0.01
        # averaging samples creates in-between colours at edges: more distinct values
        a1 = ds[1].image(i).reshape(-1, 3).unique(dim=0)
        a2 = ds[2].image(i).reshape(-1, 3).unique(dim=0)
        assert len(a2) > len(a1)
