"""Physics prior: box proxies from Gaussians, MuJoCo simulation, actions, purity."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from spatialwm.data.actions import CameraAction, PlaceAction, PushAction, WaitAction
from spatialwm.dynamics import (
    PhysicsPrior,
    Proxies,
    box_corners,
    clearance,
    ground_proxies,
    proxies_from_state,
    step_prior,
)
from spatialwm.dynamics.model import DynamicsModel, load_model, step_dynamics
from spatialwm.errors import InputError
from spatialwm.scene.state import SceneState, from_world_gaussians, quat_multiply, quat_to_matrix

Box = tuple[tuple[float, float, float], tuple[float, float, float], float]  # centre, half, yaw


def _yaw_matrix(yaw: float) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _scene(boxes: list[Box], n: int = 400, seed: int = 0) -> SceneState:
    """A state whose objects are Gaussians filling ``boxes`` (world centre, half extents,
    yaw), plus per object 1 % confident outliers just outside the box and 5 % faint floaters
    far away, over a background of ground Gaussians."""
    g = torch.Generator().manual_seed(seed)
    nb = 64
    bg = (torch.rand(nb, 3, generator=g) - 0.5) * torch.tensor([1.0, 1.0, 0.0])  # ground
    means, groups, opac = [bg], [torch.zeros(nb, dtype=torch.long)], [torch.full((nb,), 3.0)]
    for i, (centre, half, yaw) in enumerate(boxes):
        h = torch.tensor(half)
        local = (torch.rand(n, 3, generator=g) * 2 - 1) * h
        n_out, n_float = n // 100, n // 20
        local[:n_out] = (torch.rand(n_out, 3, generator=g) * 2 - 1) * h * 1.6  # near outliers
        local[n_out : n_out + n_float] += torch.randn(n_float, 3, generator=g) * 0.3  # floaters
        op = torch.full((n,), 3.0)
        op[n_out : n_out + n_float] = -3.0  # faint
        means.append(local @ _yaw_matrix(yaw).T + torch.tensor(centre))
        groups.append(torch.full((n,), i + 1))
        opac.append(op)
    mean = torch.cat(means)
    count = len(mean)
    params = {
        "means": mean,
        "quats": torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(count, 1),
        "scales": torch.full((count, 3), -5.0),
        "opacities": torch.cat(opac),
        "sh0": torch.rand(count, 1, 3, generator=g),
    }
    ids = [0, *[10 + i for i in range(len(boxes))]]  # dataset ids differ from group indices
    names = ["background", *[f"box{i}" for i in range(len(boxes))]]
    return from_world_gaussians(params, torch.cat(groups), ids, names)


CUBE = (0.02, 0.02, 0.02)


def _corners(proxies: Proxies, state: SceneState) -> torch.Tensor:
    """``[K, 8, 3]`` world corners of the objects' proxy boxes in ``state``."""
    return box_corners(proxies, state.positions[1:], state.orientations[1:])


