"""Proxy box geometry (spatialwm.dynamics.proxy): box frames agree with the corners, and the
separating-axis overlap test agrees with a dense point-sampling oracle on random boxes."""

from __future__ import annotations

import torch

from spatialwm.dynamics.proxy import Proxies, box_corners, box_frames, boxes_overlap
from spatialwm.scene.state import quat_to_matrix


def _random_quat(g: torch.Generator, n: int) -> torch.Tensor:
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def _inside(points: torch.Tensor, centre, axes, half, grow: float = 0.0) -> torch.Tensor:
    local = (points - centre) @ axes  # coordinates along the box axes
    return (local.abs() <= half + grow).all(-1)


def _sampled_overlap(ca, aa, ha, cb, ab, hb, n: int = 13) -> bool:
    """Oracle: does a grid of points through box a (faces included) touch box b, or the other
    way round?"""
    s = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    unit = torch.stack(torch.meshgrid(s, s, s, indexing="ij"), -1).reshape(-1, 3)
    pa = ca + (unit * ha) @ aa.T
    pb = cb + (unit * hb) @ ab.T
    return bool(_inside(pa, cb, ab, hb).any() or _inside(pb, ca, aa, ha).any())


def test_boxes_overlap_agrees_with_sampling_on_random_boxes():
    g = torch.Generator().manual_seed(3)
    agree = 0
    for _ in range(300):
        q = _random_quat(g, 2)
        axes = quat_to_matrix(q)
        half = 0.01 + 0.05 * torch.rand(2, 3, generator=g, dtype=torch.float64)
        centre = 0.12 * (torch.rand(2, 3, generator=g, dtype=torch.float64) - 0.5)
        args = (centre[0], axes[0], half[0], centre[1], axes[1], half[1])
        sat = bool(boxes_overlap(*args))
        # away from the boundary (the answer is the same 3 mm either way) the oracle decides
        if bool(boxes_overlap(*args, margin=-0.003)) != bool(boxes_overlap(*args, margin=0.003)):
            continue
        assert sat == _sampled_overlap(*args), args
        agree += 1
    assert agree > 200


def test_boxes_overlap_margin_and_broadcasting():
    eye = torch.eye(3, dtype=torch.float64)
    one = torch.ones(3, dtype=torch.float64)
    far = torch.tensor([[1.9, 0.0, 0.0], [2.1, 0.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, -1.95]])
    got = boxes_overlap(torch.zeros(3), eye, one, far, eye, one)
    assert got.tolist() == [True, False, True, True]  # faces apart by -0.1, 0.1; touching
    assert boxes_overlap(torch.zeros(3), eye, one, far[1], eye, one, margin=0.2)
    assert not boxes_overlap(torch.zeros(3), eye, one, far[0], eye, one, margin=-0.2)
    # rotated 45 degrees about z, a unit box reaches sqrt(2) along x
    c45 = 2**-0.5
    rot = torch.tensor([[c45, -c45, 0.0], [c45, c45, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert boxes_overlap(torch.zeros(3), rot, one, torch.tensor([2.4, 0.0, 0.0]), eye, one)
    assert not boxes_overlap(torch.zeros(3), rot, one, torch.tensor([2.45, 0.0, 0.0]), eye, one)
    # parallel edges give zero cross products: identical boxes in place overlap
    assert boxes_overlap(torch.zeros(3), eye, one, torch.zeros(3), eye, one)


def test_box_frames_give_the_corners():
    g = torch.Generator().manual_seed(5)
    k = 4
    proxies = Proxies(
        object_ids=torch.arange(1, k + 1),
        centre=0.02 * torch.randn(k, 3, generator=g),
        rotation=_random_quat(g, k).float(),
        half_extents=0.01 + 0.04 * torch.rand(k, 3, generator=g),
        mass=torch.ones(k),
        friction=torch.full((k,), 0.5),
    )
    pos, quat = torch.randn(k, 3, generator=g), _random_quat(g, k).float()
    centres, axes = box_frames(proxies, pos, quat)
    corners = box_corners(proxies, pos, quat)
    torch.testing.assert_close(corners.mean(1), centres, atol=1e-6, rtol=0)
    local = torch.einsum("kcj,kji->kci", corners - centres[:, None], axes)
    torch.testing.assert_close(local.abs(), proxies.half_extents[:, None].expand(k, 8, 3),
                               atol=1e-5, rtol=0)  # fmt: skip


def test_boxes_overlap_with_a_negative_margin_ignores_parallel_edges():
    # identical axes give zero cross products; with a negative margin (a tolerance) they must
    # not count as separating axes
    eye = torch.eye(3, dtype=torch.float64)
    half = torch.full((3,), 0.02, dtype=torch.float64)
    near = torch.tensor([0.0, 0.03, 0.0], dtype=torch.float64)  # 1 cm deep
    assert boxes_overlap(torch.zeros(3), eye, half, near, eye, half, margin=-0.005)
    assert not boxes_overlap(torch.zeros(3), eye, half, near, eye, half, margin=-0.015)
