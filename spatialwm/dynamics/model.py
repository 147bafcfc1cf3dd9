"""The dynamics model: estimated physical parameters plus learned residual networks, one
JSON file, and the step function that combines them with the physics prior.

Modes of :func:`step_dynamics` (the evaluation's ablations):

* ``"prior"``: the MuJoCo prior with the model's physical parameters;
* ``"prior+learned"`` (default): the prior, then the residual network's correction;
* ``"learned"``: plain kinematic integration, then the ``learned_only`` network's correction
  (no physics engine: what learning alone achieves with the same data).

File (``spatialwm train-dynamics --out``; the default model ships as
``spatialwm/dynamics/default_model.json``)::

    {"format": "spatialwm.dynamics_model", "version": 2,
     "friction": 0.6, "density": 1000.0, "rolling_friction": 0.0, "com_drop": 0.0,
     "pair_friction": 1.5 | null, "geom": "box" | "box+hull" | "hull",   # optional
     "residual": {hidden, radius, state: {name: {shape, f32 (base64)}}}
                 | {members: [network, ...]} (an ensemble) | null,
     "learned_only": {...} | null,
     "mode": "prior+learned" | "prior",   # the mode WorldModel uses unless told otherwise
     "slide_friction": 0.6 | null,        # optional: the floor's, from clean slides
     "slide_friction_spread": 0.017 | null, "slide_friction_share": 0.47 | null,  # optional
     "info": {provenance: episodes, command, training errors}}

Version 1 files (parameters only) still load, with no networks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spatialwm.data.actions import Action, PlaceAction, PushAction, step_actions
from spatialwm.data.io import read_json, write_json
from spatialwm.dynamics.params import DynamicsParams
from spatialwm.dynamics.prior import (
    GEOMS,
    MAX_DT,
    MAX_FRICTION,
    PhysicsPrior,
    apply_actions,
    cap_length,
    simulate_state,
)
from spatialwm.dynamics.residual import (
    Corrector,
    correct,
    integrate,
    net_from_json,
    net_to_json,
)
from spatialwm.dynamics.residual import Poses as _Poses
from spatialwm.dynamics.slides import FloorFriction
from spatialwm.errors import DatasetError, InputError
from spatialwm.scene.state import SceneState, numpy64

__all__ = [
    "DEFAULT_MODEL",
    "MODES",
    "DynamicsModel",
    "DynamicsParams",
    "load_model",
    "save_model",
    "step_dynamics",
]

MODEL_FORMAT = "spatialwm.dynamics_model"
MODEL_VERSION = 2
DEFAULT_MODEL = Path(__file__).with_name("default_model.json")
MODES = ("prior", "prior+learned", "learned")
# what a correction may add to the distance (m) and angle (rad) an object covers in a step
REACH_SHIFT = 0.005
REACH_TURN = 0.05


@dataclass(frozen=True)
class DynamicsModel:
    """Physical parameters + the residual network on the prior + the learned-only network.

    Attributes:
        params: the prior's physical parameters.
        residual: corrects the prior's step (``None``: the prior alone): a network or an
            ensemble of them (:class:`~spatialwm.dynamics.residual.NetEnsemble`).
        learned_only: corrects kinematic integration (the ablation without physics).
        mode: the mode to step in unless told otherwise: ``train-dynamics`` picks the one
            with the lower rollout error on its validation episodes.
        info: provenance (episodes, command, errors), written with the model.
        slide_friction: the floor's sliding friction read off the clean free slides of the
            training episodes (where the objects that slide agree;
            :func:`~spatialwm.dynamics.slides.floor_friction`),
            or ``None``. Not what the prior steps with (``params.friction``, fitted to whole
            rollouts, also absorbs tumbling and collisions), but where an estimate from
            observed slides starts (:mod:`spatialwm.track.friction`).
        slide_friction_spread, slide_friction_share: how tightly the training objects that
            slide agree with it (:class:`~spatialwm.dynamics.slides.FloorFriction`), or
            ``None``: object permanence's friction filter then weighs "slides like the
            floor" against "has its own friction".
    """

    params: DynamicsParams = field(default_factory=DynamicsParams)
    residual: Corrector | None = None
    learned_only: Corrector | None = None
    mode: str = "prior+learned"
    info: dict = field(default_factory=dict, compare=False)
    slide_friction: float | None = None
    slide_friction_spread: float | None = None
    slide_friction_share: float | None = None

    @property
    def floor(self) -> FloorFriction:
        """:attr:`floor_friction` with the training slides' spread and share (where an
        estimate of each object's friction starts, :mod:`spatialwm.track.friction`)."""
        return FloorFriction(self.floor_friction, self.slide_friction_spread,
                             self.slide_friction_share)  # fmt: skip

    @property
    def floor_friction(self) -> float:
        """Where an estimate of the floor's friction starts: ``slide_friction``, else the
        prior's friction."""
        return self.params.friction if self.slide_friction is None else self.slide_friction


