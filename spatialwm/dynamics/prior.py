"""The structural physics prior of the dynamics head: rigid proxies simulated by MuJoCo.

:class:`PhysicsPrior` holds one ``mujoco.MjModel``: the ground plane ``z = 0`` and one free
body per object, whose geom is the object's proxy box (or convex hull, or both: the box
against the ground, the hull against other objects) with the proxy's mass and friction.
:meth:`PhysicsPrior.simulate` sets the whole MuJoCo state from its arguments, steps it and
reads it back, so its result depends on its inputs only. :func:`step_prior` applies one
step's actions to a :class:`~spatialwm.scene.state.SceneState` and simulates it.

Conventions:

* A state's object pose ``(p, q)`` places the object's *canonical* frame (where its Gaussians
  live). The MuJoCo body frame is the proxy's *box* frame, whose origin is the box centre
  (= the centre of mass, uniform density): body position ``p + R(q) centre``, body
  orientation ``q * rotation`` (wxyz, like MuJoCo). Velocities are converted the same way:
  a state's ``linear_velocity`` is that of the canonical frame's origin, ``v + w x R(q)
  centre`` is the body's; ``angular_velocity`` is world-frame in the state and body-frame in
  MuJoCo's ``qvel``. ``centre`` is usually a few mm, so both nearly coincide.
* Contacts are explicit MuJoCo pairs with elliptic friction cones. Friction: an object slides
  on the ground with its own coefficient; two objects use the larger of theirs. The friction
  dimensions are softer than the normal one (``solreffriction``), else MuJoCo's soft contacts
  turn sliding friction into a normal push and sliding boxes hop.
* Overlap at the start of a step (crude boxes around touching objects) is tolerated: each
  object pair resists only contact deeper than the overlap it started the step with (a
  negative MuJoCo pair margin: its contact, and its spring, start there).
* Penetration (reconstruction noise: objects slightly in the ground or in each other): a body
  whose proxy goes deeper than ``max_ground_penetration`` (default 3 mm) into the ground is
  lifted, before simulating, until it just touches it (its velocities are kept). Shallower
  ground contact is left to MuJoCo's soft contacts, which push a body out over a few contact
  time constants (``solref``, 2 substeps = 8 ms by default) instead of impulsively; the
  default ``solref``/``solimp`` are stiffer than MuJoCo's to keep a fast collision's overlap
  to a few mm. Object-object overlap a step starts with is kept (above). An object asleep
  through the step (see ``sleep_speed``) is not lifted: a crude box around a toppled or
  irregular object lies partly in the ground in its true resting pose, and lifting it moved
  resting bystanders by centimetres.
* Energy: a body that ends a step faster than any body started it (plus what gravity adds
  over ``dt``, plus 0.5 m/s) is simulated again with 4x finer substeps, and what is still
  too fast is capped: soft contacts can feed energy into a degenerate proxy (a 5 g needle
  launched at 6 m/s by a 1.5 m/s push).
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
from spatialwm.scene.state import (
    SceneState,
    numpy64,
    quat_conjugate,
    quat_multiply,
    quat_to_matrix,
)

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
GEOMS = ("box", "hull", "box+hull")  # proxy shapes: see PhysicsPrior
MAX_FRICTION = 5.0  # friction coefficients are in [0, MAX_FRICTION]


# ------------------------------------------------------------------- quaternions (numpy)
# Thin numpy views of the one quaternion implementation (spatialwm.scene.state), in float64.
def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of wxyz quaternions ``[K, 4]``."""
    return quat_multiply(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def _qconj(q: np.ndarray) -> np.ndarray:
    return quat_conjugate(np.asarray(q, dtype=np.float64))


def _norm(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Euclidean norm over the last axis (``np.linalg.norm`` costs 5-10 us a call)."""
    return np.sqrt((x * x).sum(-1, keepdims=keepdims))


def _qnormalize(q: np.ndarray) -> np.ndarray:
    return q / _norm(q, keepdims=True)


def _qmat(q: np.ndarray) -> np.ndarray:
    """Unit wxyz quaternions ``[K, 4]`` -> rotation matrices ``[K, 3, 3]``."""
    return quat_to_matrix(np.asarray(q, dtype=np.float64)).reshape(-1, 3, 3)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of ``[K, 3]`` arrays (``np.cross`` costs 40 us a call)."""
    return np.stack([
        a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
        a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
        a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
    ], axis=-1)  # fmt: skip


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
    solreffriction: tuple[float, float] = (0.02, 1.0),
    rolling_friction: float = 0.0,
    torsional_friction: float = 0.0,
    com_drop: float = 0.0,
    pair_friction: float | None = None,
) -> str:
    """MJCF text of the ground and the proxies (bodies named ``obj<id>``)."""
    assets, bodies = [], []
    for k in range(len(proxies)):
        oid = int(proxies.object_ids[k])
        mass = float(proxies.mass[k])
        mu = float(proxies.friction[k])
        box = f'type="box" size="{_fmt(proxies.half_extents[k].tolist())}"'
        extra = ""
        if geom in ("hull", "box+hull"):
            verts = proxies.hull[k].detach().cpu().double().reshape(-1).tolist()
            assets.append(f'<mesh name="hull{oid}" vertex="{_fmt(verts)}"/>')
            hull = f'type="mesh" mesh="hull{oid}"'
        shape = hull if geom == "hull" else box
        if geom == "box+hull":  # the hull collides with other objects, the box with the ground
            extra = (f'<geom name="obj{oid}_hull" {hull} mass="0" '
                     f'contype="0" conaffinity="0"/>')  # fmt: skip
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
            f'contype="0" conaffinity="0"/>{extra}</body>'
        )
    condim = 6 if rolling_friction > 0 or torsional_friction > 0 else 3
    # Every contact is an explicit pair: object-object pairs get a margin per step (minus the
    # overlap they start it with, PhysicsPrior.simulate), and every pair gets softer friction
    # dimensions than normal ones (solreffriction; see PhysicsPrior): with friction as stiff
    # as the normal, MuJoCo's soft contacts turn a box's sliding friction into a normal push
    # that launches it.
    ids = [int(i) for i in proxies.object_ids]

    def between(a: int, b: int) -> float:
        if pair_friction is not None:
            return pair_friction
        return max(float(proxies.friction[a]), float(proxies.friction[b]))

    side = "_hull" if geom == "box+hull" else ""
    pairs = [(f"obj{ids[a]}{side}", f"obj{ids[b]}{side}", between(a, b))
             for a in range(len(ids)) for b in range(a + 1, len(ids))]  # fmt: skip
    pairs += [("ground", f"obj{ids[a]}", float(proxies.friction[a])) for a in range(len(ids))]
    contacts = "".join(
        f'<pair geom1="{g1}" geom2="{g2}" condim="{condim}" '
        f'friction="{mu:.9g} {mu:.9g} {torsional_friction:.9g} {rolling_friction:.9g} '
        f'{rolling_friction:.9g}" solref="{_fmt(solref)}" solimp="{_fmt(solimp)}" '
        f'solreffriction="{_fmt(solreffriction)}"/>'
        for g1, g2, mu in pairs
    )
    return f"""<mujoco model="spatialwm_prior">
  <option timestep="{timestep:.12g}" gravity="0 0 {gravity:.9g}" cone="elliptic"/>
  <asset>{"".join(assets)}</asset>
  <worldbody>
    <geom name="ground" type="plane" size="0 0 1" contype="0" conaffinity="0"/>
    {"".join(bodies)}
  </worldbody>
  <contact>{contacts}</contact>
</mujoco>"""


