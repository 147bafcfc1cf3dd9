"""The structural physics prior of the dynamics head: rigid proxies simulated by MuJoCo.

:class:`PhysicsPrior` holds one ``mujoco.MjModel``: the ground plane ``z = 0`` and one free
body per object, whose geom is the object's proxy box (or convex hull) with the proxy's mass
and friction. :meth:`PhysicsPrior.simulate` sets the whole MuJoCo state from its arguments,
steps it and reads it back, so its result depends on its inputs only. :func:`step_prior`
applies one step's actions to a :class:`~spatialwm.scene.state.SceneState` and simulates it.

Conventions:

* A state's object pose ``(p, q)`` places the object's *canonical* frame (where its Gaussians
  live). The MuJoCo body frame is the proxy's *box* frame, whose origin is the box centre
  (= the centre of mass, uniform density): body position ``p + R(q) centre``, body
  orientation ``q * rotation`` (wxyz, like MuJoCo). Velocities are converted the same way:
  a state's ``linear_velocity`` is that of the canonical frame's origin, ``v + w x R(q)
  centre`` is the body's; ``angular_velocity`` is world-frame in the state and body-frame in
  MuJoCo's ``qvel``. ``centre`` is usually a few mm, so both nearly coincide.
* Friction: MuJoCo combines two geoms' coefficients by priority, else by maximum. The ground
  has the lower priority, so an object slides on the ground with its own coefficient; two
  objects use the larger of theirs.
* Penetration (reconstruction noise: objects slightly in the ground or in each other): a body
  whose proxy goes deeper than ``max_ground_penetration`` (default 3 mm) into the ground is
  lifted, before simulating, until it just touches it (its velocities are kept). Shallower
  ground contact and object-object overlap are left to MuJoCo's soft contacts, which push
  bodies apart over a few contact time constants (``solref``, 2 substeps = 8 ms by default)
  instead of impulsively, so nothing explodes (two boxes starting 5 mm into each other end
  0.1 s later just apart, moving < 1 cm/s); the default ``solref``/``solimp`` are stiffer
  than MuJoCo's to keep a fast collision's overlap to a few mm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mujoco
import numpy as np
import torch
from torch import Tensor

from spatialwm.data.actions import (
    Action,
    CameraAction,
    PlaceAction,
    PushAction,
    WaitAction,
    step_actions,
)
from spatialwm.dynamics.proxy import Proxies, _unit_corners
from spatialwm.errors import InputError
from spatialwm.scene.state import SceneState, quat_conjugate, quat_multiply, quat_to_matrix

__all__ = [
    "MAX_PLACE_DISTANCE",
    "MAX_PUSH_SPEED",
    "PhysicsPrior",
    "apply_actions",
    "simulate_state",
    "step_prior",
]

MAX_PUSH_SPEED = 20.0  # m/s
MAX_PLACE_DISTANCE = 100.0  # m from the world origin
MAX_DT = 10.0  # s per simulate call
GRAVITY = -9.81
SLEEP_GROUND_GAP = 0.003  # m: a proxy this close to the ground rests on it


# ------------------------------------------------------------------- quaternions (numpy)
# Thin numpy views of the one quaternion implementation (spatialwm.scene.state), in float64.
def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of wxyz quaternions ``[K, 4]``."""
    return quat_multiply(torch.from_numpy(np.asarray(a)), torch.from_numpy(np.asarray(b))).numpy()


def _qconj(q: np.ndarray) -> np.ndarray:
    return quat_conjugate(torch.from_numpy(np.asarray(q))).numpy()


def _qnormalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _qmat(q: np.ndarray) -> np.ndarray:
    """Unit wxyz quaternions ``[K, 4]`` -> rotation matrices ``[K, 3, 3]``."""
    return quat_to_matrix(torch.from_numpy(np.asarray(q))).reshape(-1, 3, 3).numpy()


