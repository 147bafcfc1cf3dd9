"""Who tips when pushed: single-body simulations of reconstructed hulls against the truth.

    python benchmarks/tipping.py EP... --runs RUNS [--engine bullet|mujoco]
        [--com centroid|frame|truth] [--rolling M] [--inertia-scale S] [--horizon N]

For every push along the ground in each episode ``EP`` (reconstructed in ``RUNS/<name>``),
the pushed object alone is simulated on the ground plane from its *true* state at the push,
with the push's velocity, for ``--horizon`` steps: its shape is the convex hull of the
reconstruction's confident Gaussians (``proxies_from_state(..., hull=True)``, grown to the
surface), its mass 0.1 kg, its ground friction ``--friction``. It tips if its up axis turns
more than 45 degrees within the horizon; the table compares that with the truth.

``--com``: where the centre of mass is: ``centroid``, the hull's volume centroid (uniform
density: all a reconstruction knows); ``frame``, the reconstruction's object frame origin;
``truth``, the generator's (its body frame, which a tracker does not know). ``--engine``:
``bullet`` (pybullet, the generator's engine) or ``mujoco`` (the physics prior's).
``--inertia-scale`` multiplies the engine's inertia (Bullet's is a box's around the hull,
MuJoCo's the hull's own). ``--rolling``: rolling friction (m).

This is a diagnostic, not a component: the observe loop does not simulate tipping
(README, "Who tips").
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

SUBSTEP = 1.0 / 240.0
TIP_DEGREES = 45.0


def _rot(q) -> np.ndarray:
    from spatialwm.scene.state import quat_to_matrix

    return quat_to_matrix(torch.as_tensor(q, dtype=torch.float64)).numpy()


def tilt(q0, q1) -> float:
    """Degrees between the up axis of a body at orientation ``q0`` (wxyz) and at ``q1``."""
    up = _rot(q0).T @ np.array([0.0, 0.0, 1.0])
    return math.degrees(math.acos(float(np.clip((_rot(q1) @ up)[2], -1.0, 1.0))))


def volume_centroid(points: np.ndarray) -> np.ndarray:
    """Centre of mass ``[3]`` of the convex hull of ``points`` ``[N, 3]`` at uniform density."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    inside = points[hull.vertices].mean(0)
    tri = points[hull.simplices]  # [F, 3, 3]; tetrahedra (inside, face)
    vol = np.abs(
        np.einsum("fi,fi->f", tri[:, 0] - inside, np.cross(tri[:, 1] - inside, tri[:, 2] - inside))
    )
    centres = (tri.sum(1) + inside) / 4.0
    return (vol[:, None] * centres).sum(0) / vol.sum()


def simulate_bullet(verts, state, velocity, args, dt, steps) -> list:
    """Orientations (wxyz) of a body of hull ``verts`` (its frame at the centre of mass) at the
    end of each step."""
    import pybullet as pb

    c = pb.connect(pb.DIRECT)
    try:
        pb.setPhysicsEngineParameter(
            fixedTimeStep=SUBSTEP, numSolverIterations=50, physicsClientId=c
        )
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        ground = pb.createMultiBody(
            0, pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=c), physicsClientId=c
        )
        pb.changeDynamics(ground, -1, lateralFriction=args.friction, physicsClientId=c)
        shape = pb.createCollisionShape(pb.GEOM_MESH, vertices=verts.tolist(), physicsClientId=c)
        w, x, y, z = state.quaternion
        body = pb.createMultiBody(
            0.1, shape, -1, list(state.position), [x, y, z, w], physicsClientId=c
        )
        pb.changeDynamics(
            body, -1, lateralFriction=1.0, rollingFriction=args.rolling, physicsClientId=c
        )
        inertia = pb.getDynamicsInfo(body, -1, physicsClientId=c)[2]
        pb.changeDynamics(
            body,
            -1,
            localInertiaDiagonal=[v * args.inertia_scale for v in inertia],
            physicsClientId=c,
        )
        pb.resetBaseVelocity(body, list(velocity), list(state.angular_velocity), physicsClientId=c)
        out = []
        for _ in range(steps):
            for _ in range(max(1, round(dt / SUBSTEP))):
                pb.stepSimulation(physicsClientId=c)
            x, y, z, w = pb.getBasePositionAndOrientation(body, physicsClientId=c)[1]
            out.append((w, x, y, z))
        return out
    finally:
        pb.disconnect(c)