def _overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Penetration depth of two boxes given by their corners ``[8, 3]`` (separating axis test;
    negative: the gap between them)."""

    def axes(c: torch.Tensor) -> list[torch.Tensor]:
        return [c[4] - c[0], c[2] - c[0], c[1] - c[0]]  # corner order of box_corners

    ea, eb = axes(a.double()), axes(b.double())
    depth = math.inf
    for axis in ea + eb + [torch.linalg.cross(x, y) for x in ea for y in eb]:
        if axis.norm() < 1e-9:
            continue
        axis = axis / axis.norm()
        pa, pb = a.double() @ axis, b.double() @ axis
        depth = min(
            depth, float(torch.minimum(pa.max(), pb.max()) - torch.maximum(pa.min(), pb.min()))
        )
    return depth


def _run(prior: PhysicsPrior, state: SceneState, first, steps: int, dt: float = 0.1):
    states = [step_prior(prior, state, first, dt=dt)]
    for _ in range(steps - 1):
        states.append(step_prior(prior, states[-1], WaitAction(), dt=dt))
    return states


# ------------------------------------------------------------------------------ proxies
def test_proxies_match_sampled_box():
    boxes = [((0.1, -0.05, 0.01), (0.03, 0.015, 0.01), 0.5), ((-0.1, 0.1, 0.02), CUBE, 0.0)]
    state = _scene(boxes, n=1000)
    proxies = proxies_from_state(state)
    assert len(proxies) == 2 and proxies.object_ids.tolist() == [10, 11]
    for k, (centre, half, yaw) in enumerate(boxes):
        world_centre = state.positions[k + 1] + proxies.centre[k]  # canonical = world axes
        assert torch.allclose(world_centre, torch.tensor(centre), atol=3e-3)
        assert torch.allclose(proxies.half_extents[k], torch.tensor(half), atol=3e-3)
        q = proxies.rotation[k]
        fitted = 2 * math.atan2(float(q[3]), float(q[0]))
        d = (fitted - yaw) % (math.pi / 2)
        assert min(d, math.pi / 2 - d) < math.radians(3), (fitted, yaw)
        # the corners of the proxy are the sampled box's corners
        got = _corners(proxies, state)[k]
        want = torch.tensor(centre) + _scene_corners(half, yaw)
        assert (torch.cdist(got, want).min(1).values < 6e-3).all()
    volume = 8 * proxies.half_extents.prod(-1)
    assert torch.allclose(proxies.mass, 500.0 * volume, rtol=1e-4)
    assert torch.equal(proxies.friction, torch.full((2,), 0.5))
    heavy = proxies_from_state(state, density=1000.0, friction=0.3)
    assert torch.allclose(heavy.mass, 2 * proxies.mass)
    assert float(heavy.friction[0]) == pytest.approx(0.3)
    with pytest.raises(InputError, match="density"):
        proxies_from_state(state, density=-1.0)


def _scene_corners(half, yaw: float) -> torch.Tensor:
    unit = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
    return (unit * torch.tensor(half)) @ _yaw_matrix(yaw).T


def test_hull_is_grown_to_the_surface_by_the_gaussians_scale():
    """Gaussian centres lie inside the surface by about their scale: the hull of the centres
    is grown by the confident Gaussians' median scale, and clipped to the box grown as much."""
    half = (0.03, 0.02, 0.015)
    state = _scene([((0.0, 0.0, 0.05), half, 0.0)], n=2000)
    scale = math.exp(-5.0)  # _scene's Gaussians
    proxies = proxies_from_state(state, hull=True)
    hull = proxies.hull[0].double()
    box = proxies.half_extents[0].double()
    reach = hull.abs().amax(0)  # extent of the hull along the box axes
    assert torch.allclose(reach, box + scale, atol=1e-4), (reach, box + scale)
    # in a flat, degenerate cloud the hull falls back to the grown box
    g = state.gaussians
    flat = dataclasses.replace(g, means=g.means * torch.tensor([1.0, 1.0, 0.0]))
    flat_hull = proxies_from_state(dataclasses.replace(state, gaussians=flat), hull=True).hull[0]
    assert flat_hull.shape == (8, 3)


def test_thin_objects_get_minimum_boxes():
    state = _scene([((0.0, 0.0, 0.001), (0.0005, 0.02, 0.0005), 0.0)])
    proxies = proxies_from_state(state)
    assert (proxies.half_extents >= 0.0025 - 1e-7).all()
    assert (proxies.mass >= 0.005 - 1e-7).all()


# ------------------------------------------------------------------------------ physics
def test_dropped_object_comes_to_rest_on_the_ground():
    state = _scene([((0.0, 0.0, 0.115), (0.02, 0.03, 0.015), 0.3)])
    proxies = proxies_from_state(state)
    prior = PhysicsPrior(proxies)
    assert float(_corners(proxies, state)[..., 2].min()) > 0.09
    final = _run(prior, state, WaitAction(), 15)[-1]
    bottom = float(_corners(proxies, final)[..., 2].min())
    assert abs(bottom) < 3e-3
    assert float(final.linear_velocity[1:].norm()) < 1e-2
    assert float(final.angular_velocity[1:].norm()) < 1e-1
    assert torch.allclose(final.positions[1, :2], state.positions[1, :2], atol=5e-3)


def test_push_slides_along_x_and_stops_leaving_a_bystander_alone():
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.0, 0.3, 0.02), CUBE, 0.4)])
    prior = PhysicsPrior(proxies_from_state(state))
    states = _run(prior, state, PushAction(10, (0.8, 0.0, 0.0)), 10)
    assert states[0].linear_velocity[1, 0] > 0.1  # still sliding after the first step
    final = states[-1]
    moved = final.positions[1] - state.positions[1]
    assert 0.02 < float(moved[0]) < 0.3, moved  # v^2 / (2 mu g) = 6.5 cm
    assert abs(float(moved[1])) < 0.1 * float(moved[0])
    assert float(final.linear_velocity[1].norm()) < 1e-2
    # the bystander only settles onto the ground (its box bottom starts ~1 mm above it)
    assert torch.allclose(final.positions[2, :2], state.positions[2, :2], atol=1e-3)
    assert abs(float(final.positions[2, 2] - state.positions[2, 2])) < 3e-3
    assert torch.allclose(final.orientations[2], state.orientations[2], atol=1e-3)