def _rotate(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``R [K,3,3] @ v [K,3]`` -> ``[K, 3]``."""
    return np.einsum("kij,kj->ki", R, v)


# ------------------------------------------------------------------------------- model
def _fmt(values) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _check_proxies(proxies: Proxies) -> None:
    k = len(proxies)
    shapes = {
        "object_ids": (k,),
        "centre": (k, 3),
        "rotation": (k, 4),
        "half_extents": (k, 3),
        "mass": (k,),
        "friction": (k,),
    }
    for name, shape in shapes.items():
        t = getattr(proxies, name)
        if tuple(t.shape) != shape:
            raise InputError(f"Proxies.{name}: expected shape {shape}, got {tuple(t.shape)}")
        if not torch.isfinite(t.double()).all():
            raise InputError(f"Proxies.{name}: non-finite values")
    if (proxies.half_extents <= 0).any() or (proxies.mass <= 0).any():
        raise InputError("Proxies: half_extents and mass must be positive")
    if (proxies.friction < 0).any():
        raise InputError("Proxies: friction must be >= 0")
    if (proxies.rotation.norm(dim=-1) < 1e-6).any():
        raise InputError("Proxies.rotation: zero quaternion")
    if proxies.hull is not None and len(proxies.hull) != k:
        raise InputError(f"Proxies.hull: expected {k} vertex sets, got {len(proxies.hull)}")


def _mjcf(
    proxies: Proxies,
    *,
    timestep: float,
    gravity: float,
    geom: str,
    solref: tuple[float, float],
    solimp: tuple[float, float, float],
    rolling_friction: float = 0.0,
    torsional_friction: float = 0.0,
    com_drop: float = 0.0,
) -> str:
    """MJCF text of the ground and the proxies (bodies named ``obj<id>``)."""
    assets, bodies = [], []
    for k in range(len(proxies)):
        oid = int(proxies.object_ids[k])
        mass = float(proxies.mass[k])
        mu = float(proxies.friction[k])
        if geom == "hull":
            verts = proxies.hull[k].detach().cpu().double().reshape(-1).tolist()
            assets.append(f'<mesh name="hull{oid}" vertex="{_fmt(verts)}"/>')
            shape = f'type="mesh" mesh="hull{oid}"'
        else:
            shape = f'type="box" size="{_fmt(proxies.half_extents[k].tolist())}"'
        inertial = ""
        if com_drop > 0:  # centre of mass below the box centre (box inertia about it)
            a, b, c = (float(x) for x in proxies.half_extents[k])
            inertia = (mass / 3 * (b * b + c * c), mass / 3 * (a * a + c * c),
                       mass / 3 * (a * a + b * b))  # fmt: skip
            inertial = (f'<inertial pos="0 0 {-com_drop * c:.9g}" mass="{mass:.9g}" '
                        f'diaginertia="{_fmt(inertia)}"/>')  # fmt: skip
        bodies.append(
            f'<body name="obj{oid}" pos="0 0 {0.2 * (k + 1):.3f}"><freejoint/>{inertial}'
            f'<geom name="obj{oid}" {shape} mass="{mass:.9g}" '
            f'friction="{mu:.9g} {torsional_friction:.9g} {rolling_friction:.9g}" '
            f'priority="1"/></body>'
        )
    condim = 6 if rolling_friction > 0 or torsional_friction > 0 else 3
    return f"""<mujoco model="spatialwm_prior">
  <option timestep="{timestep:.12g}" gravity="0 0 {gravity:.9g}"/>
  <default><geom condim="{condim}" solref="{_fmt(solref)}" solimp="{_fmt(solimp)}"/></default>
  <asset>{"".join(assets)}</asset>
  <worldbody>
    <geom name="ground" type="plane" size="0 0 1" friction="0 0.005 0.0001" priority="0"/>
    {"".join(bodies)}
  </worldbody>
</mujoco>"""


class PhysicsPrior:
    """MuJoCo simulation of ``K`` rigid proxies on the ground plane ``z = 0``.

    Args:
        proxies: the objects' proxies (see :func:`~spatialwm.dynamics.proxy.proxies_from_state`).
        timestep: physics substep (s); :meth:`simulate` takes ``round(dt / timestep)`` equal
            substeps of exactly ``dt / n``.
        gravity: z component of gravity (m/s^2).
        geom: ``"box"`` (default) or ``"hull"`` (needs ``proxies.hull``).
        solref: MuJoCo contact ``(time constant, damping ratio)``; default ``(2 * timestep,
            1)``, the stiffest MuJoCo accepts (its default, 0.02 s, lets two objects colliding
            at 2 m/s overlap by ~25 mm; this keeps it to ~4 mm).
        solimp: MuJoCo contact impedance; the default is stiffer than MuJoCo's.
        max_ground_penetration: objects deeper than this in the ground (m) are lifted onto it
            before simulating; ``None`` disables it.
        rolling_friction: MuJoCo rolling friction (m: the resisting torque is at most this
            times the normal force); > 0 (or ``torsional_friction`` > 0) switches contacts to
            ``condim="6"``. Resists tipping and rolling, as Bullet's rolling friction does.
        torsional_friction: MuJoCo torsional (spinning) friction (m).
        com_drop: the centre of mass sits this fraction of the box's half height below its
            centre (``[0, 1)``; the body frame stays at the box centre).
        sleep_speed, sleep_spin: an object starting a step on the ground (its proxy within
            3 mm of it) and slower than both (m/s, rad/s) is *asleep*, as rigid-body engines
            deactivate resting bodies: it is simulated, but
            unless it touches an awake object during the step (which wakes it; contact
            spreads through stacks) it ends the step exactly where it started, at rest. This
            keeps bystanders still when their proxies are not in perfect equilibrium (a box
            around a mug, a pose from another source). ``sleep_speed=None``: no sleeping.

    Not thread-safe: one instance owns one ``MjData``. Use one per thread.
    """

    def __init__(
        self,
        proxies: Proxies,
        *,
        timestep: float = 1.0 / 240.0,
        gravity: float = GRAVITY,
        geom: str = "box",
        solref: tuple[float, float] | None = None,
        solimp: tuple[float, float, float] = (0.95, 0.99, 0.001),
        max_ground_penetration: float | None = 0.003,
        rolling_friction: float = 0.0,
        torsional_friction: float = 0.0,
        sleep_speed: float | None = 0.05,
        sleep_spin: float = 0.5,
        com_drop: float = 0.0,
    ) -> None:
        _check_proxies(proxies)
        for name, v in (("rolling_friction", rolling_friction),
                        ("torsional_friction", torsional_friction)):  # fmt: skip
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise InputError(f"PhysicsPrior: {name} must be in [0, 1] m, got {v}")
        if not (math.isfinite(com_drop) and 0.0 <= com_drop < 1.0):
            raise InputError(f"PhysicsPrior: com_drop must be in [0, 1), got {com_drop}")
        if geom not in ("box", "hull"):
            raise InputError(f"PhysicsPrior: geom must be 'box' or 'hull', got {geom!r}")
        if geom == "hull" and proxies.hull is None:
            raise InputError("PhysicsPrior: geom='hull' needs proxies_from_state(..., hull=True)")
        if not (math.isfinite(timestep) and 1e-5 <= timestep <= 0.1):
            raise InputError(f"PhysicsPrior: timestep must be in [1e-5, 0.1] s, got {timestep}")
        self.proxies = proxies
        self.timestep = float(timestep)
        self.geom = geom
        self.max_ground_penetration = max_ground_penetration
        self.sleep_speed = None if sleep_speed is None else float(sleep_speed)
        self.sleep_spin = float(sleep_spin)
        if solref is None:
            solref = (2.0 * self.timestep, 1.0)
        self.model = mujoco.MjModel.from_xml_string(
            _mjcf(
                proxies,
                timestep=timestep,
                gravity=gravity,
                geom=geom,
                solref=solref,
                solimp=solimp,
                rolling_friction=rolling_friction,
                torsional_friction=torsional_friction,
                com_drop=com_drop,
            )
        )
        self._data = mujoco.MjData(self.model)
        # geom id -> object index (body order), -1 for the ground
        self._geom_object = np.asarray(self.model.geom_bodyid, dtype=np.int64) - 1
        self._centre = proxies.centre.detach().cpu().double().numpy()  # [K, 3]
        self._rotation = _qnormalize(proxies.rotation.detach().cpu().double().numpy())
        if geom == "hull":
            support = [h.detach().cpu().double().numpy() for h in proxies.hull]
        else:
            corners = _unit_corners().double().numpy()
            support = [corners * h for h in proxies.half_extents.detach().cpu().double().numpy()]
        self._support = support  # per object [V, 3] extreme points in the box frame

    @property
    def num_objects(self) -> int:
        return len(self.proxies)

    @property
    def object_ids(self) -> Tensor:
        """``[K]`` dataset ids of the simulated objects, in body order."""
        return self.proxies.object_ids

    # -------------------------------------------------------------------- conversions
    def _to_body(
        self, p: np.ndarray, q: np.ndarray, v: np.ndarray, w: np.ndarray, *, lift: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Object-frame state -> MuJoCo free-joint state ``(pos, quat, linvel, local angvel)``;
        ``lift``: apply ``max_ground_penetration``."""
        q = _qnormalize(q)
        arm = _rotate(_qmat(q), self._centre)  # canonical origin -> box centre, world
        qb = _qnormalize(_qmul(q, self._rotation))
        Rb = _qmat(qb)
        pb = p + arm
        vb = v + np.cross(w, arm)
        wb = np.einsum("kji,kj->ki", Rb, w)  # R^T w
        if lift and self.max_ground_penetration is not None:
            for k, s in enumerate(self._support):
                lowest = float((s @ Rb[k].T)[:, 2].min() + pb[k, 2])
                if lowest < -self.max_ground_penetration:
                    pb[k, 2] -= lowest
        return pb, qb, vb, wb

    def _from_body(
        self, pb: np.ndarray, qb: np.ndarray, vb: np.ndarray, wb: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """MuJoCo free-joint state -> object-frame state (inverse of :meth:`_to_body`)."""
        qb = _qnormalize(qb)
        q = _qnormalize(_qmul(qb, _qconj(self._rotation)))
        if self.num_objects:
            q = q * np.where(q[:, :1] < 0, -1.0, 1.0)  # canonical sign: w >= 0
        arm = _rotate(_qmat(q), self._centre)
        w = _rotate(_qmat(qb), wb)
        return pb - arm, q, vb - np.cross(w, arm), w

    # ---------------------------------------------------------------------- simulation
    def simulate(
        self,
        positions: Tensor,
        orientations: Tensor,
        linear_velocity: Tensor,
        angular_velocity: Tensor,
        dt: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Simulate the objects for ``dt`` seconds from the given state.

        Args:
            positions: ``[K, 3]`` world positions of the objects' canonical frames.
            orientations: ``[K, 4]`` wxyz orientations (any non-zero length).
            linear_velocity: ``[K, 3]`` m/s of the canonical frames' origins, world frame.
            angular_velocity: ``[K, 3]`` rad/s, world frame.
            dt: seconds, ``0 < dt <= 10``.

        Returns:
            ``(positions, orientations, linear_velocity, angular_velocity)`` after ``dt``,
            float32 CPU tensors of the same shapes (unit quaternions with ``w >= 0``).
        """
        k = self.num_objects
        arrays = []
        for name, t, width in (
            ("positions", positions, 3),
            ("orientations", orientations, 4),
            ("linear_velocity", linear_velocity, 3),
            ("angular_velocity", angular_velocity, 3),
        ):
            if tuple(t.shape) != (k, width):
                raise InputError(f"simulate: {name} must be [{k}, {width}], got {tuple(t.shape)}")
            a = t.detach().cpu().double().numpy()
            if not np.isfinite(a).all():
                raise InputError(f"simulate: {name} has non-finite values")
            arrays.append(a)
        if k and (np.linalg.norm(arrays[1], axis=-1) < 1e-6).any():
            raise InputError("simulate: orientations contain a zero quaternion")
        if not (math.isfinite(dt) and 0.0 < dt <= MAX_DT):
            raise InputError(f"simulate: dt must be in (0, {MAX_DT}] s, got {dt}")
        if k == 0:
            return tuple(torch.from_numpy(a).float() for a in arrays)  # type: ignore[return-value]
        pb, qb, vb, wb = self._to_body(*arrays)

        m, d = self.model, self._data
        n = max(1, round(dt / self.timestep))
        m.opt.timestep = dt / n
        mujoco.mj_resetData(m, d)  # clears time, warm starts, contacts: no carried state
        qpos = d.qpos.reshape(k, 7)
        qvel = d.qvel.reshape(k, 6)
        qpos[:, :3], qpos[:, 3:] = pb, qb
        qvel[:, :3], qvel[:, 3:] = vb, wb
        awake = np.ones(k, dtype=bool)
        if self.sleep_speed is not None:
            speed = np.linalg.norm(arrays[2], axis=-1)
            spin = np.linalg.norm(arrays[3], axis=-1)
            Rb = _qmat(qb)
            lowest = np.array([float((sup @ Rb[i].T)[:, 2].min() + pb[i, 2])
                               for i, sup in enumerate(self._support)])  # fmt: skip
            grounded = lowest < SLEEP_GROUND_GAP
            awake = (speed > self.sleep_speed) | (spin > self.sleep_spin) | ~grounded

        def run() -> bool:
            """Step ``n`` substeps; False if MuJoCo found the simulation unstable."""
            if awake.all():
                mujoco.mj_step(m, d, nstep=n)
            else:
                obj = self._geom_object
                for _ in range(n):
                    mujoco.mj_step(m, d)
                    if d.ncon:
                        pairs = obj[d.contact.geom[: d.ncon]]  # [ncon, 2] object or -1
                        pairs = pairs[(pairs >= 0).all(axis=1)]
                        for a, b in pairs:
                            if awake[a] != awake[b]:
                                awake[a] = awake[b] = True  # touched by a moving object
            return d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0

        with _quiet_mujoco():
            if not run():
                # unstable (MuJoCo reset the bodies): start again with the velocities capped
                # and finer substeps, and as a last resort let the objects stop where they are
                vb = _cap(vb, MAX_SPEED)
                wb = _cap(wb, MAX_SPIN)
                m.opt.timestep = dt / (4 * n)
                n = 4 * n
                for attempt in (0, 1):
                    mujoco.mj_resetData(m, d)
                    qpos, qvel = d.qpos.reshape(k, 7), d.qvel.reshape(k, 6)
                    qpos[:, :3], qpos[:, 3:] = pb, qb
                    qvel[:, :3], qvel[:, 3:] = (vb, wb) if attempt == 0 else (0.0, 0.0)
                    if attempt == 1:
                        mujoco.mj_forward(m, d)
                        break
                    if run():
                        break
        out = list(self._from_body(
            d.qpos.reshape(k, 7)[:, :3].copy(),
            d.qpos.reshape(k, 7)[:, 3:].copy(),
            d.qvel.reshape(k, 6)[:, :3].copy(),
            d.qvel.reshape(k, 6)[:, 3:].copy(),
        ))  # fmt: skip
        if not awake.all():  # objects still asleep stay exactly where they were
            rest = ~awake
            q = _qnormalize(arrays[1][rest])
            unlifted = self._to_body(*arrays, lift=False)[0]
            out[0][rest] = arrays[0][rest] + (pb - unlifted)[rest]  # only lifted, if sunk
            out[1][rest] = q * np.where(q[:, :1] < 0, -1.0, 1.0)
            out[2][rest] = 0.0
            out[3][rest] = 0.0
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).float() for a in out)  # type: ignore[return-value]

    def separate(
        self,
        positions: Tensor,
        orientations: Tensor,
        *,
        tolerance: float = 0.001,
        iterations: int = 20,
    ) -> Tensor:
        """Translate the proxies out of each other and out of the ground (no rotation, no
        velocity change): the structural prior's non-interpenetration, enforced on a state
        that something other than the simulator (a learned correction) produced.

        Each iteration finds MuJoCo's contacts deeper than ``tolerance`` (m); an object in
        the ground is lifted by its depth, two overlapping objects move apart along the
        contact normal by half the depth each (plus ``tolerance / 2``). Returns the new
        ``[K, 3]`` positions (float32; unchanged rows where nothing overlapped)."""
        k = self.num_objects
        p = positions.detach().cpu().double().numpy().copy()
        if k == 0:
            return torch.from_numpy(p).float()
        q = _qnormalize(orientations.detach().cpu().double().numpy())
        zeros = np.zeros((k, 3))
        m, d = self.model, self._data
        ground_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "ground")
        body_of = {int(m.body_geomadr[b]): b - 1 for b in range(1, m.nbody)}  # geom -> object
        for _ in range(iterations):
            pb, qb, _, _ = self._to_body(p, q, zeros, zeros, lift=False)
            mujoco.mj_resetData(m, d)
            d.qpos.reshape(k, 7)[:, :3] = pb
            d.qpos.reshape(k, 7)[:, 3:] = qb
            mujoco.mj_forward(m, d)
            depth = -np.asarray(d.contact.dist[: d.ncon], dtype=np.float64)
            deep = np.flatnonzero(depth > tolerance)
            if deep.size == 0:
                break
            delta = np.zeros((k, 3))
            geoms = np.asarray(d.contact.geom[: d.ncon])[deep]  # [n, 2]
            normals = np.asarray(d.contact.frame[: d.ncon, :3], dtype=np.float64)[deep]
            for (g1, g2), dep, n in zip(geoms, depth[deep], normals, strict=True):
                if ground_id in (g1, g2):
                    obj = body_of[int(g2 if g1 == ground_id else g1)]
                    delta[obj, 2] = max(delta[obj, 2], dep)
                else:  # n points from geom1 to geom2
                    push = 0.5 * (dep + 0.5 * tolerance) * n
                    delta[body_of[int(g1)]] -= push
                    delta[body_of[int(g2)]] += push
            p = p + delta
        return torch.from_numpy(p).float()

    def penetration(self, positions: Tensor, orientations: Tensor) -> tuple[float, float]:
        """Deepest interpenetration (m) of the proxies at the given poses: ``(object-ground,
        object-object)``, from MuJoCo's collision detection (0 when nothing overlaps)."""
        k = self.num_objects
        if k == 0:
            return 0.0, 0.0
        zeros = np.zeros((k, 3))
        pb, qb, _, _ = self._to_body(
            positions.detach().cpu().double().numpy(),
            _qnormalize(orientations.detach().cpu().double().numpy()),
            zeros,
            zeros,
            lift=False,
        )
        m, d = self.model, self._data
        mujoco.mj_resetData(m, d)
        d.qpos.reshape(k, 7)[:, :3] = pb
        d.qpos.reshape(k, 7)[:, 3:] = qb
        mujoco.mj_forward(m, d)
        ground_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "ground")
        ground = objects = 0.0
        for c in d.contact[: d.ncon]:
            depth = max(0.0, -float(c.dist))
            if ground_id in (c.geom1, c.geom2):
                ground = max(ground, depth)
            else:
                objects = max(objects, depth)
        return ground, objects


MAX_SPEED = 10.0  # m/s, cap of a body's speed when a step has to be retried
MAX_SPIN = 50.0  # rad/s


def _cap(x: np.ndarray, limit: float) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x * np.minimum(1.0, limit / np.maximum(n, 1e-12))


class _quiet_mujoco:
    """Route MuJoCo's warnings (which it otherwise appends to ``MUJOCO_LOG.TXT`` in the
    working directory) to nothing while active; callers check ``MjData.warning``."""

    def __enter__(self) -> None:
        self._previous = mujoco.get_mju_user_warning()
        mujoco.set_mju_user_warning(lambda msg: None)

    def __exit__(self, *exc) -> None:
        mujoco.set_mju_user_warning(self._previous)


# ---------------------------------------------------------------------------- stepping
def _check_finite(values: Sequence[float], n: int, where: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected {n} numbers, got {values!r}") from None
    if a.shape != (n,) or not np.isfinite(a).all():
        raise InputError(f"{where}: expected {n} finite numbers, got {values!r}")
    return a


def _object_group(state: SceneState, object_id: object, where: str) -> int:
    if isinstance(object_id, bool) or not isinstance(object_id, (int, np.integer)):
        raise InputError(f"{where}: object id must be an integer, got {object_id!r}")
    try:
        g = state.group_of(int(object_id))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    if g == 0:
        raise InputError(f"{where}: object id 0 is the background, which cannot move")
    return g


def apply_actions(state: SceneState, action: Action | Sequence[Action] | None) -> SceneState:
    """A step's actions applied to ``state`` (in order), before any time passes.

    Push: the object's linear velocity becomes the action's (angular velocity kept). Place:
    the object's canonical frame moves to the pose and both velocities become zero. Wait and
    camera actions change no object. Returns a new state (same ``step``); ``state`` is not
    modified. Raises ``InputError`` for an unknown object id, the background, or a non-finite
    or absurd action (push faster than 20 m/s, place farther than 100 m or with a zero
    quaternion).
    """
    actions = step_actions(action)
    if not actions:
        return state
    pos = state.positions.detach().cpu().double().clone()
    quat = state.orientations.detach().cpu().double().clone()
    lin = state.linear_velocity.detach().cpu().double().clone()
    ang = state.angular_velocity.detach().cpu().double().clone()
    for i, a in enumerate(actions):
        where = f"step: action {i} ({getattr(a, 'type', type(a).__name__)})"
        if isinstance(a, PushAction):
            g = _object_group(state, a.object, where)
            v = _check_finite(a.velocity, 3, f"{where}.velocity")
            speed = float(np.linalg.norm(v))
            if speed > MAX_PUSH_SPEED:
                raise InputError(
                    f"{where}.velocity: speed {speed:.4g} m/s exceeds {MAX_PUSH_SPEED} m/s"
                )
            lin[g] = torch.from_numpy(v)
        elif isinstance(a, PlaceAction):
            g = _object_group(state, a.object, where)
            pose = _check_finite(a.pose, 7, f"{where}.pose")
            dist = float(np.linalg.norm(pose[:3]))
            if dist > MAX_PLACE_DISTANCE:
                raise InputError(
                    f"{where}.pose: position is {dist:.4g} m from the origin "
                    f"(more than {MAX_PLACE_DISTANCE} m)"
                )
            qn = float(np.linalg.norm(pose[3:]))
            if qn < 1e-6:
                raise InputError(f"{where}.pose: zero quaternion")
            pos[g] = torch.from_numpy(pose[:3])
            quat[g] = torch.from_numpy(pose[3:] / qn)
            lin[g] = 0.0
            ang[g] = 0.0
        elif not isinstance(a, (WaitAction, CameraAction)):
            raise InputError(f"{where}: not an action: {a!r}")

    def like(new: Tensor, old: Tensor) -> Tensor:
        return new.to(dtype=old.dtype, device=old.device)

    return state.replace(
        positions=like(pos, state.positions),
        orientations=like(quat, state.orientations),
        linear_velocity=like(lin, state.linear_velocity),
        angular_velocity=like(ang, state.angular_velocity),
    )


def simulate_state(prior: PhysicsPrior, state: SceneState, dt: float = 0.1) -> SceneState:
    """Let ``dt`` seconds pass under the prior (no actions): the next state, ``step + 1``."""
    ids = state.object_ids[1:].cpu()
    if prior.num_objects != len(ids) or not torch.equal(prior.object_ids.cpu(), ids):
        raise InputError(
            f"step_prior: the prior simulates objects {prior.object_ids.tolist()} but the "
            f"state has {ids.tolist()}"
        )
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and 0.0 < dt <= MAX_DT):
        raise InputError(f"step_prior: dt must be in (0, {MAX_DT}] s, got {dt!r}")
    new = prior.simulate(
        state.positions[1:], state.orientations[1:],
        state.linear_velocity[1:], state.angular_velocity[1:], float(dt),
    )  # fmt: skip

    def merge(old: Tensor, rows: Tensor) -> Tensor:
        return torch.cat([old[:1], rows.to(dtype=old.dtype, device=old.device)])

    return state.replace(
        positions=merge(state.positions, new[0]),
        orientations=merge(state.orientations, new[1]),
        linear_velocity=merge(state.linear_velocity, new[2]),
        angular_velocity=merge(state.angular_velocity, new[3]),
        step=state.step + 1,
    )


def step_prior(
    prior: PhysicsPrior,
    state: SceneState,
    action: Action | Sequence[Action] | None = None,
    *,
    dt: float = 0.1,
) -> SceneState:
    """One step of the physics prior: :func:`apply_actions`, then :func:`simulate_state`.

    Returns a new state with new poses and velocities and ``step + 1``; ``state`` is not
    modified. Raises ``InputError`` for bad actions (see :func:`apply_actions`), a bad ``dt``
    or a ``prior`` built for other objects.
    """
    return simulate_state(prior, apply_actions(state, action), dt)
