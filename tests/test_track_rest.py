"""Rest poses (spatialwm.track.rest): the six faces of an object's proxy box, the nearest one
to a pose, candidates on every face, and settling 6-DoF fits onto the ground."""

from __future__ import annotations

import math

import pytest
import torch

from spatialwm.scene.state import SceneState, from_world_gaussians, quat_multiply, quat_to_matrix
from spatialwm.track.rest import (
    DOWN,
    FACES,
    face_candidates,
    grounded_height,
    keep_on_ground,
    nearest_face,
    on_face,
    settle,
)
from spatialwm.track.state import lowest_height


def _axis_angle(axis, angle: float) -> torch.Tensor:
    a = torch.tensor(axis, dtype=torch.float32)
    a = a / a.norm()
    return torch.cat([torch.tensor([math.cos(angle / 2)]), math.sin(angle / 2) * a])


def _random_quat(g: torch.Generator) -> torch.Tensor:
    q = torch.randn(4, generator=g)
    return q / q.norm()


def _post(half=(0.01, 0.015, 0.04)) -> SceneState:
    """Ground + one box of half extents ``half`` standing on it (Gaussians on its faces)."""
    g = torch.Generator().manual_seed(0)
    h = torch.tensor(half)
    u = (torch.rand(600, 3, generator=g) * 2 - 1) * h
    axis = torch.randint(0, 3, (600,), generator=g)
    sign = torch.randint(0, 2, (600,), generator=g).float() * 2 - 1
    u[torch.arange(600), axis] = sign * h[axis]
    pts = u + torch.tensor([0.1, -0.05, half[2]])
    ground = torch.stack([torch.rand(200, generator=g) - 0.5, torch.rand(200, generator=g) - 0.5,
                          torch.zeros(200)], -1)  # fmt: skip
    means = torch.cat([ground, pts])
    n = len(means)
    params = {
        "means": means,
        "quats": torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4).clone(),
        "scales": torch.full((n, 3), math.log(0.004)),
        "opacities": torch.full((n,), 4.0),
        "sh0": torch.zeros(n, 1, 3),
    }
    group = torch.cat([torch.zeros(200, dtype=torch.int64), torch.ones(600, dtype=torch.int64)])
    return from_world_gaussians(params, group, [0, 1], ["background", "post"],
                                torch.zeros(3))  # fmt: skip


def test_each_face_turn_puts_its_axis_down():
    for f, d in zip(FACES, DOWN, strict=True):
        assert torch.allclose(quat_to_matrix(f) @ d, torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)


def test_nearest_face_and_on_face():
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        box = _axis_angle((0, 0, 1), float(torch.rand(1, generator=g)) * 6.0)
        for k, f in enumerate(FACES):
            yaw = _axis_angle((0, 0, 1), float(torch.rand(1, generator=g)) * 6.0)
            q = quat_multiply(quat_multiply(yaw, f), torch.tensor([box[0], *(-box[1:])]))
            face, angle = nearest_face(q, box)
            assert face == k and angle == pytest.approx(0.0, abs=1e-3)
            assert torch.allclose(on_face(q, box).abs(), q.abs(), atol=1e-5)  # a rest pose
            # tilted by 20 degrees about a horizontal axis: the same face, tilt removed, the
            # heading kept
            tilt = _axis_angle((float(torch.randn(1, generator=g)), 1.0, 0.0), math.radians(20))
            tq = quat_multiply(tilt, q)
            face, angle = nearest_face(tq, box)
            assert face == k and angle == pytest.approx(math.radians(20), abs=0.02)
            back = on_face(tq, box)
            assert nearest_face(back, box) == (k, pytest.approx(0.0, abs=1e-3))
            col = 0 if k < 2 else 2  # a horizontal axis of the object on that face
            cos = torch.nn.functional.cosine_similarity(
                quat_to_matrix(back)[:2, col], quat_to_matrix(q)[:2, col], dim=0
            )
            assert float(cos) > math.cos(math.radians(25))