@pytest.mark.parametrize("speed", [0.8, 2.0])
def test_colliding_objects_do_not_interpenetrate(speed):
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.12, 0.0, 0.02), CUBE, 0.2)])
    proxies = proxies_from_state(state)
    prior = PhysicsPrior(proxies)
    pushes = [PushAction(10, (speed, 0.0, 0.0)), PushAction(11, (-speed, 0.0, 0.0))]
    states = _run(prior, state, pushes, 50, dt=0.02)  # check often: every 20 ms
    depths = [_overlap(*_corners(proxies, s)) for s in states]
    assert max(depths) < 5e-3, max(depths)
    assert max(depths) > -2e-3  # they did meet
    for s in states:
        assert float(_corners(proxies, s)[..., 2].min()) > -5e-3  # nor sink into the ground


def test_resting_objects_sleep_until_touched():
    # a bystander tilted 20 degrees on one edge (not in equilibrium) stays exactly put while
    # asleep; the same box hit by a pushed one wakes up and moves
    tilt = torch.tensor([math.cos(0.175), math.sin(0.175), 0.0, 0.0])
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.2, 0.0, 0.026), CUBE, 0.0)])
    orient = state.orientations.clone()
    orient[2] = tilt
    state = state.replace(orientations=orient)
    prior = PhysicsPrior(proxies_from_state(state))
    after = step_prior(prior, state, WaitAction())
    assert torch.allclose(after.positions[2], state.positions[2], atol=1e-6)
    assert abs(abs(float(after.orientations[2] @ tilt)) - 1) < 1e-6
    awake = PhysicsPrior(proxies_from_state(state), sleep_speed=None)
    fell = step_prior(awake, state, WaitAction())
    assert abs(abs(float(fell.orientations[2] @ tilt)) - 1) > 1e-4  # without sleep it tips
    hit = _run(prior, state, PushAction(10, (2.0, 0.0, 0.0)), 4)
    assert float((hit[-1].positions[2] - state.positions[2]).norm()) > 0.01
    # an object at rest in the air is not asleep: it falls
    air = _scene([((0.0, 0.0, 0.1), CUBE, 0.0)])
    dropped = step_prior(PhysicsPrior(proxies_from_state(air)), air, WaitAction())
    assert float(dropped.positions[1, 2]) < float(air.positions[1, 2]) - 0.01


def test_separate_pushes_overlapping_proxies_apart():
    # two cubes 2.5 cm into each other, the second also 1 cm into the ground
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.015, 0.0, 0.01), CUBE, 0.3)])
    proxies = proxies_from_state(state)
    prior = PhysicsPrior(proxies)
    g0, o0 = prior.penetration(state.positions[1:], state.orientations[1:])
    assert o0 > 0.02 and g0 > 0.005
    pos = prior.separate(state.positions[1:], state.orientations[1:])
    g, o = prior.penetration(pos, state.orientations[1:])
    assert g <= 1.5e-3 and o <= 1.5e-3, (g, o)
    moved = (pos - state.positions[1:]).norm(dim=-1)
    assert float(moved.max()) < 0.05  # no more than the overlap requires
    # nothing overlapping: unchanged
    apart = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.2, 0.0, 0.02), CUBE, 0.0)])
    prior2 = PhysicsPrior(proxies_from_state(apart))
    same = prior2.separate(apart.positions[1:], apart.orientations[1:])
    assert torch.allclose(same, apart.positions[1:], atol=1e-6)


def test_touching_proxies_keep_their_overlap_and_still_resist_deeper():
    # crude boxes of two touching objects start 1 cm into each other: a step leaves them be
    # (no separation, no MuJoCo repulsion), a push into the pair still cannot go deeper
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.03, 0.0, 0.02), CUBE, 0.0)])
    prior = PhysicsPrior(proxies_from_state(state))
    p0, q0 = state.positions[1:], state.orientations[1:]
    start = prior.overlaps(p0, q0)
    assert start.shape == (2, 2) and float(start[0, 1]) > 0.008 and float(start[0, 0]) == 0
    assert torch.equal(start, start.T)
    assert torch.allclose(prior.separate(p0, q0, allowed=start), p0, atol=1e-6)
    assert prior.penetration(p0, q0)[1] == pytest.approx(float(start[0, 1]))
    assert prior.penetration(p0, q0, allowed=start) == (0.0, 0.0)
    still = step_dynamics(DynamicsModel(), prior, state, WaitAction(), mode="prior")
    assert torch.allclose(still.positions, state.positions, atol=1e-3)
    awake = PhysicsPrior(proxies_from_state(state), sleep_speed=None)  # not only by sleeping
    still = step_prior(awake, state, WaitAction())
    assert torch.allclose(still.positions, state.positions, atol=2e-3)
    states = [step_dynamics(DynamicsModel(), prior, state, PushAction(10, (1.0, 0.0, 0.0)),
                            mode="prior")]  # fmt: skip
    for _ in range(5):
        states.append(step_dynamics(DynamicsModel(), prior, states[-1], WaitAction(),
                                    mode="prior"))  # fmt: skip
    deepest = max(float(prior.overlaps(s.positions[1:], s.orientations[1:])[0, 1]) for s in states)
    assert deepest < float(start[0, 1]) + 5e-3, (deepest, float(start[0, 1]))
    assert float(states[-1].positions[2, 0] - state.positions[2, 0]) > 0.01  # pushed along


