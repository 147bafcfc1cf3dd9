"""The ground friction estimated from observed slides (spatialwm.track.friction): the filter
converges and ignores outliers, and the observe loop carries the estimate in the scene
state, where the dynamics uses it."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import WALL, cameras, coulomb_slide, observe_truth, scene
from torch import Tensor

from spatialwm.dynamics.slides import GRAVITY, FloorFriction, friction_of_push, friction_of_slide
from spatialwm.errors import InputError
from spatialwm.track import observe_step, track_state
from spatialwm.track.friction import friction_belief, push_speed, update_friction

DT = 0.1


def test_filter_converges_and_gates_outliers():
    g = torch.Generator().manual_seed(0)
    belief = friction_belief(torch.tensor([0.6, 0.9]), 0.2)  # one broad filter each
    for k in range(12):
        xy = coulomb_slide(0.5, 2.0, 2, start=(0.1 * k, 0.0)) + 0.002 * torch.randn(
            3, 2, generator=g
        )
        hist = torch.stack([torch.full((3, 2), math.nan), xy.float()])
        belief, used = update_friction(belief, hist, [0, 1], DT, noise=0.004)
        assert used == [1]
    est, var = belief.estimate, belief.var[:, 0]
    assert float(est[1]) == pytest.approx(0.5, abs=0.05) and float(var[1]) < 0.01
    assert float(est[0]) == pytest.approx(0.6) and float(var[0]) == pytest.approx(0.04)  # no slide
    # a collision-like stop, parallel and still moving: 15 cm then 5.5 cm (friction 0.97)
    hit = torch.tensor([[0.0, 0.0], [0.15, 0.0], [0.205, 0.0]])
    assert friction_of_slide(hit, DT) == pytest.approx(0.97, abs=0.01)
    hist = torch.stack([torch.full((3, 2), math.nan), hit])
    after, used = update_friction(belief, hist, [0, 1], DT, noise=0.004)
    assert used == [] and torch.equal(after.estimate, est)


def _push_history(mu: float, u: float = 2.0, error: float = 0.0) -> tuple[Tensor, Tensor]:
    """One group's history after a push at ``u`` m/s along +x on friction ``mu``, the
    position one step later off by ``error`` m along the push; and the push velocity."""
    xy = coulomb_slide(mu, u, 1, direction=(1.0, 0.0)).float()
    xy[1, 0] += error
    hist = torch.cat([torch.full((1, 2), math.nan), xy])[None]
    return hist, torch.tensor([u, 0.0])


def test_two_hypotheses_keep_a_noisy_slider_at_the_floor_and_let_a_gripper_go():
    floor = FloorFriction(0.6, spread=0.017, share=0.47)
    start = torch.tensor([0.6])
    two, one = friction_belief(start, 0.2, floor), friction_belief(start, 0.2)
    assert two.mean.shape == (1, 2) and one.mean.shape == (1, 1)
    assert torch.softmax(two.log_weight, -1)[0].tolist() == pytest.approx([0.47, 0.53])
    # a slider (friction 0.6) whose position one step after its push was measured 4 mm long:
    # the step reads 0.52; one broad filter takes most of that, two hypotheses little
    hist, push = _push_history(0.6, error=0.004)
    assert friction_of_push(hist[0, 1:], push, DT) == pytest.approx(0.52, abs=0.01)
    b1, used1 = update_friction(one, hist, [0], DT, noise=0.004, pushes={0: push})
    b2, used2 = update_friction(two, hist, [0], DT, noise=0.004, pushes={0: push})
    assert used1 == used2 == [0]
    assert float(b1.estimate[0]) == pytest.approx(0.54, abs=0.01)
    assert abs(float(b2.estimate[0]) - 0.6) < abs(float(b1.estimate[0]) - 0.6) / 2
    assert float(torch.softmax(b2.log_weight, -1)[0, 0]) > 0.47  # more likely a slider now
    # one that grips (1.07, exactly measured): "its own" takes over
    hist, push = _push_history(1.07)
    b2, used = update_friction(two, hist, [0], DT, noise=0.004, pushes={0: push})
    assert used == [0] and float(torch.softmax(b2.log_weight, -1)[0, 1]) > 0.99
    assert float(b2.estimate[0]) == pytest.approx(0.95, abs=0.02)  # as the broad filter alone
    b1, _ = update_friction(one, hist, [0], DT, noise=0.004, pushes={0: push})
    assert float(b2.estimate[0]) == pytest.approx(float(b1.estimate[0]), abs=0.005)
    # without a spread (or with one no tighter than the broad std) there is one filter
    assert friction_belief(start, 0.2, FloorFriction(0.6)).mean.shape == (1, 1)
    assert friction_belief(start, 0.01, floor).mean.shape == (1, 1)


def _coulomb(state):
    """Toy dynamics: every object slides along its velocity, decelerating by ``friction g``."""
    mu = state.friction if state.friction is not None else torch.full((state.num_groups,), 0.8)
    v = state.linear_velocity.clone()
    speed = v[:, :2].norm(dim=-1)
    slower = (speed - mu * GRAVITY * DT).clamp_min(0.0)
    t = torch.where(speed > 0, speed / (mu * GRAVITY).clamp_min(1e-9), torch.zeros_like(speed))
    t = t.clamp(max=DT)
    dist = speed * t - 0.5 * mu * GRAVITY * t * t
    unit = torch.where(speed[:, None] > 0, v[:, :2] / speed.clamp_min(1e-9)[:, None], 0.0)
    pos = state.positions.clone()
    pos[:, :2] += unit * dist[:, None]
    v[:, :2] = unit * slower[:, None]
    return state.replace(positions=pos, linear_velocity=v, step=state.step + 1)


def test_observe_loop_learns_an_objects_friction_and_the_dynamics_uses_it():
    # a cube slides across the cameras' view with friction 0.4; the tracker starts every
    # object at 0.8: after two well-seen steps the cube's estimate is its own, in the scene
    # state; the other cube, at rest, keeps the start
    s0 = scene([(-0.2, -0.3), (-0.25, 0.2)])
    cams = cameras()
    v = s0.linear_velocity.clone()
    v[1, :2] = torch.tensor([0.0, 2.6])
    truth = s0.replace(linear_velocity=v, friction=torch.full((s0.num_groups,), 0.4))
    ts = track_state(s0.replace(linear_velocity=v), static=[WALL], friction=0.8)
    assert ts.friction.tolist() == pytest.approx([0.8] * s0.num_groups)
    assert torch.equal(ts.scene.friction, ts.friction)
    for _ in range(2):
        truth = _coulomb(truth)
        images, masks, _ = observe_truth(truth, cams)
        ts, info = observe_step(_coulomb, ts, images, cams, masks)
        assert bool(info.seen[1])
    assert float(ts.friction[1]) == pytest.approx(0.4, abs=0.1), ts.friction
    assert torch.equal(ts.scene.friction, ts.friction)
    assert float(ts.friction[2]) == pytest.approx(0.8)
    # without a starting value nothing is estimated
    plain = track_state(s0.replace(linear_velocity=v), static=[WALL])
    assert plain.friction is None and plain.scene.friction is None
    with pytest.raises(Exception, match="friction"):
        track_state(s0, friction=-1.0)


def test_a_push_seen_for_one_step_measures_the_friction_and_the_speed_left():
    # a cube at rest, seen well, is pushed at 2.2 m/s across ground that grips like 1.07
    # (the tracker starts at 0.6) and is seen once more: its estimate moves most of the way
    # from that one step, and its velocity is what the estimate leaves of the push, not what
    # the dynamics' step at 0.6 left
    s0 = scene([(-0.2, -0.3), (-0.25, 0.2)])
    cams = cameras()
    oid, push = int(s0.object_ids[1]), (0.0, 2.2, 0.0)

    def pushed(state):
        v = state.linear_velocity.clone()
        v[1] = torch.tensor(push, dtype=v.dtype)
        return _coulomb(state.replace(linear_velocity=v))

    ts = track_state(s0, static=[WALL], friction=0.6)
    images, masks, _ = observe_truth(s0, cams)
    ts, _ = observe_step(_coulomb, ts, images, cams, masks)  # at rest: seen well
    truth = pushed(s0.replace(friction=torch.full((s0.num_groups,), 1.07)))
    images, masks, _ = observe_truth(truth, cams)
    plain, _ = observe_step(pushed, ts, images, cams, masks)
    measured, info = observe_step(pushed, ts, images, cams, masks, pushes={oid: push})
    assert bool(info.seen[1])
    assert float(plain.friction[1]) == pytest.approx(0.6)  # two positions: no slide
    mu = float(measured.friction[1])
    assert 0.85 < mu < 1.1, measured.friction
    assert float(measured.friction[2]) == pytest.approx(0.6)  # the other cube: no push
    assert torch.equal(measured.scene.friction, measured.friction)
    vy = float(measured.scene.linear_velocity[1, 1])
    assert vy == pytest.approx(push_speed(2.2, mu, DT), abs=1e-5)
    assert float(plain.scene.linear_velocity[1, 1]) == pytest.approx(2.2 - 0.6 * GRAVITY * DT)
    with pytest.raises(InputError, match="push velocity of object"):
        observe_step(pushed, ts, images, cams, masks, pushes={oid: (0.0, math.inf, 0.0)})
    with pytest.raises(InputError, match="unknown object id 99"):
        observe_step(pushed, ts, images, cams, masks, pushes={99: push})


def _push_scene():
    """A cube at rest by the wall, to be pushed at 2.2 m/s along +y: ``(state, cameras,
    its id, the push)``."""
    s0 = scene([(-0.2, -0.3), (-0.25, 0.2)])
    return s0, cameras(), int(s0.object_ids[1]), (0.0, 2.2, 0.0)


def _slow_push(push):
    """Dynamics that pushes the cube (group 1) at ``push``, slides it, and leaves it 60% of
    its speed (as the learned part may)."""

    def slow(state):
        v = state.linear_velocity.clone()
        v[1] = torch.tensor(push, dtype=v.dtype)
        out = _coulomb(state.replace(linear_velocity=v))
        return out.replace(linear_velocity=0.6 * out.linear_velocity)

    return slow


def test_a_push_not_measured_still_leaves_the_speed_its_friction_allows():
    # the dynamics leaves a pushed object too slow after the push's step (as the learned part
    # may: 60% of the speed here) and the push cannot be measured (the object's position
    # before it is unknown), but the step was a free slide still going at its end: the
    # velocity the loop carries on with is what the friction estimate leaves of the push.
    # A push whose step stops short (it hit something) keeps the dynamics' velocity.
    s0, cams, oid, push = _push_scene()
    slow = _slow_push(push)

    def blocked(state):  # 3 cm along the push, then stopped
        pos = state.positions.clone()
        pos[1, 1] += 0.03
        return state.replace(positions=pos, step=state.step + 1)

    ts = track_state(s0, static=[WALL], friction=0.6)
    ts = ts.replace(history=torch.full_like(ts.history, math.nan))  # not seen before
    for dynamics, expected in ((slow, push_speed(2.2, 0.6, DT)), (blocked, 0.0)):
        truth = dynamics(s0.replace(friction=torch.full((s0.num_groups,), 0.6)))
        images, masks, _ = observe_truth(truth, cams)
        out, _ = observe_step(dynamics, ts, images, cams, masks, pushes={oid: push})
        assert float(out.friction[1]) == pytest.approx(0.6)  # nothing measured
        assert float(out.scene.linear_velocity[1, 1]) == pytest.approx(expected, abs=1e-5)
        assert float(out.scene.linear_velocity[1, 0]) == pytest.approx(0.0, abs=1e-6)
    # without a push the dynamics' velocity stays
    out, _ = observe_step(slow, ts, images, cams, masks)
    assert float(out.scene.linear_velocity[1, 1]) == pytest.approx(
        0.6 * push_speed(2.2, 0.6, DT), abs=1e-5
    )


def test_a_push_seen_well_whose_measurement_is_rejected_keeps_the_dynamics_speed():
    # seen well before and after its push, an object that grips like 2.0 (the estimate is
    # 0.6: the filter rejects the measurement as a collision would be): the estimate does
    # not describe that step, so its speed is not taken from the estimate either
    s0, cams, oid, push = _push_scene()
    slow = _slow_push(push)

    ts = track_state(s0, static=[WALL], friction=0.6)
    images, masks, _ = observe_truth(s0, cams)
    ts, _ = observe_step(lambda s: s.replace(step=s.step + 1), ts, images, cams, masks)
    truth = slow(s0.replace(friction=torch.full((s0.num_groups,), 2.0)))
    images, masks, _ = observe_truth(truth, cams)
    out, info = observe_step(slow, ts, images, cams, masks, pushes={oid: push})
    assert bool(info.seen[1]) and float(info.visibility[1].max()) > 0.5
    assert float(out.friction[1]) == pytest.approx(0.6)  # rejected
    expected = float(slow(ts.scene).linear_velocity[1, 1])
    assert float(out.scene.linear_velocity[1, 1]) == pytest.approx(expected, abs=1e-5)
