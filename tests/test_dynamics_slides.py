"""The floor's friction read off trajectories (spatialwm.dynamics.slides): one clean slide
gives its friction exactly, dirty ones (stopping, turning, too short, unseen) give nothing,
and many slides are summarised by their median; the first step after a push, whose speed
is known, gives the friction too, whether the object still slides or stopped within it."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import coulomb_slide

from spatialwm.dynamics.slides import (
    along_ground,
    floor_friction,
    friction_of_push,
    friction_of_slide,
    push_step,
    still_sliding,
)

DT = 0.1


def test_a_clean_slide_gives_its_friction():
    for mu in (0.3, 0.6, 1.1):
        xy = coulomb_slide(mu, 3.0, 2)
        assert friction_of_slide(xy, DT) == pytest.approx(mu, rel=1e-6)


def test_dirty_slides_give_nothing():
    assert friction_of_slide(coulomb_slide(0.6, 1.0, 3)[1:], DT) is None  # stops within the step
    assert friction_of_slide(coulomb_slide(0.6, 0.3, 2), DT) is None  # steps under 2 cm
    turned = coulomb_slide(0.6, 2.0, 2)
    turned[2] = turned[1] + torch.tensor([0.1, -0.05], dtype=torch.float64)
    assert friction_of_slide(turned, DT) is None  # a turn or a collision
    unseen = coulomb_slide(0.6, 2.0, 2)
    unseen[0] = math.nan
    assert friction_of_slide(unseen, DT) is None


def test_few_slides_give_their_median():
    tracks = [
        coulomb_slide(0.5, 3.0, 4),
        coulomb_slide(0.7, 3.0, 4, direction=(0.0, -1.0)),
        coulomb_slide(0.6, 3.0, 4),
    ]
    tracks.append(torch.zeros(6, 2, dtype=torch.float64))  # at rest: no slide
    floor = floor_friction(tracks, DT)
    assert floor.slides == 3 * 3  # each slide of 4 steps has 3 triples, still sliding at 3 m/s
    assert floor.friction == pytest.approx(0.6, rel=1e-6)
    assert floor_friction([torch.zeros(5, 2)], DT) is None


def test_a_push_is_along_the_ground_without_vertical_speed():
    assert along_ground((2.0, 0.5, 0.0)) and along_ground(torch.tensor([1.0, 0.0, 1e-7]))
    assert not along_ground((2.0, 0.0, 0.5)) and not along_ground((0.0, 0.0, -0.01))


def test_floor_friction_is_where_the_sliders_agree():
    # 12 sliders around 0.61 (0.60 .. 0.62) and 8 that roll (0.1 .. 0.4): the median of all
    # sits low among the sliders, pulled down by the rollers; the spread comes from the
    # values above it (rolling does not widen it) and the floor's friction is the sliders'
    # centre: the median of the window of 3 spreads, moved until it stays
    sliders = [0.60 + 0.02 * k / 11 for k in range(12)]
    rollers = [0.1 + 0.3 * k / 7 for k in range(8)]
    tracks = [coulomb_slide(mu, 3.0, 2, start=(k, 0.0)) for k, mu in enumerate(sliders + rollers)]
    floor = floor_friction(tracks, DT)
    everything = float(torch.tensor(sliders + rollers, dtype=torch.float64).median())
    assert everything < 0.604
    assert floor.slides == 20
    assert floor.friction == pytest.approx(float(torch.tensor(sliders).double().median()))
    assert 0.002 < floor.spread < 0.02
    # within 3 spreads of the centre: sliders only
    assert floor.share == pytest.approx(sum(abs(v - floor.friction) <= 3 * floor.spread
                                            for v in sliders + rollers) / 20)  # fmt: skip
    assert floor.share == pytest.approx(12 / 20)
    few = floor_friction(tracks[:5], DT)  # under 10 slides: no spread, their median
    assert few.spread is None and few.share is None and few.slides == 5
    assert few.friction == pytest.approx(float(torch.tensor(sliders[:5]).double().median()))
    assert floor_friction([torch.zeros(5, 2)], DT) is None


def test_the_first_step_of_a_push_gives_its_friction():
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)
    for mu, v0 in ((0.3, 2.0), (0.6, 2.2), (1.07, 2.2), (1.8, 2.0), (2.5, 1.5), (0.8, 0.6)):
        xy = coulomb_slide(mu, v0, 1)
        stopped = v0 / (mu * 9.81) < DT  # the last two stop within the step
        assert stopped == ((mu, v0) in ((2.5, 1.5), (0.8, 0.6)))
        got = friction_of_push(xy, v0 * direction, DT)
        assert got == pytest.approx(mu, rel=1e-3), (mu, v0)


def test_dirty_push_starts_give_nothing():
    v = torch.tensor([1.2, 1.6], dtype=torch.float64)  # 2 m/s along (0.6, 0.8)
    xy = coulomb_slide(0.6, 2.0, 1)
    assert friction_of_push(xy, v, DT) == pytest.approx(0.6, rel=1e-3)
    assert friction_of_push(xy, 1.5 * v, DT) is not None
    assert friction_of_push(xy, 0.5 * v, DT) is None  # went further than the push can take it
    assert friction_of_push(xy, 0.1 * v, DT) is None  # a push of 2 cm per step or less
    turned = xy.clone()
    turned[1] = xy[0] + torch.tensor([0.16, -0.02], dtype=torch.float64)  # off the push's line
    assert friction_of_push(turned, v, DT) is None
    unseen = xy.clone()
    unseen[1] = math.nan
    assert friction_of_push(unseen, v, DT) is None
    assert friction_of_push(xy[[0, 0]], v, DT) is None  # did not move: held, not slid


def test_a_push_step_is_still_sliding_only_when_clean_and_not_stopped():
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)
    for mu, v0, sliding in (
        (0.6, 2.2, True),
        (1.8, 2.0, True),
        (2.5, 1.5, False),
        (0.8, 0.6, False),
    ):
        xy = coulomb_slide(mu, v0, 1)
        u, s = push_step(xy, v0 * direction, DT)
        assert u == pytest.approx(v0) and s == pytest.approx(float((xy[1] - xy[0]).norm()))
        assert still_sliding(xy, v0 * direction, DT) is sliding, (mu, v0)
    xy = coulomb_slide(0.6, 2.2, 1)
    turned = xy.clone()
    turned[1] = xy[0] + torch.tensor([0.16, -0.02], dtype=torch.float64)
    assert push_step(turned, 2.2 * direction, DT) is None
    assert not still_sliding(turned, 2.2 * direction, DT)
    assert not still_sliding(xy, 0.5 * 2.2 * direction, DT)  # further than the push goes


def _substeps(speed: float, friction: float, dt: float, n: int) -> tuple[float, float]:
    """Oracle of coulomb_slide: semi-implicit Euler, one substep at a time."""
    from spatialwm.dynamics.slides import GRAVITY

    h, v, x = dt / n, speed, 0.0
    for _ in range(n):
        v = max(0.0, v - friction * GRAVITY * h)
        x += v * h
    return x, v


def test_coulomb_slide_integrates_as_the_substeps_do():
    from spatialwm.dynamics.slides import GRAVITY, TIMESTEP, coulomb_slide

    g = torch.Generator().manual_seed(7)
    for _ in range(200):
        speed, friction = (float(x) for x in torch.rand(2, generator=g, dtype=torch.float64))
        speed, friction = 3.0 * speed, 1.5 * friction
        dt = float(torch.empty(1, dtype=torch.float64).uniform_(0.01, 0.2, generator=g))
        n = max(1, round(dt / TIMESTEP))
        assert coulomb_slide(speed, friction, dt) == pytest.approx(
            _substeps(speed, friction, dt, n), abs=1e-12
        )
    # the continuous limit, still sliding and stopped; a push with no friction keeps going
    for speed in (2.2, 0.3):
        d, v = coulomb_slide(speed, 0.6, DT, timestep=1e-5)
        a = 0.6 * GRAVITY
        expect = speed * DT - a * DT * DT / 2 if speed > a * DT else speed**2 / (2 * a)
        assert d == pytest.approx(expect, rel=1e-3) and v == pytest.approx(max(0, speed - a * DT))
    assert coulomb_slide(2.0, 0.0, DT) == (pytest.approx(0.2), 2.0)
    assert coulomb_slide(0.0, 0.6, DT) == (0.0, 0.0)
    # 24 substeps: a step covers friction g dt^2 / 48 less than in continuous time
    d24, _ = coulomb_slide(2.2, 0.6, DT)
    assert 2.2 * DT - 0.6 * GRAVITY * DT * DT / 2 - d24 == pytest.approx(
        0.6 * GRAVITY * DT * DT / 48
    )
    for bad in ((-1.0, 0.6, DT), (1.0, -0.1, DT), (1.0, 0.6, 0.0), (math.nan, 0.6, DT)):
        with pytest.raises(ValueError, match="coulomb_slide"):
            coulomb_slide(*bad)
