"""Camera conventions: OpenGL camera-to-world (files) <-> OpenCV world-to-camera (memory)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spatialwm.data.cameras import (
    focal_from_fov,
    fov_from_focal,
    intrinsics_matrix,
    look_at,
    opencv_w2c_to_opengl_c2w,
    opengl_c2w_to_opencv_w2c,
    opengl_projection,
    project_points,
)


def test_look_at_points_the_opengl_camera_down_minus_z():
    c2w = look_at((0.0, -2.0, 1.0), (0.0, 0.0, 0.0))
    forward = -c2w[:3, 2]
    np.testing.assert_allclose(forward, np.array([0.0, 2.0, -1.0]) / math.sqrt(5.0), atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 0], [1.0, 0.0, 0.0], atol=1e-12)  # right = +X here
    assert c2w[2, 1] > 0  # the camera's up axis points to world +Z
    np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)


def test_hand_computed_projection():
    # Camera at (0, -2, 1) looking at the origin; the point (0, 0, 0.5) is straight above the
    # target, so it lands above the principal point: v = cy + fy * (-1/sqrt5) / (4.5/sqrt5).
    K = intrinsics_matrix(20.0, 20.5, 12.1, 8.9)
    w2c = opengl_c2w_to_opencv_w2c(look_at((0.0, -2.0, 1.0), (0.0, 0.0, 0.0)))
    uv, z = project_points(np.array([[0.0, 0.0, 0.5], [0.5, 0.0, 0.0]]), w2c, K)
    assert uv[0, 0] == pytest.approx(12.1)
    assert uv[0, 1] == pytest.approx(8.9 - 20.5 / 4.5)
    assert z[0] == pytest.approx(4.5 / math.sqrt(5.0))
    assert uv[1, 0] == pytest.approx(12.1 + 20.0 * 0.5 / math.sqrt(5.0))  # +X is to the right


def test_round_trip_numpy_and_torch_batched():
    rng = np.random.default_rng(0)
    c2ws = np.stack([look_at(rng.normal(size=3) * 3, rng.normal(size=3)) for _ in range(5)])
    w2c = opengl_c2w_to_opencv_w2c(c2ws)
    np.testing.assert_allclose(opencv_w2c_to_opengl_c2w(w2c), c2ws, atol=1e-10)
    # OpenCV camera: +Z looks at the target, +Y points down (world -Z component)
    cv_c2w = np.linalg.inv(w2c)
    np.testing.assert_allclose(cv_c2w[:, :3, 2], -c2ws[:, :3, 2], atol=1e-12)
    t = opengl_c2w_to_opencv_w2c(torch.from_numpy(c2ws))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), w2c, atol=1e-10)
    np.testing.assert_allclose(opengl_c2w_to_opencv_w2c(c2ws[:, :3, :]), w2c, atol=1e-10)


def test_fov_focal_round_trip():
    f = focal_from_fov(45.0, 240)
    assert f == pytest.approx(120.0 / math.tan(math.radians(22.5)))
    assert fov_from_focal(f, 240) == pytest.approx(45.0)


def test_opengl_projection_matches_K_off_centre():
    K = intrinsics_matrix(100.0, 90.0, 70.0, 40.0)
    W, H = 160, 100
    P = opengl_projection(K, W, H, 0.1, 10.0)
    pts_cv = np.array([[0.3, -0.2, 2.0], [-0.5, 0.4, 3.0]])
    pts_gl = pts_cv * np.array([1.0, -1.0, -1.0])
    clip = np.c_[pts_gl, np.ones(2)] @ P.T
    ndc = clip[:, :3] / clip[:, 3:]
    u = (ndc[:, 0] + 1) / 2 * W
    v = (1 - ndc[:, 1]) / 2 * H  # image row 0 at the top
    uv, _ = project_points(pts_cv, np.eye(4), K)
    np.testing.assert_allclose(np.c_[u, v], uv, atol=1e-9)
    assert ((ndc[:, 2] > -1) & (ndc[:, 2] < 1)).all()


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        opengl_c2w_to_opencv_w2c(np.eye(3))
    with pytest.raises(ValueError):
        look_at((0, 0, 1), (0, 0, 0))  # looking straight down the up vector