def test_overlap_with_another_object_does_not_let_an_object_into_the_ground():
    # the first cube falls 1 cm while 1 cm into the last one: its ground contact must hold
    # (each pair's tolerated overlap is its own, not another pair's)
    state = _scene([((0.0, 0.0, 0.03), CUBE, 0.0), ((0.03, 0.0, 0.02), CUBE, 0.0)])
    proxies = proxies_from_state(state)
    prior = PhysicsPrior(proxies, sleep_speed=None)
    assert float(prior.overlaps(state.positions[1:], state.orientations[1:])[0, 1]) > 0.008
    states = _run(prior, state, WaitAction(), 3)
    lowest = min(float(_corners(proxies, s)[0, :, 2].min()) for s in states)
    assert lowest > -3e-3, lowest


def test_no_body_ends_a_step_faster_than_physics_allows(monkeypatch):
    # the guard (re-simulate finer, then cap) against soft contacts feeding energy into a
    # degenerate proxy; exercised here by lowering the allowance below free fall's
    import spatialwm.dynamics.prior as prior_module

    air = _scene([((0.0, 0.0, 1.0), CUBE, 0.0)])
    prior = PhysicsPrior(proxies_from_state(air))
    p, q = air.positions[1:], air.orientations[1:]
    zeros = torch.zeros(1, 3)
    free = prior.simulate(p, q, zeros, zeros, 0.1)
    assert float(free[2].norm()) == pytest.approx(0.981, abs=0.01)  # g dt
    monkeypatch.setattr(prior_module, "ENERGY_SLACK", -0.5)
    capped = prior.simulate(p, q, zeros, zeros, 0.1)
    assert float(capped[2].norm()) == pytest.approx(0.481, abs=0.01)


def test_pushed_box_slides_on_the_ground_without_hopping():
    # MuJoCo's soft contacts with friction as stiff as the normal launched sliding boxes
    half = (0.04, 0.04, 0.02)
    state = _scene([((0.0, 0.0, 0.02), half, 0.0)])
    proxies = dataclasses.replace(proxies_from_state(state), centre=torch.zeros(1, 3),
                                  half_extents=torch.tensor([half]))  # fmt: skip
    prior = PhysicsPrior(proxies)
    z = []
    s = step_prior(prior, state, PushAction(10, (0.0, -1.6, 0.0)), dt=0.02)
    for _ in range(10):
        z.append(float(_corners(proxies, s)[..., 2].min()))
        s = step_prior(prior, s, WaitAction(), dt=0.02)
    assert max(z) < 6e-3, z  # was 29 mm
    slid = -float(s.positions[1, 1] - state.positions[1, 1])
    coulomb = 1.6**2 / (2 * float(proxies.friction[0]) * 9.81)
    assert 0.8 * coulomb < slid < 1.3 * coulomb, (slid, coulomb)


def test_clearance_is_the_lowest_box_corner():
    g = torch.Generator().manual_seed(7)
    k = 5
    proxies = Proxies(
        object_ids=torch.arange(k),
        centre=torch.randn(k, 3, generator=g) * 0.05,
        rotation=torch.randn(k, 4, generator=g),
        half_extents=torch.rand(k, 3, generator=g) * 0.1 + 0.005,
        mass=torch.ones(k),
        friction=torch.full((k,), 0.5),
    )
    proxies = dataclasses.replace(
        proxies, rotation=proxies.rotation / proxies.rotation.norm(dim=-1, keepdim=True)
    )
    p = torch.randn(k, 3, generator=g).double()
    q = torch.randn(k, 4, generator=g).double()
    got = clearance(proxies, p, q)
    want = box_corners(proxies, p.float(), q.float()).double()[..., 2].amin(-1)
    assert got.dtype == torch.float64 and got.shape == (k,)
    assert torch.allclose(got, want, atol=1e-5), (got, want)