def test_face_candidates_cover_every_face_and_heading():
    g = torch.Generator().manual_seed(2)
    q, box = _random_quat(g), _axis_angle((0, 0, 1), 0.4)
    cands = face_candidates(q, box, yaws=4)
    assert cands.shape == (24, 4)
    faces = [nearest_face(c, box) for c in cands]
    assert sorted(f for f, _ in faces) == sorted(list(range(6)) * 4)
    assert max(a for _, a in faces) < 1e-3


def test_grounded_height_puts_the_lowest_gaussians_at_the_gap():
    s = _post()
    g = torch.Generator().manual_seed(3)
    quats = torch.stack([_random_quat(g) for _ in range(5)])
    h = grounded_height(s, 1, quats, 0.002)
    for q, z in zip(quats, h, strict=True):
        world = s.gaussians.means[s.offsets[1] :] @ quat_to_matrix(q).T
        assert float(lowest_height(world[:, 2] + z)) == pytest.approx(0.002, abs=1e-6)


def test_settle_keeps_a_fit_on_its_face_and_lays_a_turned_one_on_the_ground():
    s = _post()
    box = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    gap = torch.tensor([0.0, 0.001])
    # a small tilt, a 1 cm drop and a turn about +Z: the start's height and tilt, the turn
    small = quat_multiply(_axis_angle((0, 0, 1), 0.3), _axis_angle((1, 0, 0), 0.2))
    pos, quat = s.positions.clone(), s.orientations.clone()
    pos[1] += torch.tensor([0.01, 0.0, -0.01])
    quat[1] = quat_multiply(small, s.orientations[1])
    fit = s.replace(positions=pos, orientations=quat)
    out = settle(fit, s, [1], box, gap)
    assert torch.equal(out.positions[1], torch.tensor([pos[1, 0], pos[1, 1], s.positions[1, 2]]))
    assert torch.allclose(out.orientations[1], keep_on_ground(fit, s, [1]).orientations[1])
    assert nearest_face(out.orientations[1], box[1]) == (0, pytest.approx(0.0, abs=1e-3))
    # tipped by 70 degrees about x (and sunk): now on a side face, untilted, lowest Gaussians
    # at the gap
    quat[1] = quat_multiply(_axis_angle((1, 0, 0), math.radians(70)), s.orientations[1])
    fit = s.replace(positions=pos, orientations=quat)
    out = settle(fit, s, [1], box, gap)
    face, angle = nearest_face(out.orientations[1], box[1])
    assert face in (4, 5) and angle < 1e-3
    world = s.gaussians.means[s.offsets[1] :] @ quat_to_matrix(out.orientations[1]).T
    assert float(lowest_height(world[:, 2] + out.positions[1, 2])) == pytest.approx(0.001, abs=1e-5)
    assert torch.equal(out.positions[1, :2], pos[1, :2])


def test_keep_on_ground_lets_a_hovering_proxy_settle_but_not_hop():
    s = _post()
    for dz, settle_down, kept in ((-0.01, True, False), (0.01, True, True), (-0.01, False, True)):
        pos = s.positions.clone()
        pos[1] += torch.tensor([0.02, 0.0, dz])
        pred = s.replace(positions=pos)
        out = keep_on_ground(pred, s, [1], settle_down=settle_down)
        want = s.positions[1, 2] if kept else pos[1, 2]
        assert float(out.positions[1, 2]) == pytest.approx(float(want)), (dz, settle_down)
        assert float(out.positions[1, 0]) == pytest.approx(float(pos[1, 0]))


def test_silhouette_iou_leaves_out_what_other_objects_hide():
    from spatialwm.track.reorient import silhouette_iou

    alpha = torch.zeros(2, 1, 10, 10)
    alpha[0, 0, 2:8, 2:8] = 1.0  # a 6x6 silhouette
    alpha[1, 0, 2:8, 5:8] = 1.0  # its right half
    seg = torch.zeros(10, 10, dtype=torch.bool)
    seg[2:8, 5:8] = True  # the camera sees only the right half: something hides the left
    front = torch.zeros(10, 10, dtype=torch.bool)
    front[:, :5] = True
    iou = silhouette_iou(alpha, {0: seg})
    assert iou.tolist() == pytest.approx([0.5, 1.0])
    iou = silhouette_iou(alpha, {0: seg}, {0: front})  # the whole object is as good
    assert iou.tolist() == pytest.approx([1.0, 1.0])
