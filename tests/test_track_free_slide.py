"""Free slides in the observe loop (spatialwm.track.free_slide): an object sliding with
nothing in its way goes where Coulomb friction takes it; one heading into another object, a
wall, or resting against something keeps the dynamics' prediction; two passing each other
in opposite lanes both slide; and in the loop, a cube pushed behind the wall is carried to
where friction stops it although the dynamics slides it too far."""

from __future__ import annotations

import pytest
import torch
from conftest import WALL, cameras, observe_truth, scene, with_positions

from spatialwm.dynamics.proxy import proxies_from_state
from spatialwm.dynamics.slides import coulomb_slide
from spatialwm.track import observe_step, track_state
from spatialwm.track.free_slide import free_slides
from spatialwm.track.state import TrackConfig

DT = 0.1
MU = 0.6


def _slide(s0, velocities, pred=None):
    friction = torch.full((s0.num_groups,), MU)
    pred = pred if pred is not None else s0.replace(step=s0.step + 1)
    return free_slides(s0, pred, velocities, friction, proxies_from_state(s0), DT)


def _moved(state, moves):
    """``state`` with groups moved by ``{group: (dx, dy)}``."""
    pos = state.positions.clone()
    for g, d in moves.items():
        pos[g, :2] += torch.tensor(d)
    return state.replace(positions=pos, step=state.step + 1)


def test_a_free_cube_slides_by_coulomb_friction():
    s0 = scene([(-0.2, -0.3), (-0.3, 0.25)])
    before = s0.positions.clone()
    out, slid = _slide(s0, {1: torch.tensor([0.0, 2.2])})
    assert slid == [1]
    dist, speed = coulomb_slide(2.2, MU, DT)
    assert float(out.positions[1, 1]) == pytest.approx(-0.3 + dist, abs=1e-6)
    assert float(out.positions[1, 0]) == pytest.approx(float(s0.positions[1, 0]), abs=1e-6)
    assert float(out.positions[1, 2]) == float(s0.positions[1, 2])  # height: the dynamics'
    assert out.linear_velocity[1].tolist() == pytest.approx([0.0, speed, 0.0], abs=1e-6)
    assert torch.equal(out.positions[2:], s0.positions[2:])  # the others: the prediction
    assert torch.equal(s0.positions, before)  # pure
    # at rest (or no velocity given) nothing moves
    out, slid = _slide(s0, {1: torch.zeros(2)})
    assert slid == [] and torch.equal(out.positions, s0.positions)
    with pytest.raises(ValueError, match="proxies"):
        free_slides(s0, s0, {}, torch.full((4,), MU), proxies_from_state(scene([(0.0, 0.3)])), DT)


def test_a_cube_heading_into_another_or_the_wall_keeps_the_dynamics():
    s0 = scene([(-0.2, -0.3), (-0.2, -0.15)])  # cube 2 stands 15 cm ahead: the slide is 19
    pred = _moved(s0, {1: (0.0, 0.1)})  # the dynamics: it stops against cube 2
    out, slid = _slide(s0, {1: torch.tensor([0.0, 2.2])}, pred)
    assert slid == [] and torch.equal(out.positions, pred.positions)
    s0 = scene([(-0.12, 0.0), (-0.3, 0.3)])  # towards the wall (x in [-0.01, 0.01])
    _, slid = _slide(s0, {1: torch.tensor([2.2, 0.0])})
    assert slid == []
    _, slid = _slide(s0, {1: torch.tensor([-2.2, 0.0])})  # away from it: free
    assert slid == [1]
    # resting against another (their boxes overlap by 1 cm): not a free slide
    s0 = scene([(-0.2, -0.3), (-0.2, -0.33)])
    _, slid = _slide(s0, {1: torch.tensor([0.0, 2.2])})
    assert slid == []


def test_two_cubes_passing_in_opposite_lanes_both_slide():
    # 7 cm between the lanes (4 cm cubes): they pass each other mid-step without touching,
    # which a test against each other's whole path would call a collision
    s0 = scene([(-0.2, -0.3), (-0.27, -0.1)])
    dist, _ = coulomb_slide(2.2, MU, DT)
    pred = _moved(s0, {1: (0.0, dist), 2: (0.0, -dist)})
    out, slid = _slide(s0, {1: torch.tensor([0.0, 2.2]), 2: torch.tensor([0.0, -2.2])}, pred)
    assert sorted(slid) == [1, 2]
    moved = (out.positions[1:3, 1] - s0.positions[1:3, 1]).tolist()
    assert moved == pytest.approx([dist, -dist], abs=1e-6)
    # in the same lane they meet (each moving as the dynamics predicts the other)
    s0 = scene([(-0.2, -0.3), (-0.2, 0.05)])
    pred = _moved(s0, {1: (0.0, dist), 2: (0.0, -dist)})
    _, slid = _slide(s0, {1: torch.tensor([0.0, 2.2]), 2: torch.tensor([0.0, -2.2])}, pred)
    assert slid == []


def _coulomb(state, mu: float):
    """Toy dynamics: every object slides along its ground velocity at friction ``mu``."""
    pos, lin = state.positions.clone(), state.linear_velocity.clone()
    for g in range(1, state.num_groups):
        u = float(lin[g, :2].norm())
        if u > 0:
            d, v = coulomb_slide(u, mu, DT)
            pos[g, :2] += lin[g, :2] / u * d
            lin[g, :2] *= v / u
    return state.replace(positions=pos, linear_velocity=lin, step=state.step + 1)


def test_a_cube_pushed_behind_the_wall_stops_where_friction_stops_it():
    # truth: friction 0.6 (the tracker's estimate); the dynamics slides on 0.45, too far (as
    # a soft prior does). Seen at the push, the cube is behind the wall from the next step on
    s0 = scene([(0.08, -0.32), (-0.15, 0.25)])
    cams, g1, push = cameras(), s0.group_of(1), (0.0, 2.2, 0.0)

    def soft(pushing: bool):
        def step(state):
            lin = state.linear_velocity.clone()
            if pushing:
                lin[g1] = torch.tensor(push)
            return _coulomb(state.replace(linear_velocity=lin), 0.45)

        return step

    errors = {}
    for free in (True, False):
        ts = track_state(s0, static=[WALL], friction=MU, config=TrackConfig(free_slide=free))
        y, u, hidden = -0.32, 2.2, 0
        for t in range(1, 6):
            d, u = coulomb_slide(u, MU, DT)
            y += d
            truth = with_positions(s0, {1: (0.08, y), 2: (-0.15, 0.25)})
            images, masks, _ = observe_truth(truth, cams, seed=t)
            pushes = {1: push} if t == 1 else None
            ts, info = observe_step(soft(t == 1), ts, images, cams, masks, pushes=pushes)
            hidden += not bool(info.seen[1])
        assert hidden >= 3
        errors[free] = float((ts.scene.positions[g1, :2] - torch.tensor([0.08, y])).norm())
    assert errors[True] < 0.01, errors
    assert errors[False] > 0.05, errors
