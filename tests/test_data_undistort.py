"""Undistortion: identity without distortion; with distortion, a pixel's content moves to where
the pinhole camera sees it."""

from __future__ import annotations

import torch

from spatialwm.data.undistort import distortion_grid, undistort


def test_zero_distortion_is_identity():
    K = torch.tensor([[30.0, 0, 16.3], [0, 31.0, 12.1], [0, 0, 1]])
    img = torch.rand(24, 32, 3)
    out, valid = undistort(img, distortion_grid(K, torch.zeros(6), 32, 24))
    assert valid.all()
    assert torch.allclose(out, img, atol=1e-6)


def test_distorted_point_lands_at_pinhole_projection():
    K = torch.tensor([[40.0, 0, 32.0], [0, 40.0, 24.0], [0, 0, 1]])
    dist = torch.tensor([-0.2, 0.05, 0.0, 0.0, 0.01, -0.005])
    h, w = 48, 64
    # a 3D direction seen at normalised (x, y) appears in the distorted image at distort(x, y)
    x, y = 0.35, -0.25
    r2 = x * x + y * y
    rad = 1 + dist[0] * r2 + dist[1] * r2 * r2
    xd = x * rad + 2 * dist[4] * x * y + dist[5] * (r2 + 2 * x * x)
    yd = y * rad + dist[4] * (r2 + 2 * y * y) + 2 * dist[5] * x * y
    u_src, v_src = int(K[0, 0] * xd + K[0, 2]), int(K[1, 1] * yd + K[1, 2])
    img = torch.zeros(h, w, 1, dtype=torch.uint8)
    img[v_src, u_src] = 255
    out, valid = undistort(img, distortion_grid(K, dist, w, h), mode="nearest")
    v, u = (out[..., 0] == 255).nonzero()[0].tolist()
    assert abs(u + 0.5 - (K[0, 0] * x + K[0, 2])) <= 1.0
    assert abs(v + 0.5 - (K[1, 1] * y + K[1, 2])) <= 1.0
    assert valid[h // 2, w // 2]