def save_model(path: str | os.PathLike, model: DynamicsModel) -> None:
    """Write a dynamics model file (atomic)."""
    p = model.params
    write_json(path, {
        "format": MODEL_FORMAT, "version": MODEL_VERSION,
        "friction": p.friction, "density": p.density, "rolling_friction": p.rolling_friction,
        "com_drop": p.com_drop, "pair_friction": p.pair_friction, "geom": p.geom,
        "residual": net_to_json(model.residual) if model.residual is not None else None,
        "learned_only": (net_to_json(model.learned_only)
                         if model.learned_only is not None else None),
        "mode": model.mode, "slide_friction": model.slide_friction,
        "slide_friction_spread": model.slide_friction_spread,
        "slide_friction_share": model.slide_friction_share, "info": model.info,
    })  # fmt: skip


def load_model(path: str | os.PathLike | None = None) -> DynamicsModel:
    """Read a dynamics model file (default: the shipped ``default_model.json``)."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.exists():
        raise DatasetError(f"{path}: dynamics model file not found")
    rec = read_json(path)
    if not isinstance(rec, dict) or rec.get("format") != MODEL_FORMAT:
        raise DatasetError(f"{path}: not a spatialwm dynamics model")
    version = rec.get("version")
    if version not in (1, MODEL_VERSION):
        raise DatasetError(
            f"{path}: dynamics model version {version}, this spatialwm reads 1 and "
            f"{MODEL_VERSION}; retrain it with spatialwm train-dynamics"
        )
    try:
        friction, density = float(rec["friction"]), float(rec["density"])
        rolling = float(rec.get("rolling_friction", 0.0))
        com_drop = float(rec.get("com_drop", 0.0))
        pair = rec.get("pair_friction")
        pair = None if pair is None else float(pair)
        slide, spread, share = (None if rec.get(k) is None else float(rec[k]) for k in
                                ("slide_friction", "slide_friction_spread",
                                 "slide_friction_share"))  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path}: bad or missing field ({e})") from None
    geom = rec.get("geom", "box")
    if geom not in GEOMS:
        raise DatasetError(f"{path}: geom must be one of {GEOMS}, got {geom!r}")
    if not (
        0.0 <= friction <= MAX_FRICTION
        and 1.0 <= density <= 50_000.0
        and 0.0 <= rolling <= 1.0
        and 0.0 <= com_drop < 1.0
        and (pair is None or 0.0 <= pair <= MAX_FRICTION)
        and (slide is None or 0.0 <= slide <= MAX_FRICTION)
        and (spread is None or 0.0 < spread <= MAX_FRICTION)
        and (share is None or 0.0 < share <= 1.0)
    ):
        raise DatasetError(
            f"{path}: friction {friction}, density {density}, rolling_friction {rolling}, "
            f"com_drop {com_drop}, pair_friction {pair}, slide_friction {slide}, "
            f"slide_friction_spread {spread} or slide_friction_share {share} out of range"
        )
    mode = rec.get("mode", "prior+learned")
    if mode not in MODES:
        raise DatasetError(f"{path}: mode must be one of {MODES}, got {mode!r}")
    nets = {}
    for key in ("residual", "learned_only"):
        r = rec.get(key)
        nets[key] = net_from_json(r, f"{path}: {key}") if r is not None else None
    return DynamicsModel(
        DynamicsParams(friction, density, rolling, com_drop, pair, geom),
        mode=mode,
        info=dict(rec.get("info", {})),
        slide_friction=slide,
        slide_friction_spread=spread,
        slide_friction_share=share,
        **nets,
    )


def acted_mask(state: SceneState, actions: Sequence[Action]) -> torch.Tensor:
    """``[K]`` 1 for objects a push or place of ``actions`` targets, else 0."""
    acted = torch.zeros(state.num_groups - 1)
    for a in actions:
        if isinstance(a, (PushAction, PlaceAction)):
            acted[state.group_of(int(a.object)) - 1] = 1.0
    return acted


def moved_mask(after: SceneState, base: SceneState) -> torch.Tensor:
    """``[K]`` 0 for objects the step left exactly in place and at rest (asleep), else 1."""
    still = (
        (base.positions[1:] == after.positions[1:]).all(-1)
        & (base.linear_velocity[1:] == 0).all(-1)
        & (base.angular_velocity[1:] == 0).all(-1)
    )
    return (~still).double()


def _no_faster(corrected: SceneState, base: SceneState) -> SceneState:
    """``corrected`` with each object's linear and angular speed capped at its speed after
    the base step: the network may redirect or slow the motion the base step (the physics
    prior, or kinematic integration) left, never speed it up. A correction that feeds back on
    itself through the velocities cannot run away over a rollout, and one that undoes the
    prior's friction a little at every step cannot keep an object sliding that physics has
    stopped (error at h = 20 on held-out episodes 101-103: 6.9 cm with this cap, 8.9 with a
    cap at the larger of the speeds before and after the step)."""

    def cap(name: str) -> torch.Tensor:
        v = getattr(corrected, name)
        out = cap_length(numpy64(v[1:]), _speed(base, name=name))
        return torch.cat([v[:1], torch.from_numpy(out).to(v.dtype)])

    return corrected.replace(
        linear_velocity=cap("linear_velocity"), angular_velocity=cap("angular_velocity")
    )


def _speed(*states: SceneState, name: str) -> np.ndarray:
    """``[K]`` the larger of the objects' speeds (``name``: a velocity field) in ``states``."""
    v = [numpy64(getattr(s, name)[1:]) for s in states]
    return np.sqrt(np.maximum.reduce([(x**2).sum(-1) for x in v]))


