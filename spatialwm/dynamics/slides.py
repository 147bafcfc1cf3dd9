"""The floor's sliding friction read off trajectories: an object sliding freely on the
ground decelerates by ``mu g``, so three consecutive ground positions ``dt`` apart along one
line give ``mu = (|d1| - |d2|) / (g dt^2)`` (``d1, d2`` the two displacements).

Only clean slides count: both displacements at least ``min_step`` long and parallel (a turn
or a collision is not a slide), and the second one long enough that the object was still
sliding at its end (``|d2| > |d1| / 3``: with a constant deceleration it stops within the
second step otherwise). Objects that tumble or roll still give some low values, so many
slides are summarised by where the objects that slide agree (:func:`floor_friction`): how
tightly they agree is the spread of the values above the median of all (rolling and
tumbling only lower values, so the upper side shows the sliders alone), and their friction
is the centre of the values within 3 such spreads (the median of that window, moved until
it stays), not the median of all, which the rollers pull down (the README's 47 training
episodes: 0.605 against 0.600; held-out occlusion episodes' sliders: 0.611); also the share
of all slides within that window.

The first step of a slide that a push started has a known start speed ``u`` (the push's),
so one step measures it: ``s = u dt - mu g dt^2 / 2`` along the push while the object still
slides at the step's end, ``s = u^2 / (2 mu g)`` if it stopped within the step
(:func:`friction_of_push`). An object that is behind an occluder one step after its push
gives its friction no other chance.

Used on training episodes (``train-dynamics`` records the floor's friction in the model
file) and online by object permanence (:mod:`spatialwm.track.friction`).

Forward, :func:`coulomb_slide` says how far a free slide goes in one step: Coulomb friction
integrated as the physics prior integrates it (semi-implicit Euler in ``dt / timestep``
substeps; the generator's Bullet steps the same way at 240 Hz), without the prior's soft
contacts, whose friction lets a pushed box hop and slide a few percent further.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.dynamics.prior import GRAVITY as GRAVITY_Z

__all__ = [
    "GRAVITY",
    "FloorFriction",
    "along_ground",
    "clean_slide_frictions",
    "coulomb_slide",
    "floor_friction",
    "friction_of_push",
    "friction_of_slide",
    "push_step",
    "still_sliding",
]

GRAVITY = abs(GRAVITY_Z)  # m/s^2, the prior's
GROUND_VZ = 1e-6  # m/s: a push with less vertical speed than this is along the ground
TIMESTEP = 1.0 / 240.0  # s: the physics prior's default substep (and Bullet's)
MAX_CENTRE_STEPS = 20  # floor_friction: moves of the sliders' window


def along_ground(velocity) -> bool:
    """Whether a push's world ``velocity`` (3 numbers, m/s) is along the ground (a push with an
    upward part throws the object: no slide starts)."""
    return abs(float(velocity[2])) < GROUND_VZ


def friction_of_slide(
    xy: Tensor, dt: float, *, min_step: float = 0.02, parallel: float = 0.95
) -> float | None:
    """Friction of one object's slide through ``xy [3, 2]`` (ground positions at three
    consecutive steps ``dt`` apart), or ``None`` if those are not a clean slide."""
    if not bool(torch.isfinite(xy).all()):
        return None
    d1, d2 = (xy[1] - xy[0]).double(), (xy[2] - xy[1]).double()
    n1, n2 = float(d1.norm()), float(d2.norm())
    if n1 < min_step or n2 < min_step or n2 * 3.0 <= n1:
        return None
    if float(d1 @ d2) < parallel * n1 * n2:
        return None
    return (n1 - n2) / (GRAVITY * dt * dt)


def push_step(
    xy: Tensor, velocity: Tensor, dt: float, *, min_step: float = 0.02, lateral: float = 0.25
) -> tuple[float, float] | None:
    """The first step of a slide that a push started, if it is a clean one: ``xy [2, 2]``
    ground positions when the push set the ground velocity ``velocity [2]`` (m/s) and
    ``dt`` later. Returns ``(push speed u, displacement s along the push)``, or ``None``: a
    position unknown, a push or a displacement shorter than ``min_step``, a displacement
    off the push's line by more than ``lateral`` of its length (turned by a collision), or
    longer than the push can slide in ``dt`` (no friction makes an object faster)."""
    if not (bool(torch.isfinite(xy).all()) and bool(torch.isfinite(velocity).all())):
        return None
    v = velocity.double()
    u = float(v.norm())
    if u * dt < min_step:
        return None
    along = v / u
    d = (xy[1] - xy[0]).double()
    s = float(d @ along)
    side = float((d - s * along).norm())
    if s < min_step or side > lateral * s or s > u * dt:
        return None
    return u, s


def still_sliding(xy: Tensor, velocity: Tensor, dt: float) -> bool:
    """Whether ``xy [2, 2]`` is a clean first step (:func:`push_step`) at whose end the
    object still slides (it covered over half of ``u dt``: at constant deceleration one
    that stops within the step covers at most half)."""
    step = push_step(xy, velocity, dt)
    return step is not None and _sliding_at_end(*step, dt)


def _sliding_at_end(u: float, s: float, dt: float) -> bool:
    """A step from speed ``u`` covering ``s`` along the push ends still sliding: at constant
    deceleration one that stops within the step covers at most half of ``u dt``."""
    return s > 0.5 * u * dt


def friction_of_push(
    xy: Tensor, velocity: Tensor, dt: float, *, min_step: float = 0.02, lateral: float = 0.25
) -> float | None:
    """Friction of the first step of a slide that a push started (``xy [2, 2]``,
    ``velocity [2]`` as in :func:`push_step`); ``None`` if that is not a clean start."""
    step = push_step(xy, velocity, dt, min_step=min_step, lateral=lateral)
    if step is None:
        return None
    u, s = step
    if _sliding_at_end(u, s, dt):
        return 2.0 * (u * dt - s) / (GRAVITY * dt * dt)
    return u * u / (2.0 * s * GRAVITY)  # stopped within it


def coulomb_slide(
    speed: float, friction: float, dt: float, *, timestep: float = TIMESTEP
) -> tuple[float, float]:
    """One step of a free slide on the ground: ``(distance, speed at the end)`` (m, m/s) of an
    object starting at ``speed`` (m/s) and decelerated by ``friction * g`` until it stops,
    integrated by semi-implicit Euler in ``n = max(1, round(dt / timestep))`` equal substeps
    (each first lowers the speed, then moves at it; closed form).

    As ``n`` grows, the distance tends to ``speed dt - friction g dt^2 / 2`` (still sliding at
    the end) or ``speed^2 / (2 friction g)`` (stopped within the step); with ``n`` substeps a
    step covers ``friction g dt^2 / (2 n)`` less, and a slide to rest ``speed dt / (2 n)``
    less."""
    if not all(math.isfinite(x) for x in (speed, friction, dt, timestep)):
        raise ValueError("coulomb_slide: speed, friction, dt and timestep must be finite")
    if speed < 0.0 or friction < 0.0 or dt <= 0.0 or timestep <= 0.0:
        raise ValueError("coulomb_slide: speed and friction must be >= 0, dt and timestep > 0")
    n = max(1, round(dt / timestep))
    h = dt / n
    a = friction * GRAVITY
    # substeps that end still moving: the speed after k substeps is speed - k a h
    k = n if a * h * n <= speed else math.floor(speed / (a * h))
    distance = h * (k * speed - a * h * k * (k + 1) / 2.0)
    return distance, (speed - a * h * n) if k == n else 0.0


@dataclass(frozen=True)
class FloorFriction:
    """The floor's sliding friction as many clean slides show it.

    Attributes:
        friction: the friction of the objects that slide (the centre of the slides within
            ``3 spread`` of it; their median when there is no spread).
        spread: std of the friction of the objects that slide like the floor (1.4826 x
            the median distance above the median of all of the values above it), or ``None``.
        share: the fraction of the slides within ``3 spread`` of ``friction``, or ``None``.
        slides: how many clean slides.
    """

    friction: float
    spread: float | None = None
    share: float | None = None
    slides: int = 0


def clean_slide_frictions(tracks: Iterable[Tensor], dt: float) -> list[float]:
    """The friction of every clean slide in ``tracks`` (each ``[T, 2]``: one object's ground
    positions at consecutive steps ``dt`` apart)."""
    values = []
    for xy in tracks:
        for t in range(len(xy) - 2):
            mu = friction_of_slide(xy[t : t + 3], dt)
            if mu is not None:
                values.append(mu)
    return values


def floor_friction(tracks: Iterable[Tensor], dt: float) -> FloorFriction | None:
    """:class:`FloorFriction` of the clean slides in ``tracks`` (each ``[T, 2]``: one object's
    ground positions at consecutive steps ``dt`` apart), ``None`` if there is none;
    ``spread`` and ``share`` need 10 slides (with fewer, ``friction`` is their median)."""
    values = torch.tensor(clean_slide_frictions(tracks, dt), dtype=torch.float64)
    if len(values) == 0:
        return None
    med = float(values.median())
    above = values[values > med] - med
    if len(values) < 10 or len(above) == 0 or float(above.median()) <= 0.0:
        return FloorFriction(med, slides=len(values))
    spread = 1.4826 * float(above.median())
    centre = med
    for _ in range(MAX_CENTRE_STEPS):  # the sliders' window, moved until its median stays
        window = values[(values - centre).abs() <= 3.0 * spread]
        moved = float(window.median())
        if abs(moved - centre) < 1e-9:
            break
        centre = moved
    share = float(((values - centre).abs() <= 3.0 * spread).double().mean())
    return FloorFriction(centre, spread, share, len(values))