def test_ground_proxies_touch_the_ground():
    state = _scene([((0.0, 0.0, 0.025), CUBE, 0.3), ((0.2, 0.0, 0.015), CUBE, 0.0),
                    ((0.4, 0.0, 0.1), CUBE, 0.0)])  # fmt: skip
    proxies = proxies_from_state(state)
    p, q = state.positions[1:], state.orientations[1:]
    low = _corners(proxies, state)[..., 2].amin(-1)
    assert float(low[0]) > 0.003 and float(low[1]) < -0.003  # hovering 5 mm; 5 mm in
    grounded = ground_proxies(proxies, p, q)
    new_low = box_corners(grounded, p, q)[..., 2].amin(-1)
    assert torch.allclose(new_low[:2], torch.zeros(2), atol=1e-5), new_low
    assert float(new_low[2]) == pytest.approx(float(low[2]), abs=1e-6)  # 8 cm up: not resting
    top = box_corners(proxies, p, q)[..., 2].amax(-1)
    assert torch.allclose(box_corners(grounded, p, q)[..., 2].amax(-1), top, atol=1e-5)
    ratio = grounded.half_extents.prod(-1) / proxies.half_extents.prod(-1)
    assert torch.allclose(grounded.mass / proxies.mass, ratio, rtol=1e-4)
    with pytest.raises(InputError, match="poses"):
        ground_proxies(proxies, p[:1], q)


def test_object_sunk_into_the_ground_is_lifted_gently_when_it_moves():
    state = _scene([((0.0, 0.0, 0.01), CUBE, 0.0)])  # 1 cm into the ground
    proxies = proxies_from_state(state)
    for prior, action in ((PhysicsPrior(proxies, sleep_speed=None), WaitAction()),
                          (PhysicsPrior(proxies), PushAction(10, (0.3, 0.0, 0.0)))):  # fmt: skip
        after = step_prior(prior, state, action)
        assert abs(float(_corners(proxies, after)[..., 2].min())) < 3e-3
        assert abs(float(after.linear_velocity[1, 2])) < 0.05


def test_resting_object_in_the_ground_stays_where_it_rests():
    # a crude box around a toppled object lies partly in the ground in its true resting pose:
    # asleep, it is not lifted, by the prior or by the separation after a learned correction
    tilt = torch.tensor([math.cos(0.3), math.sin(0.3), 0.0, 0.0])  # 34 degrees about x
    state = _scene([((0.0, 0.0, 0.015), CUBE, 0.0), ((0.2, 0.0, 0.02), CUBE, 0.0)])
    orient = state.orientations.clone()
    orient[1] = tilt
    state = state.replace(orientations=orient)
    prior = PhysicsPrior(proxies_from_state(state))
    p0, q0 = state.positions[1:], state.orientations[1:]
    sunk = prior.sunk(p0, q0)
    lowest = _corners(prior.proxies, state)[..., 2].amin(-1)
    assert torch.allclose(sunk, (-lowest).clamp_min(0).double(), atol=1e-6)
    assert float(sunk[0]) > 0.01 and float(sunk[1]) < 1e-6
    assert prior.penetration(p0, q0)[0] == pytest.approx(float(sunk[0]), abs=1e-4)
    assert prior.penetration(p0, q0, sunk=sunk) == pytest.approx((0.0, 0.0), abs=1e-9)
    assert torch.allclose(prior.separate(p0, q0, sunk=sunk), p0, atol=1e-6)
    assert float((prior.separate(p0, q0) - p0)[0, 2]) > 0.01  # without the allowance: lifted
    for mode in ("prior", "prior+learned"):
        after = step_dynamics(load_model(), prior, state, WaitAction(), mode=mode)
        assert torch.equal(after.positions, state.positions), mode
    # a push still lifts it: awake, it is simulated from on the ground
    pushed = step_prior(prior, state, PushAction(10, (0.5, 0.0, 0.0)))
    assert float(_corners(prior.proxies, pushed)[0, :, 2].min()) > -3e-3


def test_pair_friction_applies_between_objects_only():
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.2, 0.0, 0.02), CUBE, 0.0)])
    proxies = proxies_from_state(state, friction=0.6)
    for pair, expected in ((None, 0.6), (1.3, 1.3)):
        prior = PhysicsPrior(proxies, pair_friction=pair)
        ground = (prior._pair_objects < 0).any(axis=1)
        mu = prior.model.pair_friction[:, 0]
        assert ground.sum() == 2 and (~ground).sum() == 1
        assert mu[ground].tolist() == pytest.approx([0.6, 0.6])
        assert mu[~ground].tolist() == pytest.approx([expected])
    for bad in (-0.1, math.nan, 6.0):
        with pytest.raises(InputError, match="pair_friction"):
            PhysicsPrior(proxies, pair_friction=bad)


