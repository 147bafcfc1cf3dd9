"""Evaluate the world model's dynamics against ground-truth episodes.

For every start step ``t0`` (every ``every`` steps) the objects are set to the episode's true
state at ``t0``; each method then rolls out the episode's own actions for ``h`` steps and its
object poses are compared with the truth at ``t0 + h``: position error (cm, object frame
origin = the generator's centre of mass) and rotation error (degrees, geodesic), for pushed
objects (a push or place targeted them in ``[t0, t0 + h)``) and bystanders separately, and
the bystanders again split by whether the truth moves them (more than :data:`MOVED_CM` over the
horizon: hit, or still settling) or leaves them where they were.

Methods: ``static`` (nothing moves; ``place`` still teleports), ``constant velocity`` (the
true velocity at ``t0``, pushes set it, places reset it, integrated without forces), and the
world model in each of its modes (:data:`MODEL_METHODS`: ``prior only`` = MuJoCo over the
reconstructed proxies with the fitted parameters, ``learned only`` = kinematic integration
plus its network, ``prior + learned`` = the full dynamics head). Also: the deepest
interpenetration of the proxies over all predicted states of the full model's rollouts
(beyond what each object or pair already had in the rollout's true start state, where the
crude boxes of touching objects overlap and those of toppled ones lie partly in the ground)
and future-view PSNR of the renders against the generator's frames at steps ``k`` (rolled
out from step 0, one camera).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from spatialwm.data.actions import PlaceAction, PushAction
from spatialwm.data.episode import ObjectState
from spatialwm.recon.metrics import psnr
from spatialwm.scene.render import Camera
from spatialwm.scene.state import quat_multiply
from spatialwm.world import WorldModel

HORIZONS = (1, 5, 10, 20)
# method name -> WorldModel mode
MODEL_METHODS = {
    "prior only": "prior",
    "learned only": "learned",
    "prior + learned": "prior+learned",
}
METHODS = ("static", "constant velocity", *MODEL_METHODS)
MAIN_METHOD = "prior + learned"
GROUPS = ("pushed", "bystander")
# bystanders split by what the truth does with them over the horizon: moved more than this
# (cm; hit by a pushed object, or still settling) or left where they were
MOVED_CM = 1.0
SPLIT = ("bystander, truth moved", "bystander, truth still")


@dataclass
class DynamicsReport:
    """Errors pooled over episodes: ``errors[method][group][h]`` lists of ``(cm, deg)``
    (group ``"pushed"`` or ``"bystander"``, and every bystander again in one of
    :data:`SPLIT`), the full model's deepest penetrations (m,
    object-ground and object-object, beyond the object's depth in the ground and the pair's
    overlap in the rollout's true start state, whose deepest are ``start_sunk`` and
    ``start_overlap``) and future-view PSNR samples ``psnr[method][k]``."""

    errors: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    ground_penetration: float = 0.0
    object_penetration: float = 0.0
    start_overlap: float = 0.0
    start_sunk: float = 0.0
    psnr: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    episodes: int = 0

    def add(self, method: str, group: str, h: int, cm: float, deg: float) -> None:
        self.errors[method][group].setdefault(h, []).append((cm, deg))

    def table(self, horizons: Sequence[int] = HORIZONS) -> str:
        """Markdown tables: mean position / rotation error per method, group and horizon;
        then the bystanders split by their true motion (:data:`MOVED_CM`)."""
        lines = []
        for groups in (GROUPS, SPLIT):
            if lines:
                lines += ["", f"bystanders split by their true motion over the horizon "
                              f"(moved more than {MOVED_CM:g} cm or not):", ""]  # fmt: skip
            lines.append("| method | objects | "
                         + " | ".join(f"h={h} cm / deg" for h in horizons) + " |")  # fmt: skip
            lines.append("|---|---|" + "---|" * len(horizons))
            for method in [m for m in METHODS if m in self.errors]:
                for group in groups:
                    cells = []
                    for h in horizons:
                        v = self.errors[method][group].get(h, [])
                        if v:
                            a = np.array(v)
                            cells.append(
                                f"{a[:, 0].mean():.2f} / {a[:, 1].mean():.1f} (n={len(a)})"
                            )
                        else:
                            cells.append("-")
                    lines.append(f"| {method} | {group} | " + " | ".join(cells) + " |")
        if self.psnr:
            ks = sorted({k for m in self.psnr.values() for k in m})
            lines += ["", "| method | " + " | ".join(f"PSNR k={k}" for k in ks) + " |"]
            lines.append("|---|" + "---|" * len(ks))
            for method, per_k in self.psnr.items():
                cells = [f"{np.mean(per_k[k]):.2f}" if per_k.get(k) else "-" for k in ks]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"deepest interpenetration of the proxies (predicted states, beyond the true "
            f"start state's): object-ground {self.ground_penetration * 1000:.1f} mm, "
            f"object-object {self.object_penetration * 1000:.1f} mm (in the true start "
            f"states the proxies of toppled objects lie up to {self.start_sunk * 1000:.1f} mm "
            f"in the ground and those of touching objects overlap by up to "
            f"{self.start_overlap * 1000:.1f} mm) ({self.episodes} episodes)",
        ]
        return "\n".join(lines)


def _rot_deg(q1: np.ndarray, q2: np.ndarray) -> float:
    d = abs(float(np.dot(q1 / np.linalg.norm(q1), q2 / np.linalg.norm(q2))))
    return math.degrees(2 * math.acos(min(1.0, d)))


def _integrate(o: ObjectState, dt: float) -> ObjectState:
    """Constant linear and angular velocity for ``dt`` seconds."""
    p = np.array(o.position) + dt * np.array(o.linear_velocity)
    w = np.array(o.angular_velocity)
    angle = float(np.linalg.norm(w)) * dt
    if angle > 1e-12:
        axis = w / np.linalg.norm(w)
        dq = torch.tensor([math.cos(angle / 2), *(math.sin(angle / 2) * axis)])
        q = quat_multiply(dq, torch.tensor(o.quaternion, dtype=torch.float64)).tolist()
    else:
        q = list(o.quaternion)
    return ObjectState(tuple(p), tuple(q), o.linear_velocity, o.angular_velocity)


def _apply_kinematic(objects: dict, actions, *, keep_velocity: bool) -> dict:
    out = dict(objects)
    for a in actions:
        if isinstance(a, PlaceAction) and a.object in out:
            out[a.object] = ObjectState(tuple(a.pose[:3]), tuple(a.pose[3:]))
        elif isinstance(a, PushAction) and a.object in out and keep_velocity:
            o = out[a.object]
            out[a.object] = ObjectState(o.position, o.quaternion, tuple(a.velocity),
                                        o.angular_velocity)  # fmt: skip
    return out


def _as_states(poses: dict[int, list[float]]) -> dict[int, ObjectState]:
    return {k: ObjectState(tuple(v[:3]), tuple(v[3:])) for k, v in poses.items()}


def evaluate_episode(
    wm: WorldModel,
    episode,
    report: DynamicsReport,
    *,
    horizons: Sequence[int] = HORIZONS,
    every: int = 5,
    frames: dict[int, torch.Tensor] | None = None,
    camera: Camera | None = None,
    methods: Mapping[str, str] | None = None,
) -> None:
    """Add one episode's errors to ``report`` (see the module docstring).

    ``methods``: ``{name: WorldModel mode}`` of the model's variants to evaluate (default
    :data:`MODEL_METHODS`; the one in :data:`MAIN_METHOD` or else the last is the one whose
    interpenetration is measured). ``frames``: ``{step: [H, W, 3] image}`` of ``camera`` for
    future-view PSNR."""
    methods = dict(MODEL_METHODS if methods is None else methods)
    models = {name: wm.with_mode(mode) for name, mode in methods.items()}
    main = MAIN_METHOD if MAIN_METHOD in models else list(models)[-1]
    steps = episode.steps
    T = len(steps)
    dt = episode.dt
    ids = [int(i) for i in wm.state.object_ids[1:]]
    hmax = max(horizons)
    for t0 in range(0, T - 1, every):
        truth0 = {i: steps[t0].objects[i] for i in ids}
        start = wm.with_object_states(wm.state, truth0)
        rollouts = {name: [start] for name in models}
        kin = {"static": [truth0], "constant velocity": [truth0]}
        for t in range(t0, min(T - 1, t0 + hmax)):
            acts = list(steps[t].actions)
            for name, m in models.items():
                rollouts[name].append(m.step(rollouts[name][-1], acts))
            kin["static"].append(_apply_kinematic(kin["static"][-1], acts, keep_velocity=False))
            cv = _apply_kinematic(kin["constant velocity"][-1], acts, keep_velocity=True)
            kin["constant velocity"].append({i: _integrate(o, dt) for i, o in cv.items()})
        start_overlap, start_sunk = wm.prior.allowances(start.positions[1:],
                                                        start.orientations[1:])  # fmt: skip
        if start_overlap.numel():
            report.start_overlap = max(report.start_overlap, float(start_overlap.max()))
        if start_sunk.numel():
            report.start_sunk = max(report.start_sunk, float(start_sunk.max()))
        for s in rollouts[main][1:]:
            g, o = wm.prior.penetration(s.positions[1:], s.orientations[1:],
                                        allowed=start_overlap, sunk=start_sunk)  # fmt: skip
            report.ground_penetration = max(report.ground_penetration, g)
            report.object_penetration = max(report.object_penetration, o)
        preds = {**kin}
        for name, states in rollouts.items():
            preds[name] = [_as_states(wm.object_poses(s)) for s in states]
        for h in horizons:
            if t0 + h >= T:
                continue
            touched = {a.object for t in range(t0, t0 + h) for a in steps[t].actions
                       if isinstance(a, (PushAction, PlaceAction))}  # fmt: skip
            truth = steps[t0 + h].objects
            moved = {i: 100 * float(np.linalg.norm(np.subtract(truth[i].position,
                                                               truth0[i].position))) > MOVED_CM
                     for i in ids}  # fmt: skip
            for method, seq in preds.items():
                for i in ids:
                    p, g = seq[h][i], truth[i]
                    cm = 100 * float(np.linalg.norm(np.subtract(p.position, g.position)))
                    deg = _rot_deg(np.array(p.quaternion), np.array(g.quaternion))
                    report.add(method, "pushed" if i in touched else "bystander", h, cm, deg)
                    if i not in touched:
                        report.add(method, SPLIT[0] if moved[i] else SPLIT[1], h, cm, deg)
    if frames and camera is not None:
        static = wm.render(wm.state, camera)
        for k, gt in frames.items():
            if 0 < k < T:
                report.psnr["static"][k].append(float(psnr(static.rgb[0], gt)))
        for name, m in models.items():
            state = wm.state
            for k in range(1, T):
                state = m.step(state, list(steps[k - 1].actions))
                if k in frames:
                    pred = m.render(state, camera).rgb[0]
                    report.psnr[name][k].append(float(psnr(pred, frames[k])))
    report.episodes += 1


def load_episodes(
    paths: Sequence[str], runs: str, preset_name: str, log=print, *, steps: int | None = None
) -> list:
    """Check every episode dataset, then reconstruct each one's step-0 capture into
    ``runs/<name>`` with the preset (``steps`` overrides its step count); a finished run is
    reused, a killed one resumes.

    Returns ``[(dataset, run folder)]``."""
    from pathlib import Path

    from spatialwm.data import load_dataset
    from spatialwm.errors import InputError
    from spatialwm.recon import preset, reconstruct, run_finished

    datasets = [load_dataset(e) for e in paths]  # every input checked first
    for e, ds in zip(paths, datasets, strict=True):
        if ds.episode is None or len(ds.episode) < 2:
            raise InputError(f"{e}: not an episode (no episode.json with at least 2 steps)")
    out = []
    for e, ds in zip(paths, datasets, strict=True):
        run_dir = Path(runs) / Path(e).resolve().name
        if not run_finished(run_dir):
            log(f"reconstructing {e} ({preset_name}) into {run_dir}")
            cfg = preset(preset_name) if steps is None else preset(preset_name, steps=steps)
            reconstruct(e, run_dir, cfg, resume=True, progress=False, log=log)
        out.append((ds, run_dir))
    return out


def position_error(
    models: Sequence[tuple[WorldModel, object]], *, horizon: int, every: int
) -> float:
    """Mean position error (cm) of the world models' rollouts (in their own modes) over all
    objects at ``horizon``, pooled over ``(model, episode)`` pairs: the loss of the fit of the
    physical parameters."""
    report = DynamicsReport()
    for wm, episode in models:
        evaluate_episode(wm, episode, report, horizons=(horizon,), every=every,
                         methods={"model": wm.mode})  # fmt: skip
    errs = [e for g in report.errors["model"].values() for e in g.get(horizon, [])]
    return float(np.mean([cm for cm, _ in errs])) if errs else float("nan")


__all__ = [
    "HORIZONS",
    "MAIN_METHOD",
    "METHODS",
    "MODEL_METHODS",
    "DynamicsReport",
    "evaluate_episode",
    "load_episodes",
    "position_error",
]
