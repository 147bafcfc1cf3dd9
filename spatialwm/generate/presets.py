"""The presets: scene layouts and observation cameras (their actions: :mod:`.policies`).

* ``tabletop``: 3-6 objects at rest on the textured ground; a static capture of V views
  (default 32) on 2-3 rings. One step, no actions. For reconstruction.
* ``push``: the same kind of scene, then T steps (default 40) of pushes (1.2-2 m/s towards
  another object or a random spot, now and then with an upward kick) that slide objects,
  make them collide and sometimes topple; an object that leaves the table is put back with
  a ``place`` action. 1-3 fixed observation cameras (default 2) render every step.
* ``occlusion``: a static wall (an object with ``"static": true``) with observation cameras
  on one side; "runner" objects are pushed along the wall into its shadow, stay fully
  hidden from every observation camera for several steps, and are pushed out on the other
  side (and back again); 1-2 distractors stand in front.
* ``camera``: a static scene (physics is not stepped after the objects settle, so their
  poses are exactly constant); every step moves each observation camera along an orbit
  (``camera`` actions only).

Every preset also renders a capture of V views (ring cameras ``view_000``...) at step 0, so
that the initial scene can be reconstructed; V defaults to 32 for ``tabletop`` and 16 for
the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spatialwm.generate.assets import Asset, ObjectPool
from spatialwm.generate.rig import orbit_c2w
from spatialwm.generate.sim import PhysicsWorld, SceneObject

__all__ = [
    "PRESETS",
    "TABLE_CENTRE",
    "TABLE_RADIUS",
    "PresetSpec",
    "build_scene",
    "disk_sampler",
    "observation_cameras",
    "qmul",
    "yaw_quat",
]

TABLE_CENTRE = np.array([0.0, 0.0, 0.04])
TABLE_RADIUS = 0.38  # objects farther than this (at rest) are placed back (push preset)


@dataclass(frozen=True)
class PresetSpec:
    name: str
    description: str
    views: int  # capture views at step 0
    cameras: int  # fixed observation cameras
    steps: int  # steps after the initial state
    objects: tuple[int, int]  # default range of the number of movable objects
    static: bool = False  # a single-step capture (steps must be 0)
    frozen: bool = False  # objects never move: physics is not stepped after settling
    target: tuple[float, float, float] = (0.0, 0.0, 0.04)  # where the capture views look


PRESETS: dict[str, PresetSpec] = {
    "tabletop": PresetSpec("tabletop", "static multi-view capture", 32, 0, 0, (3, 6), True),
    "push": PresetSpec("push", "pushes that slide, collide, topple", 16, 2, 40, (3, 6)),
    "occlusion": PresetSpec(
        "occlusion",
        "objects pushed behind a wall and out",
        16,
        2,
        40,
        (3, 4),
        target=(0.05, 0.0, 0.05),
    ),
    "camera": PresetSpec("camera", "static scene, moving cameras", 16, 1, 24, (3, 6), frozen=True),
}


def yaw_quat(deg: float) -> np.ndarray:
    """Quaternion (wxyz) of a rotation by ``deg`` degrees about world +Z."""
    h = math.radians(deg) / 2.0
    return np.array([math.cos(h), 0.0, 0.0, math.sin(h)])


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of two wxyz quaternions (rotate by ``b``, then ``a``)."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


@dataclass
class _Placed:
    xy: np.ndarray
    radius: float


def _place_assets(
    world: PhysicsWorld,
    assets: list[Asset],
    rng: np.random.Generator,
    first_id: int,
    sample_xy,
    placed: list[_Placed],
) -> None:
    """Drop ``assets`` at non-overlapping random spots (``sample_xy(rng) -> [2]``)."""
    for n, asset in enumerate(assets):
        q = yaw_quat(rng.uniform(0.0, 360.0))
        lo, hi = world.footprint(asset, q)
        r = 0.5 * float(np.hypot(hi[0] - lo[0], hi[1] - lo[1]))
        centre_xy = 0.5 * (lo[:2] + hi[:2])  # AABB centre relative to the body origin
        xy = None
        for attempt in range(400):
            cand = np.asarray(sample_xy(rng), dtype=np.float64) * (1.0 + attempt / 200.0)
            if all(np.linalg.norm(cand - p.xy) > r + p.radius + 0.01 for p in placed):
                xy = cand
                break
        if xy is None:  # crowded: accept the last candidate, physics will sort it out
            xy = cand
        placed.append(_Placed(xy, r))
        pos = (xy[0] - centre_xy[0], xy[1] - centre_xy[1], -lo[2] + 0.003)
        obj = SceneObject(first_id + n, asset.name, asset.urdf, asset.scale)
        world.add(obj, pos, q)


def disk_sampler(radius: float):
    """A function ``rng -> [2]`` drawing points uniformly in the disk of ``radius`` (metres)."""

    def sample(rng: np.random.Generator) -> np.ndarray:
        r = radius * math.sqrt(rng.uniform())
        a = rng.uniform(0.0, 2.0 * math.pi)
        return np.array([r * math.cos(a), r * math.sin(a)])

    return sample


def build_scene(
    world: PhysicsWorld, preset: str, pool: ObjectPool, k: int, rng: np.random.Generator
) -> dict:
    """Add ``k`` movable objects (and, for ``occlusion``, the wall) to ``world`` and let them
    settle. Returns preset-specific layout info for the policy."""
    assets = pool.sample(rng, k)
    info: dict = {}
    placed: list[_Placed] = []
    if preset != "occlusion":
        _place_assets(world, assets, rng, 1, disk_sampler(0.2), placed)
    else:
        runners = 1 if k < 3 else 2
        # The wall: x in [-0.015, 0.015], y in [-0.19, 0.19], 0.2 m tall; id k + 1.
        wall = SceneObject(
            k + 1, "wall", "box", 1.0, static=True,
            half_extents=(0.015, 0.19, 0.1), rgba=(0.72, 0.36, 0.26, 1.0),
        )  # fmt: skip
        world.add(wall, (0.0, 0.0, 0.1), (1.0, 0.0, 0.0, 0.0))
        placed.append(_Placed(np.array([0.0, 0.19]), 0.03))
        placed.append(_Placed(np.array([0.0, -0.19]), 0.03))
        placed.append(_Placed(np.array([0.0, 0.0]), 0.05))
        sides = [1.0, -1.0] if rng.uniform() < 0.5 else [-1.0, 1.0]
        lanes = [0.08, 0.2]
        for j in range(runners):
            y0 = sides[j] * 0.34
            _place_assets(
                world, [assets[j]], rng, 1 + j,
                lambda r, y0=y0, x=lanes[j]: np.array([x + r.uniform(-0.01, 0.01), y0]),
                placed,
            )  # fmt: skip
        front = lambda r: np.array([r.uniform(-0.3, -0.12), r.uniform(-0.25, 0.25)])  # noqa: E731
        _place_assets(world, assets[runners:], rng, 1 + runners, front, placed)
        info["runners"] = [(1 + j, sides[j], lanes[j]) for j in range(runners)]
        info["wall"] = k + 1
    world.settle()
    info["rest"] = {i: world.state(i) for i in world.movable_ids}
    return info


def observation_cameras(preset: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` fixed observation cameras (OpenGL camera-to-world) for ``preset``."""
    if n <= 0:
        return []
    if preset == "occlusion":
        target = np.array([0.05, 0.0, 0.05])
        spread = np.linspace(-22.0, 22.0, n) if n > 1 else np.zeros(1)
        return [
            orbit_c2w(target, 0.9, 180.0 + s + rng.uniform(-3, 3), rng.uniform(16.0, 21.0))
            for s in spread
        ]
    a0 = rng.uniform(0.0, 360.0)
    return [
        orbit_c2w(
            TABLE_CENTRE,
            0.7 * rng.uniform(0.95, 1.05),
            a0 + 360.0 * j / n + rng.uniform(-20.0, 20.0),
            rng.uniform(30.0, 50.0),
        )
        for j in range(n)
    ]