def test_state_friction_replaces_the_ground_friction_for_the_step():
    # a state's friction estimate slides each object as a prior built with that friction
    # would, leaves the friction between objects alone, and is not kept for the next state
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.0, 0.3, 0.02), CUBE, 0.4)])
    push = [PushAction(10, (1.2, 0.0, 0.0)), PushAction(11, (0.0, -0.9, 0.0))]
    mu = torch.tensor([0.0, 0.45, 0.8])
    built = PhysicsPrior(proxies_from_state(state, friction=0.6), pair_friction=1.0)
    want = []
    for k in (1, 2):
        own = PhysicsPrior(proxies_from_state(state, friction=float(mu[k])), pair_friction=1.0)
        want.append(_run(own, state, push, 4)[-1].positions[k])
    got = _run(built, state.replace(friction=mu), push, 4)[-1]
    for k in (1, 2):
        assert torch.allclose(got.positions[k], want[k - 1], atol=1e-6), k
    plain = _run(built, state, push, 4)[-1]
    assert float((plain.positions[1] - got.positions[1]).norm()) > 0.02  # it mattered
    ground = (built._pair_objects < 0).any(axis=1)
    assert built.model.pair_friction[ground, 0].tolist() == pytest.approx([0.6, 0.6])
    assert built.model.pair_friction[~ground, 0].tolist() == pytest.approx([1.0])
    with pytest.raises(InputError, match="friction"):
        _run(built, state.replace(friction=torch.tensor([0.0, -1.0, 0.5])), push, 1)


def test_hull_geom_rests_on_the_ground():
    state = _scene([((0.0, 0.0, 0.08), (0.02, 0.03, 0.015), 0.3)])
    proxies = proxies_from_state(state, hull=True)
    assert proxies.hull is not None and proxies.hull[0].shape[1] == 3
    prior = PhysicsPrior(proxies, geom="hull")
    final = _run(prior, state, WaitAction(), 10)[-1]
    q_obj = final.orientations[1:]
    box_to_world = quat_to_matrix(quat_multiply(q_obj, proxies.rotation))[0]
    origin = final.positions[1] + quat_to_matrix(q_obj)[0] @ proxies.centre[0]
    hull = origin + proxies.hull[0] @ box_to_world.T
    assert abs(float(hull[:, 2].min())) < 3e-3  # the hull, grown to the surface, rests on it
    margin = math.exp(-5.0)  # the Gaussians' scale: the box of their centres is that high
    assert float(_corners(proxies, final)[..., 2].min()) == pytest.approx(margin, abs=2e-3)
    assert float(final.linear_velocity[1:].norm()) < 1e-2
    with pytest.raises(InputError, match="hull"):
        PhysicsPrior(proxies_from_state(state), geom="hull")


def _slab_pair(gap: float) -> tuple[Proxies, SceneState]:
    """Two 10 cm cubes on the ground whose boxes overlap by 2 cm along x but whose objects
    are thin slabs at the far ends of their boxes (hull: 2 cm thick, full height and depth),
    ``gap`` (m) further apart than that: a box is a poor proxy for an L, a mug, a wedge."""
    h = 0.05
    slab_a = torch.tensor([[x, y, z] for x in (-h, -h + 0.02) for y in (-h, h) for z in (-h, h)])
    slab_b = torch.tensor([[x, y, z] for x in (h - 0.02, h) for y in (-h, h) for z in (-h, h)])
    proxies = Proxies(
        object_ids=torch.tensor([10, 11]),
        centre=torch.zeros(2, 3),
        rotation=torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2),
        half_extents=torch.full((2, 3), h),
        mass=torch.full((2,), 0.2),
        friction=torch.full((2,), 0.5),
        hull=(slab_a, slab_b),
    )
    state = _scene([((0.0, 0.0, h), (h, h, h), 0.0)] * 2)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, h], [2 * h - 0.02 + gap, 0.0, h]])
    state = state.replace(positions=pos, orientations=torch.tensor([[1.0, 0, 0, 0]] * 3))
    return proxies, state


def test_box_and_hull_geom_collides_objects_by_their_hulls():
    """``geom="box+hull"``: two objects touch where their hulls do, not where their boxes
    do; a push that closes the boxes' overlap but not the hulls' gap leaves the neighbour
    asleep where it was (boxes: it is shoved away)."""
    proxies, state = _slab_pair(0.0)
    p, q = state.positions[1:], state.orientations[1:]
    boxes, mixed = PhysicsPrior(proxies), PhysicsPrior(proxies, geom="box+hull")
    assert float(boxes.overlaps(p, q)[0, 1]) == pytest.approx(0.02, abs=1e-3)
    assert float(mixed.overlaps(p, q)[0, 1]) == 0.0
    push = PushAction(10, (0.8, 0.0, 0.0))
    for prior, moved in ((boxes, True), (mixed, False)):
        final = _run(prior, state, push, 5)[-1]
        shift = float((final.positions[2] - state.positions[2]).norm())
        assert (shift > 0.01) if moved else (shift == 0.0), (prior.geom, shift)
        slid = float(final.positions[1, 0])  # free: 0.8^2 / (2 * 0.5 * 9.81) = 6.5 cm
        assert (slid < 0.03) if moved else (0.055 < slid < 0.075), (prior.geom, slid)