def _within_reach(
    corr: torch.Tensor, after: SceneState, base: SceneState, dt: float
) -> torch.Tensor:
    """Corrections ``[K, 12]`` with the position and rotation parts bounded by how far each
    object could move in the step: ``|dp| <= dt * speed + REACH_SHIFT`` and ``|drot| <= dt *
    spin + REACH_TURN``, speeds the larger before and after the base step. Without it a
    correction may move an object by up to 30 cm in one step whatever its speed (the
    network's output bound); on held-out episodes 101-103 the error at h = 20 is 6.0 cm with
    it, 6.3 without (bystanders 3.5 and 4.6)."""
    c = numpy64(corr).copy()
    c[:, 0:3] = cap_length(
        c[:, 0:3], dt * _speed(after, base, name="linear_velocity") + REACH_SHIFT
    )
    c[:, 3:6] = cap_length(
        c[:, 3:6], dt * _speed(after, base, name="angular_velocity") + REACH_TURN
    )
    return torch.from_numpy(c)


def step_dynamics(
    model: DynamicsModel,
    prior: PhysicsPrior,
    state: SceneState,
    action: Action | Sequence[Action] | None = None,
    *,
    dt: float = 0.1,
    mode: str = "prior+learned",
) -> SceneState:
    """One step of the dynamics head: apply the actions, take the base step (the prior, or
    kinematic integration in mode ``"learned"``), then the network's correction (which may
    not make an object faster than the base step left it, nor move or turn it farther than it
    could in the step); with the
    prior, proxies left deeper in the ground, or in each other, than they were when the step
    started are then translated apart
    (:meth:`~spatialwm.dynamics.prior.PhysicsPrior.separate`).

    Pure: returns a new state with ``step + 1``. A mode whose network the model lacks falls
    back to its base step. Raises ``InputError`` for bad actions, ``dt`` or ``mode``."""
    if mode not in MODES:
        raise InputError(f"step: mode must be one of {MODES}, got {mode!r}")
    actions = step_actions(action)
    after = apply_actions(state, actions)
    if mode == "learned":
        if not (isinstance(dt, (int, float)) and 0.0 < dt <= MAX_DT):
            raise InputError(f"step: dt must be in (0, {MAX_DT}] s, got {dt!r}")
        base, net = integrate(after, float(dt)), model.learned_only
    else:
        allowed, sunk = prior.allowances(after.positions[1:], after.orientations[1:])
        base = simulate_state(prior, after, dt, overlaps=allowed)
        net = model.residual if mode == "prior+learned" else None
    # objects the prior kept asleep stay asleep (and a scene at rest needs no network)
    moving = moved_mask(after, base) if mode != "learned" and net is not None else None
    if net is not None and state.num_groups > 1 and (moving is None or bool(moving.any())):
        corr = net.predict(
            _Poses.of(after), _Poses.of(base), prior.proxies, acted_mask(state, actions)
        )
        if moving is not None:
            corr = corr * moving[:, None]
        base = _no_faster(correct(base, _within_reach(corr, after, base, float(dt))), base)
    if mode != "learned" and state.num_groups > 1:  # the prior's non-interpenetration
        pos = prior.separate(base.positions[1:], base.orientations[1:], allowed=allowed,
                             sunk=sunk)  # fmt: skip
        pos = torch.cat([base.positions[:1], pos.to(base.positions)])
        base = base.replace(positions=pos)
    return base