def simulate_mujoco(verts, state, velocity, args, dt, steps) -> list:
    """As :func:`simulate_bullet`, in MuJoCo (the hull's own inertia, elliptic cones)."""
    import mujoco

    mu, roll = args.friction, args.rolling
    condim = 6 if roll > 0 else 3
    xml = f"""<mujoco><option timestep="{SUBSTEP}" cone="elliptic"/>
<asset><mesh name="hull" vertex="{" ".join(f"{v:.7f}" for v in verts.reshape(-1))}"/></asset>
<worldbody><geom name="ground" type="plane" size="0 0 1" contype="0" conaffinity="0"/>
<body pos="{" ".join(map(str, state.position))}" quat="{" ".join(map(str, state.quaternion))}">
<freejoint/><geom name="body" type="mesh" mesh="hull" mass="0.1" contype="0" conaffinity="0"/>
</body></worldbody><contact><pair geom1="ground" geom2="body" condim="{condim}"
friction="{mu} {mu} 0 {roll} {roll}"/></contact></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    model.body_inertia[1] *= args.inertia_scale
    data = mujoco.MjData(model)
    data.qvel[:3] = velocity
    data.qvel[3:6] = _rot(state.quaternion).T @ np.asarray(state.angular_velocity)  # body frame
    out = []
    for _ in range(steps):
        for _ in range(max(1, round(dt / SUBSTEP))):
            mujoco.mj_step(model, data)
        out.append(tuple(data.qpos[3:7]))
    return out


def body_hull(wm, proxies, k: int, oid: int, first) -> np.ndarray:
    """Object ``oid``'s hull (proxy ``k``) in its true body frame, ``[V, 3]`` (the
    reconstruction's object frame is its own; ``first``: the object's true step-0 state)."""
    from spatialwm.scene.state import quat_to_matrix

    hull = (
        proxies.centre[k].double()
        + proxies.hull[k].double() @ quat_to_matrix(proxies.rotation[k].double()).T
    )
    g = wm.state.group_of(oid)
    world = wm.state.positions[g].double().numpy() + hull.numpy() @ _rot(wm.state.orientations[g]).T
    return (world - np.asarray(first.position)) @ _rot(first.quaternion)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("episodes", nargs="+")
    p.add_argument("--runs", required=True, help="reconstructions: RUNS/<episode name>")
    p.add_argument("--engine", choices=("bullet", "mujoco"), default="bullet")
    p.add_argument("--com", choices=("centroid", "frame", "truth"), default="centroid")
    p.add_argument("--rolling", type=float, default=0.02, help="rolling friction, m (0.02)")
    p.add_argument("--inertia-scale", type=float, default=4.0, help="inertia factor (4)")
    p.add_argument("--friction", type=float, default=0.6, help="ground friction (0.6)")
    p.add_argument("--horizon", type=int, default=8, help="steps after the push (8)")
    args = p.parse_args(argv)

    from spatialwm.data import load_dataset
    from spatialwm.data.actions import PushAction
    from spatialwm.dynamics.proxy import proxies_from_state
    from spatialwm.world import WorldModel

    simulate = simulate_bullet if args.engine == "bullet" else simulate_mujoco
    rows = []
    print("| push | truth deg | sim deg | |\n|---|---|---|---|")
    for ep in args.episodes:
        name = Path(ep).name
        episode = load_dataset(ep, check_files=False).episode
        wm = WorldModel.load(str(Path(args.runs) / name))
        proxies = proxies_from_state(wm.state, hull=True)
        ids = [int(i) for i in proxies.object_ids]
        for t, step in enumerate(episode.steps[:-1]):
            for a in step.actions:
                if not isinstance(a, PushAction) or abs(a.velocity[2]) > 1e-9:
                    continue
                oid = a.object
                verts = body_hull(wm, proxies, ids.index(oid), oid, episode.steps[0].objects[oid])
                if args.com == "centroid":
                    com = volume_centroid(verts)
                elif args.com == "frame":
                    g = wm.state.group_of(oid)
                    first = episode.steps[0].objects[oid]
                    com = (wm.state.positions[g].double().numpy() - first.position) @ _rot(
                        first.quaternion
                    )
                else:
                    com = np.zeros(3)
                st = step.objects[oid]
                start = type(st)(
                    tuple(np.asarray(st.position) + _rot(st.quaternion) @ com),
                    st.quaternion,
                    st.linear_velocity,
                    st.angular_velocity,
                )
                n = min(args.horizon, len(episode.steps) - 1 - t)
                truth = max(
                    tilt(st.quaternion, episode.steps[t + j + 1].objects[oid].quaternion)
                    for j in range(n)
                )
                sim = max(
                    tilt(st.quaternion, q)
                    for q in simulate(verts - com, start, a.velocity, args, episode.dt, n)
                )
                agree = (truth > TIP_DEGREES) == (sim > TIP_DEGREES)
                rows.append((truth > TIP_DEGREES, agree))
                print(
                    f"| {name} object {oid} step {t} | {truth:.0f} | {sim:.0f} | "
                    f"{'' if agree else 'differs'} |",
                    flush=True,
                )
    tips = sum(r[0] for r in rows)
    agree = sum(r[1] for r in rows)
    print(
        f"\n{args.engine}, centre of mass {args.com}, rolling {args.rolling:g} m, inertia x"
        f"{args.inertia_scale:g}: agrees with the truth on {agree} of {len(rows)} pushes "
        f"({tips} tip)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