class PhysicsPrior:
    """MuJoCo simulation of ``K`` rigid proxies on the ground plane ``z = 0``.

    Args:
        proxies: the objects' proxies (see :func:`~spatialwm.dynamics.proxy.proxies_from_state`).
        timestep: physics substep (s); :meth:`simulate` takes ``round(dt / timestep)`` equal
            substeps of exactly ``dt / n``.
        gravity: z component of gravity (m/s^2).
        geom: one of :data:`GEOMS`: ``"box"`` (default); ``"hull"`` (needs ``proxies.hull``);
            ``"box+hull"``: each body carries both, the box (with the mass) touching the
            ground and the hull (massless) touching other objects. A box around an irregular
            object overlaps its neighbours where the object does not, so resting neighbours
            of a pushed object get hit and woken; a hull of reconstructed points is rounded
            underneath and rolls on the ground, so the box stands there. On held-out push
            episodes 101-110 the prior's bystander error at h = 5 / 10 / 20 is 1.35 / 2.08 /
            2.94 cm with ``"box+hull"`` (hulls grown to the surface, ``proxies_from_state``),
            1.59 / 2.39 / 3.20 with boxes.
        solref: MuJoCo contact ``(time constant, damping ratio)``; default ``(2 * timestep,
            1)``, the stiffest MuJoCo accepts (its default, 0.02 s, lets two objects colliding
            at 2 m/s overlap by ~25 mm; this keeps it to ~4 mm).
        solimp: MuJoCo contact impedance; the default is stiffer than MuJoCo's.
        solreffriction: MuJoCo ``solref`` of the contacts' friction dimensions (elliptic
            cones). As stiff as the normal (``solref``), sliding friction becomes a normal
            push: a 4 cm box pushed at 1.6 m/s hops 29 mm off the ground. The default
            ``(0.02, 1)`` keeps that to 5 mm and slides within 3 % of the Coulomb distance;
            ``(0.1, 1)`` removes the hop (0.3 mm) but predicted the push episodes' collisions
            worse (pushed position error at h = 5 / 10 / 20 on 12 training episodes: 7.4 /
            9.9 / 14.5 cm against 5.1 / 7.7 / 11.1).
        max_ground_penetration: objects deeper than this in the ground (m) are lifted onto it
            before simulating; ``None`` disables it.
        rolling_friction: MuJoCo rolling friction (m: the resisting torque is at most this
            times the normal force); > 0 (or ``torsional_friction`` > 0) switches contacts to
            ``condim="6"``. Resists tipping and rolling, as Bullet's rolling friction does.
        torsional_friction: MuJoCo torsional (spinning) friction (m).
        com_drop: the centre of mass sits this fraction of the box's half height below its
            centre (``[0, 1)``; the body frame stays at the box centre).
        pair_friction: sliding friction between two objects; ``None``: the larger of their
            own (``proxies.friction``, which is always their friction on the ground). Bodies
            that slide on a floor with one coefficient often grip each other with another.
        sleep_speed, sleep_spin: an object starting a step on the ground (its proxy within
            3 mm of it) and slower than both (m/s, rad/s) is *asleep*, as rigid-body engines
            deactivate resting bodies: it is simulated, but
            unless it touches an awake object during the step (which wakes it; contact
            spreads through stacks) it ends the step exactly where it started, at rest. This
            keeps bystanders still when their proxies are not in perfect equilibrium (a box
            around a mug, a pose from another source). ``sleep_speed=None``: no sleeping.
        keep_overlap: let each object pair keep the overlap it starts a step with (default);
            ``False``: MuJoCo pushes overlapping proxies apart (by centimetres in a step when
            the boxes of touching objects overlap that much).

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
        solreffriction: tuple[float, float] = (0.02, 1.0),
        max_ground_penetration: float | None = 0.003,
        rolling_friction: float = 0.0,
        torsional_friction: float = 0.0,
        sleep_speed: float | None = 0.05,
        sleep_spin: float = 0.5,
        com_drop: float = 0.0,
        keep_overlap: bool = True,
        pair_friction: float | None = None,
    ) -> None:
        _check_proxies(proxies)
        if pair_friction is not None and not (
            math.isfinite(pair_friction) and 0.0 <= pair_friction <= MAX_FRICTION
        ):
            raise InputError(
                f"PhysicsPrior: pair_friction must be in [0, {MAX_FRICTION:g}], got {pair_friction}"
            )
        for name, v in (("rolling_friction", rolling_friction),
                        ("torsional_friction", torsional_friction)):  # fmt: skip
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise InputError(f"PhysicsPrior: {name} must be in [0, 1] m, got {v}")
        if not (math.isfinite(com_drop) and 0.0 <= com_drop < 1.0):
            raise InputError(f"PhysicsPrior: com_drop must be in [0, 1), got {com_drop}")
        if geom not in GEOMS:
            raise InputError(f"PhysicsPrior: geom must be one of {GEOMS}, got {geom!r}")
        if geom != "box" and proxies.hull is None:
            raise InputError(
                f"PhysicsPrior: geom={geom!r} needs proxies_from_state(..., hull=True)"
            )
        if not (math.isfinite(timestep) and 1e-5 <= timestep <= 0.1):
            raise InputError(f"PhysicsPrior: timestep must be in [1e-5, 0.1] s, got {timestep}")
        self.proxies = proxies
        self.timestep = float(timestep)
        self.geom = geom
        self.max_ground_penetration = max_ground_penetration
        self.sleep_speed = None if sleep_speed is None else float(sleep_speed)
        self.sleep_spin = float(sleep_spin)
        self.keep_overlap = bool(keep_overlap)
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
                solreffriction=solreffriction,
                rolling_friction=rolling_friction,
                torsional_friction=torsional_friction,
                com_drop=com_drop,
                pair_friction=pair_friction,
            )
        )
        self._data = mujoco.MjData(self.model)
        self._pair_friction = self.model.pair_friction.copy()  # as built (see simulate)
        # geom id -> object index (body order), -1 for the ground
        self._geom_object = np.asarray(self.model.geom_bodyid, dtype=np.int64) - 1
        # explicit contact pairs -> their two objects ``[P, 2]`` (-1: the ground)
        self._pair_objects = np.stack(
            [self._geom_object[self.model.pair_geom1], self._geom_object[self.model.pair_geom2]],
            axis=-1,
        ).reshape(-1, 2)
        self._centre = numpy64(proxies.centre)  # [K, 3]
        self._rotation = _qnormalize(numpy64(proxies.rotation))
        if geom == "hull":
            support = [numpy64(h) for h in proxies.hull]
        else:
            corners = _unit_corners().double().numpy()
            support = [corners * h for h in numpy64(proxies.half_extents)]
        self._support = support  # per object [V, 3] ground-contact points in the box frame
        self._box_half = (None if geom == "hull"
                          else numpy64(proxies.half_extents))  # fmt: skip

    @property
    def num_objects(self) -> int:
        return len(self.proxies)

    @property
    def object_ids(self) -> Tensor:
        """``[K]`` dataset ids of the simulated objects, in body order."""
        return self.proxies.object_ids

    # -------------------------------------------------------------------- conversions
    def _to_body(
        self, p: np.ndarray, q: np.ndarray, v: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Object-frame state -> MuJoCo free-joint state ``(pos, quat, linvel, local angvel)``."""
        q = _qnormalize(q)
        arm = _rotate(_qmat(q), self._centre)  # canonical origin -> box centre, world
        qb = _qnormalize(_qmul(q, self._rotation))
        Rb = _qmat(qb)
        pb = p + arm
        vb = v + _cross(w, arm)
        wb = np.einsum("kji,kj->ki", Rb, w)  # R^T w
        return pb, qb, vb, wb

    def _lowest(self, pb: np.ndarray, qb: np.ndarray) -> np.ndarray:
        """``[K]`` height (m) of each body's lowest support point at ``(pb, qb)``."""
        Rb = _qmat(qb)
        if self._box_half is not None:  # box: sum_j h_j |R[2, j]| below the centre
            return pb[:, 2] - (self._box_half * np.abs(Rb[:, 2, :])).sum(-1)
        return np.array([float((sup @ Rb[i].T)[:, 2].min() + pb[i, 2])
                         for i, sup in enumerate(self._support)])  # fmt: skip

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
        return pb - arm, q, vb - _cross(w, arm), w

    # ---------------------------------------------------------------------- simulation
    def simulate(
        self,
        positions: Tensor,
        orientations: Tensor,
        linear_velocity: Tensor,
        angular_velocity: Tensor,
        dt: float,
        *,
        overlaps: Tensor | None = None,
        friction: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Simulate the objects for ``dt`` seconds from the given state.

        Args:
            positions: ``[K, 3]`` world positions of the objects' canonical frames.
            orientations: ``[K, 4]`` wxyz orientations (any non-zero length).
            linear_velocity: ``[K, 3]`` m/s of the canonical frames' origins, world frame.
            angular_velocity: ``[K, 3]`` rad/s, world frame.
            dt: seconds, ``0 < dt <= 10``.
            overlaps: the state's :meth:`overlaps` if the caller has them already (each pair
                keeps that much overlap); default: computed here.
            friction: ``[K]`` each object's sliding friction on the ground for this step
                (an estimate in the state); default: the proxies'. Friction between objects
                stays as built.

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
            a = numpy64(t)
            if not np.isfinite(a).all():
                raise InputError(f"simulate: {name} has non-finite values")
            arrays.append(a)
        if k and (_norm(arrays[1]) < 1e-6).any():
            raise InputError("simulate: orientations contain a zero quaternion")
        if not (math.isfinite(dt) and 0.0 < dt <= MAX_DT):
            raise InputError(f"simulate: dt must be in (0, {MAX_DT}] s, got {dt}")
        if k == 0:
            return tuple(torch.from_numpy(a).float() for a in arrays)  # type: ignore[return-value]
        pb, qb, vb, wb = self._to_body(*arrays)
        lowest = self._lowest(pb, qb)
        if self.max_ground_penetration is not None:  # lift objects sunk deeper than that
            lift = np.where(lowest < -self.max_ground_penetration, -lowest, 0.0)
            pb[:, 2] += lift
            lowest = lowest + lift

        m, d = self.model, self._data
        m.pair_friction[:] = self._pair_friction
        if friction is not None:
            mu = numpy64(friction).reshape(-1)
            if mu.shape != (k,) or not np.isfinite(mu).all() or (mu < 0).any():
                raise InputError(f"simulate: friction must be [{k}] finite and >= 0")
            ground = self._pair_objects[:, 0] < 0
            mu = np.minimum(mu[self._pair_objects[ground, 1]], MAX_FRICTION)
            m.pair_friction[ground, 0] = mu
            m.pair_friction[ground, 1] = mu
        # proxies overlapping at the start (crude boxes around touching objects) keep that
        # overlap without being pushed apart: a pair's contact only exists, and its spring
        # only acts, beyond the depth it started with (a negative pair margin)
        if self.keep_overlap:
            start = (self._overlaps_body(pb, qb) if overlaps is None
                     else numpy64(overlaps))  # fmt: skip
            a, b = self._pair_objects[:, 0], self._pair_objects[:, 1]
            m.pair_margin[:] = -np.where((a >= 0) & (b >= 0), start[a, b], 0.0)
        else:
            m.pair_margin[:] = 0.0
        n = max(1, round(dt / self.timestep))
        m.opt.timestep = dt / n
        mujoco.mj_resetData(m, d)  # clears time, warm starts, contacts: no carried state
        qpos = d.qpos.reshape(k, 7)
        qvel = d.qvel.reshape(k, 6)
        qpos[:, :3], qpos[:, 3:] = pb, qb
        qvel[:, :3], qvel[:, 3:] = vb, wb
        awake = np.ones(k, dtype=bool)
        if self.sleep_speed is not None:
            speed = _norm(arrays[2])
            spin = _norm(arrays[3])
            grounded = lowest < SLEEP_GROUND_GAP
            awake = (speed > self.sleep_speed) | (spin > self.sleep_spin) | ~grounded

        def run(substeps: int = n) -> bool:
            """Step ``substeps`` substeps; False if MuJoCo found the simulation unstable."""
            if awake.all():
                mujoco.mj_step(m, d, nstep=substeps)
            else:
                obj = self._geom_object
                for _ in range(substeps):
                    mujoco.mj_step(m, d)
                    if d.ncon:
                        pairs = obj[d.contact.geom[: d.ncon]]  # [ncon, 2] object or -1
                        pairs = pairs[(pairs >= 0).all(axis=1)]
                        for a, b in pairs:
                            if awake[a] != awake[b]:
                                awake[a] = awake[b] = True  # touched by a moving object
            return d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0

        # no collision may make a body faster than the fastest one was, plus what gravity adds
        # over the step: more is soft contacts feeding energy into a degenerate proxy
        limit = float(_norm(vb).max()) + abs(GRAVITY) * dt + ENERGY_SLACK

        def too_fast() -> bool:
            return bool(_norm(d.qvel.reshape(k, 6)[:, :3]).max() > limit)

        with _quiet_mujoco():
            stable = run()
            if stable and too_fast():  # again with 4x finer substeps, then cap what is left
                m.opt.timestep = dt / (4 * n)
                mujoco.mj_resetData(m, d)
                qpos, qvel = d.qpos.reshape(k, 7), d.qvel.reshape(k, 6)
                qpos[:, :3], qpos[:, 3:] = pb, qb
                qvel[:, :3], qvel[:, 3:] = vb, wb
                stable = run(4 * n)
                if stable:
                    qvel = d.qvel.reshape(k, 6)
                    qvel[:, :3] = cap_length(qvel[:, :3].copy(), limit)
            if not stable:
                # unstable (MuJoCo reset the bodies): start again with the velocities capped
                # and finer substeps, and as a last resort let the objects stop where they are
                vb = cap_length(vb, MAX_SPEED)
                wb = cap_length(wb, MAX_SPIN)
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
                    if run(n):
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
            out[0][rest] = arrays[0][rest]  # not even lifted: see `sunk`
            out[1][rest] = q * np.where(q[:, :1] < 0, -1.0, 1.0)
            out[2][rest] = 0.0
            out[3][rest] = 0.0
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).float() for a in out)  # type: ignore[return-value]

    # ------------------------------------------------------------------ contact queries
    def _contacts_body(
        self, pb: np.ndarray, qb: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MuJoCo's contacts of the bodies at rest at ``(pb, qb)`` (pair margins zero):
        ``(objects [n, 2] (object index, -1 for the ground), depth [n] (m, > 0 overlapping),
        normal [n, 3] (from the first geom to the second))``."""
        k = self.num_objects
        m, d = self.model, self._data
        m.pair_margin[:] = 0.0
        mujoco.mj_resetData(m, d)
        d.qpos.reshape(k, 7)[:, :3] = pb
        d.qpos.reshape(k, 7)[:, 3:] = qb
        mujoco.mj_forward(m, d)
        n = d.ncon
        return (
            self._geom_object[np.asarray(d.contact.geom[:n])].reshape(-1, 2),
            -np.asarray(d.contact.dist[:n], dtype=np.float64),
            np.asarray(d.contact.frame[:n, :3], dtype=np.float64).reshape(-1, 3),
        )

    def _overlaps_body(self, pb: np.ndarray, qb: np.ndarray) -> np.ndarray:
        """``[K, K]`` deepest overlap (m, >= 0, symmetric) of each pair of bodies."""
        k = self.num_objects
        out = np.zeros((k, k))
        if k < 2:
            return out
        objs, depth, _ = self._contacts_body(pb, qb)
        pair = (objs >= 0).all(axis=1) & (depth > 0)
        for (a, b), dep in zip(objs[pair], depth[pair], strict=True):
            out[a, b] = out[b, a] = max(out[a, b], dep)
        return out

    def _body_poses(self, positions: Tensor, orientations: Tensor) -> tuple[np.ndarray, ...]:
        k = self.num_objects
        zeros = np.zeros((k, 3))
        pb, qb, _, _ = self._to_body(
            numpy64(positions),
            _qnormalize(numpy64(orientations)),
            zeros,
            zeros,
        )
        return pb, qb

    def overlaps(self, positions: Tensor, orientations: Tensor) -> Tensor:
        """``[K, K]`` float64 deepest overlap (m, >= 0, symmetric, zero diagonal) of each pair
        of proxies at the given object poses ``[K, 3]``, ``[K, 4]``."""
        return self.allowances(positions, orientations)[0]

    def sunk(self, positions: Tensor, orientations: Tensor) -> Tensor:
        """``[K]`` float64 depth (m, >= 0) of each proxy's lowest point below the ground at
        the given poses. A crude box around a toppled or irregular object lies partly in the
        ground in its true resting pose; :meth:`separate` and :meth:`penetration` take these
        depths of a step's start state as what each object may keep, and an object asleep
        through a step is not lifted either, so a resting object stays where it rests."""
        return self.allowances(positions, orientations)[1]

    def allowances(self, positions: Tensor, orientations: Tensor) -> tuple[Tensor, Tensor]:
        """``(overlaps [K, K], sunk [K])`` of the given poses (:meth:`overlaps`,
        :meth:`sunk`: what a step starting there lets each pair and each object keep), from
        one conversion of the poses (which costs more than both measures)."""
        k = self.num_objects
        if tuple(positions.shape) != (k, 3) or tuple(orientations.shape) != (k, 4):
            raise InputError(
                f"PhysicsPrior: poses must be [{k}, 3] and [{k}, 4], got "
                f"{tuple(positions.shape)} and {tuple(orientations.shape)}"
            )
        if k == 0:
            return torch.zeros(0, 0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        pb, qb = self._body_poses(positions, orientations)
        sunk = np.maximum(-self._lowest(pb, qb), 0.0)
        return torch.from_numpy(self._overlaps_body(pb, qb)), torch.from_numpy(sunk)

    def separate(
        self,
        positions: Tensor,
        orientations: Tensor,
        *,
        allowed: Tensor | None = None,
        sunk: Tensor | None = None,
        tolerance: float = 0.001,
        iterations: int = 20,
    ) -> Tensor:
        """Translate the proxies out of each other and out of the ground (no rotation, no
        velocity change): the structural prior's non-interpenetration, enforced on a state
        that something other than the simulator (a learned correction) produced.

        ``allowed``: ``[K, K]`` overlap (m) each pair may keep (:meth:`overlaps` of the state
        a step started from: crude proxies of touching objects overlap, and a step must not
        push them apart for it); ``sunk``: ``[K]`` depth each object may keep in the ground
        (:meth:`sunk` of that state); default none. Each iteration finds MuJoCo's contacts
        deeper than their allowance plus ``tolerance`` (m); an object in the ground is lifted
        by its excess depth, two overlapping objects move apart along the contact normal by
        half the excess each (plus ``tolerance / 2``). Returns the new ``[K, 3]`` positions
        (float32; unchanged rows where nothing overlapped)."""
        k = self.num_objects
        p = numpy64(positions).copy()
        if k == 0:
            return torch.from_numpy(p).float()
        q = _qnormalize(numpy64(orientations))
        zeros = np.zeros((k, 3))
        free = _allowance(k, allowed, sunk)
        for _ in range(iterations):
            pb, qb, _, _ = self._to_body(p, q, zeros, zeros)
            objs, depth, normals = self._contacts_body(pb, qb)
            ground = (objs < 0).any(axis=1)
            a, b = objs[:, 0], objs[:, 1]
            excess = depth - _allowed_depth(free, objs)
            deep = np.flatnonzero(excess > tolerance)
            if deep.size == 0:
                break
            delta = np.zeros((k, 3))
            for c in deep:
                if ground[c]:
                    obj = max(a[c], b[c])
                    delta[obj, 2] = max(delta[obj, 2], excess[c])
                else:  # the normal points from the first object to the second
                    push = 0.5 * (excess[c] + 0.5 * tolerance) * normals[c]
                    delta[a[c]] -= push
                    delta[b[c]] += push
            p = p + delta
        return torch.from_numpy(p).float()

    def penetration(
        self,
        positions: Tensor,
        orientations: Tensor,
        *,
        allowed: Tensor | None = None,
        sunk: Tensor | None = None,
    ) -> tuple[float, float]:
        """Deepest interpenetration (m) of the proxies at the given poses: ``(object-ground,
        object-object)``, from MuJoCo's collision detection (0 when nothing overlaps).
        ``allowed``: ``[K, K]`` overlap each pair may have, ``sunk``: ``[K]`` depth each object
        may have in the ground (e.g. :meth:`overlaps` and :meth:`sunk` of a start state, as in
        :meth:`separate`); depths are counted beyond them."""
        k = self.num_objects
        if k == 0:
            return 0.0, 0.0
        objs, depth, _ = self._contacts_body(*self._body_poses(positions, orientations))
        ground = (objs < 0).any(axis=1)
        depth = np.maximum(depth - _allowed_depth(_allowance(k, allowed, sunk), objs), 0.0)
        return (float(depth[ground].max(initial=0.0)), float(depth[~ground].max(initial=0.0)))


def _allowance(k: int, allowed: Tensor | None, sunk: Tensor | None) -> np.ndarray:
    """``[K + 1, K + 1]`` depth each contact may keep: pairs from ``allowed`` ``[K, K]``, an
    object and the ground (index ``-1``, the last row and column) from ``sunk`` ``[K]``."""
    free = np.zeros((k + 1, k + 1))
    if allowed is not None:
        free[:k, :k] = numpy64(allowed)
    if sunk is not None:
        free[:k, k] = free[k, :k] = numpy64(sunk)
    return free


def _allowed_depth(free: np.ndarray, objs: np.ndarray) -> np.ndarray:
    """``[n]`` allowance of contacts between ``objs`` ``[n, 2]`` (object index, -1: ground)."""
    return free[objs[:, 0], objs[:, 1]]


MAX_SPEED = 10.0  # m/s, cap of a body's speed when a step has to be retried
ENERGY_SLACK = 0.5  # m/s a body may end a step faster than any body started it (+ g dt)
MAX_SPIN = 50.0  # rad/s


def cap_length(x: np.ndarray, limit) -> np.ndarray:
    """Rows of ``x [K, 3]`` scaled down to Euclidean length ``limit`` (a number, or ``[K]``
    per row) where longer."""
    n = _norm(x, keepdims=True)
    return x * np.minimum(
        1.0, np.asarray(limit, dtype=np.float64)[..., None] / np.maximum(n, 1e-12)
    )


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


def simulate_state(
    prior: PhysicsPrior, state: SceneState, dt: float = 0.1, *, overlaps: Tensor | None = None
) -> SceneState:
    """Let ``dt`` seconds pass under the prior (no actions): the next state, ``step + 1``.
    ``overlaps``: the state's :meth:`PhysicsPrior.overlaps`, if already known."""
    ids = state.object_ids[1:].cpu()
    if prior.num_objects != len(ids) or not torch.equal(prior.object_ids.cpu(), ids):
        raise InputError(
            f"step_prior: the prior simulates objects {prior.object_ids.tolist()} but the "
            f"state has {ids.tolist()}"
        )
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and 0.0 < dt <= MAX_DT):
        raise InputError(f"step_prior: dt must be in (0, {MAX_DT}] s, got {dt!r}")
    friction = None if state.friction is None else state.friction[1:]
    new = prior.simulate(
        state.positions[1:], state.orientations[1:],
        state.linear_velocity[1:], state.angular_velocity[1:], float(dt), overlaps=overlaps,
        friction=friction,
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