def test_box_and_hull_geom_stands_on_its_box():
    """The ground touches the box, not the hull: a hull that stops above the box's bottom
    (the Gaussians' centres of a table-top object) does not let the object sink to it."""
    proxies, state = _slab_pair(0.05)
    high = tuple(torch.cat([h[:, :2], h[:, 2:].clamp_min(-0.02)], dim=1) for h in proxies.hull)
    proxies = dataclasses.replace(proxies, hull=high)
    state = state.replace(positions=state.positions + torch.tensor([0.0, 0.0, 0.01]))
    for geom, rest in (("box+hull", 0.05), ("hull", 0.02)):
        prior = PhysicsPrior(proxies, geom=geom)
        final = _run(prior, state, WaitAction(), 10)[-1]
        assert float(final.positions[1, 2]) == pytest.approx(rest, abs=3e-3), geom
    with pytest.raises(InputError, match="box\\+hull"):
        PhysicsPrior(dataclasses.replace(proxies, hull=None), geom="box+hull")
    with pytest.raises(InputError, match="geom must be one of"):
        PhysicsPrior(proxies, geom="sphere")


def test_pose_conventions_in_free_flight():
    """No gravity, no contact: the box centre moves at constant velocity and the canonical
    frame rotates about it, whatever the box's offset and rotation in that frame."""
    half = math.sqrt(0.5)
    proxies = Proxies(
        object_ids=torch.tensor([3]),
        centre=torch.tensor([[0.05, -0.02, 0.01]]),
        rotation=torch.tensor([[math.cos(0.3), 0.0, 0.0, math.sin(0.3)]]),
        half_extents=torch.tensor([[0.01, 0.02, 0.03]]),
        mass=torch.tensor([0.1]),
        friction=torch.tensor([0.5]),
    )
    prior = PhysicsPrior(proxies, gravity=0.0)
    p = torch.tensor([[0.1, 0.2, 1.0]])
    q = torch.tensor([[half, half, 0.0, 0.0]])  # 90 degrees about x
    v = torch.tensor([[0.3, -0.1, 0.2]])
    zero = torch.zeros(1, 3)
    p1, q1, v1, w1 = prior.simulate(p, q, v, zero, 0.5)  # pure translation
    assert torch.allclose(p1, p + 0.5 * v, atol=1e-6)
    assert torch.allclose(q1, q, atol=1e-6) and torch.allclose(v1, v, atol=1e-6)
    assert torch.allclose(w1, zero, atol=1e-6)
    # spin at 2 rad/s for 0.25 s about the box's z axis (a principal axis: no precession),
    # which is the canonical z axis, i.e. world -y: the orientation turns by 0.5 rad and the
    # canonical origin circles the box centre
    w = torch.tensor([[0.0, -2.0, 0.0]])
    p2, q2, v2, w2 = prior.simulate(p, q, zero, w, 0.25)
    turn = torch.tensor([[math.cos(0.25), 0.0, -math.sin(0.25), 0.0]])
    assert torch.allclose(q2, quat_multiply(turn, q), atol=1e-5)
    assert torch.allclose(w2, w, atol=1e-5)
    arm = quat_to_matrix(q[0]) @ proxies.centre[0]  # canonical origin -> box centre
    arm2 = quat_to_matrix(q2[0]) @ proxies.centre[0]
    # the canonical origin starts at rest, so the centre of mass moves at w x arm
    v_com = torch.linalg.cross(w[0], arm)
    assert torch.allclose(p2[0] + arm2, p[0] + arm + 0.25 * v_com, atol=1e-5)
    assert torch.allclose(v2[0], v_com - torch.linalg.cross(w[0], arm2), atol=1e-5)


# ------------------------------------------------------------------------- step_prior
def test_actions_place_and_camera():
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.2, 0.0, 0.02), CUBE, 0.0)])
    proxies = proxies_from_state(state)
    prior = PhysicsPrior(proxies)
    yaw = (math.cos(0.4), 0.0, 0.0, math.sin(0.4))
    c2w = torch.eye(4)
    c2w[2, 3] = 1.0
    # the pose places the canonical frame; its origin is not the box centre (the floaters
    # shifted it), so lift it by the box's offset to set the box just above the ground
    z = 0.0205 - float(proxies.centre[1, 2])
    place = PlaceAction(11, (0.5, 0.5, z, *yaw))
    after = step_prior(prior, state, [place, CameraAction("cam", c2w)])
    assert torch.allclose(after.positions[2], torch.tensor([0.5, 0.5, z]), atol=3e-3)
    assert torch.allclose(after.orientations[2], torch.tensor(yaw), atol=1e-3)
    assert abs(float(_corners(proxies, after)[1, :, 2].min())) < 3e-3
    assert after.step == state.step + 1
    assert torch.equal(after.positions[0], state.positions[0])  # background never moves
    assert torch.equal(step_prior(prior, state, []).positions, step_prior(prior, state).positions)


