"""The physics side of the generator: a deterministic pybullet world of numbered objects.

Object ``i`` (1..K) is one pybullet body. Poses are the bodies' base frames as pybullet
reports them, i.e. the centre of mass (position) and the inertial frame's orientation, world
frame; quaternions are converted to wxyz at this boundary.

Friction: Bullet multiplies the two bodies' coefficients. The plane gets lateral friction 0.6
and the objects 1.0 (effective 0.6), so that a 1.2-2 m/s push slides an object about 12-35 cm
(measured: 0.12 m at 1.2 m/s, 0.33 m at 2 m/s for a cube); with pybullet's defaults (1 x 1)
it would barely move, with 0.5 x 0.5 it would slide 0.3-0.8 m. Rolling friction 0.01 stops
the sphere within ~0.6 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatialwm.data.episode import ObjectState
from spatialwm.generate.assets import Asset
from spatialwm.generate.bullet import Client, connect

__all__ = ["PhysicsWorld", "SceneObject", "wxyz_to_xyzw", "xyzw_to_wxyz"]

TIMESTEP = 1.0 / 240.0
GRAVITY = -9.81
LATERAL_FRICTION = 1.0
PLANE_FRICTION = 0.6
ROLLING_FRICTION = 0.01
SPINNING_FRICTION = 0.002


def xyzw_to_wxyz(q: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (q[3], q[0], q[1], q[2])


def wxyz_to_xyzw(q: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (q[1], q[2], q[3], q[0])


@dataclass(frozen=True)
class SceneObject:
    """What the generator needs to rebuild an object in another client (the renderer)."""

    id: int
    name: str
    asset: str  # URDF path inside pybullet_data, or "box" for a procedural box
    scale: float
    static: bool = False
    half_extents: tuple[float, float, float] | None = None  # boxes only
    rgba: tuple[float, float, float, float] | None = None  # boxes only


def load_object(client: Client, obj: SceneObject, position, orn_xyzw) -> int:
    """Create ``obj`` in ``client``; returns the body id."""
    if obj.asset == "box":
        he = list(obj.half_extents)
        vis = client.createVisualShape(client.pb.GEOM_BOX, halfExtents=he, rgbaColor=obj.rgba)
        col = client.createCollisionShape(client.pb.GEOM_BOX, halfExtents=he)
        mass = 0.0 if obj.static else 0.2
        return client.createMultiBody(mass, col, vis, list(position), list(orn_xyzw))
    return client.load_urdf(
        obj.asset, position, orn_xyzw, globalScaling=obj.scale, useFixedBase=obj.static
    )


class PhysicsWorld:
    """A pybullet world: ground plane + objects 1..K; fixed 240 Hz timestep, seeded by
    construction (pybullet itself is deterministic for the same call sequence)."""

    def __init__(self) -> None:
        self.client = connect()
        c = self.client
        c.setPhysicsEngineParameter(
            fixedTimeStep=TIMESTEP, numSolverIterations=50, deterministicOverlappingPairs=1
        )
        c.setGravity(0.0, 0.0, GRAVITY)
        self.plane = c.load_urdf("plane.urdf", (0, 0, 0), (0, 0, 0, 1), useFixedBase=True)
        c.changeDynamics(self.plane, -1, lateralFriction=PLANE_FRICTION)
        self.objects: dict[int, SceneObject] = {}
        self.bodies: dict[int, int] = {}

    # ------------------------------------------------------------------------- building
    def add(self, obj: SceneObject, position, quat_wxyz) -> None:
        body = load_object(self.client, obj, position, wxyz_to_xyzw(tuple(quat_wxyz)))
        if not obj.static:
            self.client.changeDynamics(
                body,
                -1,
                lateralFriction=LATERAL_FRICTION,
                rollingFriction=ROLLING_FRICTION,
                spinningFriction=SPINNING_FRICTION,
            )
        self.objects[obj.id] = obj
        self.bodies[obj.id] = body

    def footprint(self, asset: Asset, quat_wxyz) -> tuple[np.ndarray, np.ndarray]:
        """AABB ``(lo, hi)`` of ``asset`` at the origin with orientation ``quat_wxyz`` (the body
        is loaded into the world briefly, then removed)."""
        body = self.client.load_urdf(
            asset.urdf, (0, 0, 0), wxyz_to_xyzw(tuple(quat_wxyz)), globalScaling=asset.scale
        )
        lo, hi = self.client.getAABB(body)
        self.client.removeBody(body)
        return np.array(lo), np.array(hi)

    # -------------------------------------------------------------------------- state
    @property
    def movable_ids(self) -> list[int]:
        return [i for i, o in self.objects.items() if not o.static]

    def state(self, i: int) -> ObjectState:
        body = self.bodies[i]
        pos, orn = self.client.getBasePositionAndOrientation(body)
        lin, ang = self.client.getBaseVelocity(body)
        q = np.array(xyzw_to_wxyz(orn))
        q /= np.linalg.norm(q)
        return ObjectState(
            tuple(float(x) for x in pos),
            tuple(float(x) for x in q),
            tuple(float(x) for x in lin),
            tuple(float(x) for x in ang),
        )

    def states(self) -> dict[int, ObjectState]:
        return {i: self.state(i) for i in sorted(self.objects)}

    def max_speed(self) -> float:
        speeds = [np.linalg.norm(self.state(i).linear_velocity) for i in self.movable_ids]
        return float(max(speeds, default=0.0))

    # ------------------------------------------------------------------------ actions
    def push(self, i: int, velocity) -> None:
        """Set object ``i``'s linear velocity; its angular velocity is kept."""
        _, ang = self.client.getBaseVelocity(self.bodies[i])
        self.client.resetBaseVelocity(self.bodies[i], list(velocity), list(ang))

    def place(self, i: int, pose) -> None:
        """Teleport object ``i`` to ``pose = (x, y, z, qw, qx, qy, qz)`` at rest."""
        body = self.bodies[i]
        self.client.resetBasePositionAndOrientation(body, list(pose[:3]), wxyz_to_xyzw(pose[3:]))
        self.client.resetBaseVelocity(body, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])

    def simulate(self, seconds: float) -> None:
        self.simulate_steps(round(seconds / TIMESTEP))

    def simulate_steps(self, n: int) -> None:
        """Advance ``n`` fixed physics steps of 1/240 s."""
        step = self.client.pb.stepSimulation
        cid = self.client.id
        for _ in range(n):
            step(physicsClientId=cid)

    def settle(self, max_seconds: float = 3.0, tol: float = 0.005) -> None:
        """Simulate until every object is (nearly) at rest, at most ``max_seconds``."""
        t = 0.0
        while t < max_seconds:
            self.simulate(0.25)
            t += 0.25
            if self.max_speed() < tol:
                break

    def close(self) -> None:
        self.client.close()
