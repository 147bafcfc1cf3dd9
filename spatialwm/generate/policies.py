"""Action policies of the presets: what happens at each step, given the simulated state.

A policy sees the world after state ``t`` was observed (:class:`Context`) and returns the
actions of step ``t`` (see :mod:`spatialwm.data.actions`). Policies draw from their own
seeded generator, so a seed fixes the whole episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from spatialwm.data.actions import Action, CameraAction, PlaceAction, PushAction, WaitAction
from spatialwm.generate.presets import TABLE_CENTRE, TABLE_RADIUS, disk_sampler, qmul, yaw_quat
from spatialwm.generate.rig import orbit_c2w
from spatialwm.generate.sim import LATERAL_FRICTION, PLANE_FRICTION, PhysicsWorld

__all__ = ["CameraPolicy", "Context", "OcclusionPolicy", "Policy", "PushPolicy", "make_policy"]

_MU = PLANE_FRICTION * LATERAL_FRICTION  # effective sliding friction
_G = 9.81


@dataclass
class Context:
    """What a policy may look at when choosing step ``t``'s actions."""

    t: int
    world: PhysicsWorld
    cameras: dict[str, np.ndarray]  # observation camera name -> current c2w
    visibility: dict[str, dict[int, float]]  # of state t, per observation camera


class Policy:
    def actions(self, ctx: Context) -> list[Action]:
        return [WaitAction()]


def _speed_for(distance: float) -> float:
    """Push speed that slides an object about ``distance`` metres on the ground."""
    return math.sqrt(2.0 * _MU * _G * max(distance, 0.0))


def _at_rest(world: PhysicsWorld, i: int, tol: float = 0.03) -> bool:
    s = world.state(i)
    return (
        float(np.linalg.norm(s.linear_velocity)) < tol
        and float(np.linalg.norm(s.angular_velocity)) < 0.5
    )


@dataclass
class PushPolicy(Policy):
    rng: np.random.Generator
    rest: dict
    next_push: int = 1
    free_radius: float = 0.2

    def _free_spot(self, world: PhysicsWorld, i: int) -> np.ndarray:
        others = [np.array(world.state(j).position[:2]) for j in world.movable_ids if j != i]
        for _ in range(100):
            xy = disk_sampler(self.free_radius)(self.rng)
            if all(np.linalg.norm(xy - o) > 0.12 for o in others):
                return xy
        return xy

    def actions(self, ctx: Context) -> list[Action]:
        world, rng = ctx.world, self.rng
        out: list[Action] = []
        for i in world.movable_ids:  # put back objects that left the table
            s = world.state(i)
            off = np.linalg.norm(np.array(s.position[:2]) - TABLE_CENTRE[:2]) > TABLE_RADIUS
            if (off or s.position[2] < -0.05) and _at_rest(world, i):
                xy = self._free_spot(world, i)
                rest = self.rest[i]
                q = qmul(yaw_quat(rng.uniform(0.0, 360.0)), np.array(rest.quaternion))
                q /= np.linalg.norm(q)
                pose = (xy[0], xy[1], rest.position[2] + 0.02, *q)
                out.append(PlaceAction(i, tuple(float(v) for v in pose)))
                break
        if ctx.t >= self.next_push and not out:
            ids = world.movable_ids
            i = ids[int(rng.integers(len(ids)))]
            p = np.array(world.state(i).position[:2])
            others = [j for j in ids if j != i]
            if others and rng.uniform() < 0.6:
                j = others[int(rng.integers(len(others)))]
                goal = np.array(world.state(j).position[:2])
            else:
                goal = disk_sampler(0.2)(rng)
            d = goal - p
            if np.linalg.norm(d) < 1e-3:
                d = np.array([1.0, 0.0])
            d = d / np.linalg.norm(d)
            speed = rng.uniform(1.2, 2.0)
            vz = rng.uniform(0.5, 1.2) if rng.uniform() < 0.15 else 0.0
            out.append(PushAction(i, (float(d[0] * speed), float(d[1] * speed), float(vz))))
            self.next_push = ctx.t + int(rng.integers(2, 6))
        return out or [WaitAction()]


@dataclass
class _Runner:
    id: int
    side: float  # +1: currently on the +y side of the wall
    lane: float  # x of its path behind the wall
    phase: str = "idle"  # idle -> hiding -> hidden -> leaving -> idle ...
    wait_until: int = 0
    hidden_steps: int = 0
    tries: int = 0