def test_deterministic():
    state = _scene([((0.0, 0.0, 0.05), CUBE, 0.0), ((0.06, 0.0, 0.02), CUBE, 0.3)])
    prior = PhysicsPrior(proxies_from_state(state))
    push = PushAction(10, (1.0, 0.2, 0.0))
    a = step_prior(prior, state, push)
    step_prior(prior, a, PushAction(11, (-2.0, 0.0, 1.0)))  # unrelated call in between
    b = step_prior(PhysicsPrior(prior.proxies), state, push)  # and a fresh prior
    c = step_prior(prior, state, push)
    for name in ("positions", "orientations", "linear_velocity", "angular_velocity"):
        assert torch.equal(getattr(a, name), getattr(c, name)), name
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_input_state_is_not_mutated():
    state = _scene([((0.0, 0.0, 0.05), CUBE, 0.0), ((0.06, 0.0, 0.02), CUBE, 0.3)])
    prior = PhysicsPrior(proxies_from_state(state))
    fields = ("positions", "orientations", "linear_velocity", "angular_velocity", "offsets")
    before = {f: getattr(state, f).clone() for f in fields}
    means = state.gaussians.means.clone()
    after = step_prior(
        prior,
        state,
        [PushAction(10, (1.0, 0.0, 0.0)), PlaceAction(11, (0.3, 0.0, 0.1, 1.0, 0.0, 0.0, 0.0))],
    )
    for f in fields:
        assert torch.equal(getattr(state, f), before[f]), f
    assert torch.equal(state.gaussians.means, means) and state.step == 0
    assert after is not state and after.gaussians is state.gaussians
    assert not torch.equal(after.positions, state.positions)


def _tampered(action, field: str, value):
    """``action`` with ``field`` set to ``value``, bypassing the dataclass's validation."""
    bad = dataclasses.replace(action)
    object.__setattr__(bad, field, value)
    return bad


def test_bad_inputs():
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0)])
    prior = PhysicsPrior(proxies_from_state(state))
    with pytest.raises(InputError, match="99"):
        step_prior(prior, state, PushAction(99, (1.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="finite"):
        PushAction(10, (math.nan, 0.0, 0.0))  # the schema rejects it...
    nan_push = _tampered(PushAction(10, (0.0, 0.0, 0.0)), "velocity", (math.nan, 0.0, 0.0))
    with pytest.raises(InputError, match="finite"):  # ...and so does step_prior
        step_prior(prior, state, nan_push)
    with pytest.raises(InputError, match="exceeds"):
        step_prior(prior, state, PushAction(10, (1000.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="from the origin"):
        step_prior(prior, state, PlaceAction(10, (500.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)))
    zero_q = _tampered(
        PlaceAction(10, (0.0, 0.0, 0.1, 1.0, 0.0, 0.0, 0.0)), "pose", (0.0, 0.0, 0.1, 0, 0, 0, 0)
    )
    with pytest.raises(InputError, match="zero quaternion"):
        step_prior(prior, state, zero_q)
    with pytest.raises(InputError, match="background"):
        step_prior(prior, state, _tampered(PushAction(10, (1.0, 0.0, 0.0)), "object", 0))
    with pytest.raises(InputError, match="dt"):
        step_prior(prior, state, WaitAction(), dt=math.inf)
    other = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.1, 0.0, 0.02), CUBE, 0.0)])
    with pytest.raises(InputError, match="prior simulates"):
        step_prior(prior, other, WaitAction())
    with pytest.raises(InputError, match="orientations"):
        prior.simulate(
            torch.zeros(1, 3), torch.zeros(1, 4), torch.zeros(1, 3), torch.zeros(1, 3), 0.1
        )


def test_unstable_state_is_recovered_quietly(tmp_path, monkeypatch):
    # absurd velocities (a corrupted or learned state) make MuJoCo unstable: the step is
    # retried with capped velocities, stays finite, and no MUJOCO_LOG.TXT is written
    monkeypatch.chdir(tmp_path)
    state = _scene([((0.0, 0.0, 0.02), CUBE, 0.0), ((0.05, 0.0, 0.02), CUBE, 0.0)])
    lin, ang = state.linear_velocity.clone(), state.angular_velocity.clone()
    ang[1] = torch.tensor([1e7, 0.0, 1e7])
    lin[2] = torch.tensor([1e6, 0.0, 0.0])
    state = state.replace(linear_velocity=lin, angular_velocity=ang)
    prior = PhysicsPrior(proxies_from_state(state))
    out = prior.simulate(state.positions[1:], state.orientations[1:], lin[1:], ang[1:], 0.1)
    for t in out:
        assert torch.isfinite(t).all()
    assert float(out[2].norm(dim=-1).max()) <= 10.5 and float(out[3].norm(dim=-1).max()) <= 51
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