@dataclass
class OcclusionPolicy(Policy):
    """Runners hide behind the wall and come out on the other side.

    ``violation`` (``"remove"`` or ``"teleport"``, default none) marks the first runner's
    first push out of hiding: :attr:`violation_due` is set to ``(object id, kind)`` for the
    generator to apply an impossible event, unrecorded, while the object is fully hidden."""

    rng: np.random.Generator
    runners: list[_Runner] = field(default_factory=list)
    violation: str | None = None
    violation_due: tuple[int, str] | None = None
    _violated: bool = False

    def _push_to(self, world: PhysicsWorld, r: _Runner, goal: np.ndarray) -> PushAction:
        p = np.array(world.state(r.id).position[:2])
        d = goal - p
        dist = float(np.linalg.norm(d))
        v = d / max(dist, 1e-6) * min(2.2, _speed_for(dist) * 1.05)
        return PushAction(r.id, (float(v[0]), float(v[1]), 0.0))

    def actions(self, ctx: Context) -> list[Action]:
        world, rng = ctx.world, self.rng
        for r in self.runners:  # bookkeeping from what the cameras saw of state t
            seen = max((v.get(r.id, 0.0) for v in ctx.visibility.values()), default=1.0)
            r.hidden_steps = r.hidden_steps + 1 if seen == 0.0 else 0
        for r in self.runners:  # at most one push per step
            if ctx.t < r.wait_until or not _at_rest(world, r.id):
                continue
            if r.phase in ("idle", "hiding"):
                if r.hidden_steps > 0:
                    r.phase = "hidden"
                    r.wait_until = ctx.t + int(rng.integers(4, 9))
                    continue
                if r.tries >= 3:  # cannot get it hidden: send it across anyway
                    r.phase, r.tries = "hidden", 0
                    continue
                r.phase, r.tries = "hiding", r.tries + 1
                r.wait_until = ctx.t + 2
                goal = np.array([r.lane, rng.uniform(-0.04, 0.04)])
                return [self._push_to(world, r, goal)]
            if r.phase == "hidden":
                if self.violation and not self._violated and r is self.runners[0]:
                    self._violated = True
                    self.violation_due = (r.id, self.violation)
                r.phase, r.tries = "leaving", 0
                r.side = -r.side
                r.wait_until = ctx.t + 2
                goal = np.array([r.lane, r.side * 0.34])
                return [self._push_to(world, r, goal)]
            if r.phase == "leaving":
                r.phase = "idle"
                r.wait_until = ctx.t + int(rng.integers(3, 7))
        return [WaitAction()]


@dataclass
class CameraPolicy(Policy):
    """Moves every observation camera along its own orbit, one increment per step."""

    rng: np.random.Generator
    orbits: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def init(self, names: list[str]) -> list[np.ndarray]:
        out = []
        a0 = self.rng.uniform(0.0, 360.0)
        for j, name in enumerate(names):
            az = a0 + 360.0 * j / len(names)
            rate = self.rng.uniform(5.0, 10.0) * (1 if self.rng.uniform() < 0.5 else -1)
            el = self.rng.uniform(28.0, 48.0)
            self.orbits[name] = (az, rate, el, self.rng.uniform(0.0, 2 * math.pi))
            out.append(self._pose(name, 0))
        return out

    def _pose(self, name: str, t: int) -> np.ndarray:
        az, rate, el, phase = self.orbits[name]
        e = el + 10.0 * math.sin(phase + 0.3 * t)
        radius = 0.8 + 0.08 * math.sin(phase + 0.2 * t)
        return orbit_c2w(TABLE_CENTRE, radius, az + rate * t, e)

    def actions(self, ctx: Context) -> list[Action]:
        return [CameraAction(name, self._pose(name, ctx.t + 1)) for name in ctx.cameras]


def make_policy(
    preset: str, rng: np.random.Generator, info: dict, violation: str | None = None
) -> Policy:
    if preset == "push":
        return PushPolicy(rng, info["rest"], next_push=int(rng.integers(1, 3)))
    if preset == "occlusion":
        runners = [_Runner(i, side, lane) for i, side, lane in info["runners"]]
        for j, r in enumerate(runners):
            r.wait_until = 1 + 9 * j
        return OcclusionPolicy(rng, runners, violation=violation)
    if preset == "camera":
        return CameraPolicy(rng)
    return Policy()
