"""Friction from what the cameras see: each object's ground friction estimated online from
its slides, and carried in the scene state
(:attr:`~spatialwm.scene.state.SceneState.friction`) so that the dynamics uses it.

Why: the dynamics model's friction is fitted on its training episodes, where objects also
tumble and collide; on another floor a free slide stops short or long, and an object that
slides out of view is then predicted centimetres from where it stops (held-out occlusion
episodes: 7.1 cm with the model's 0.75, 3.7 cm with the same model at the generator's 0.6).

How: an object sliding freely on the ground decelerates by ``mu g``. Three consecutive
positions of one seen well (``xy`` at steps ``t-2, t-1, t``) give two displacements
``d1, d2`` along one line; while it slides, ``|d1| - |d2| = mu g dt^2``
(:func:`~spatialwm.dynamics.slides.friction_of_slide`). That measurement
(std ``2 noise / (g dt^2)`` for a position noise ``noise``) updates the object's own scalar
Kalman filter: objects differ (one that rolls decelerates far less than one that slides,
and pooled into one floor estimate, a rolling object on ``data/push`` pulled every other
object's friction from 0.6 to 0.17). Kinematics from the images, not the prediction's
innovations: the dynamics' velocities are not what the objects do (its learned part
corrects positions, and may slow an object but never speed it up), so one-step prediction
errors mix friction with velocity.

An object pushed while seen well, and seen well one step later, is measured from that first
step (the push's speed is known: :func:`~spatialwm.dynamics.slides.friction_of_push`), with
twice the variance of a displacement difference: a runner pushed behind an occluder is
hidden from the next step on, and its slide there is predicted with its own friction
(one on the held-out occlusion episodes grips like 1.07, the floor's 0.6 would send it
17 cm too far). After any push whose first step was a free slide still going at its end
(measured, or seen or predicted so), the loop also sets the object's velocity along the
push to what the estimate leaves of the push after one step: the dynamics' own velocity
was stepped with the old friction, and its learned part slows pushed objects.

Only clean slides count (see :mod:`spatialwm.dynamics.slides`), and a measurement more than
3 std from every hypothesis (a collision) is dropped. The filter starts at the dynamics
model's floor friction (its ``slide_friction``, where the clean slides of its training
episodes' sliding objects agree; else its fitted friction).

**Two hypotheses per object** (:class:`FrictionBelief`), when the model knows how tightly
the objects that slide agree (``DynamicsModel.floor``: the spread and share of its training
slides around the median, :func:`~spatialwm.dynamics.slides.floor_friction`): the object
*slides like the floor* (its friction within that spread of the median: 0.017 for the
shipped model, whose training objects that slide all meet the same floor) or *has its
own* (grips, tips, rolls: the broad ``TrackConfig.friction_std``). Each is a Kalman filter
fed the same measurements; their weights start at the training slides' share (0.47) and
follow each measurement's likelihood; the estimate the dynamics uses is the weighted mean.
One step's measurement is noisy (4 mm of position error is 0.11 of friction): a single
broad filter took it nearly at face value, and an object that only slides came out at 0.57
or 0.73 and stopped 3-4 cm off behind the wall; one that grips (1.07) still gets its own.
Without those statistics one broad filter is used, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.dynamics.prior import MAX_FRICTION
from spatialwm.dynamics.slides import GRAVITY, FloorFriction, friction_of_push, friction_of_slide

__all__ = ["FrictionBelief", "friction_belief", "push_speed", "update_friction"]
MIN_FRICTION = 0.05  # the estimate stays in [MIN_FRICTION, MAX_FRICTION]


@dataclass(frozen=True)
class FrictionBelief:
    """Per object, ``H`` hypotheses about its ground friction (``H = 2``: slides like the
    floor, has its own; ``H = 1``: one broad filter), each a Gaussian.

    Attributes:
        log_weight: ``[M, H]`` normalised log posterior weights.
        mean: ``[M, H]`` friction means; var: ``[M, H]`` their variances.
    """

    log_weight: Tensor
    mean: Tensor
    var: Tensor

    @property
    def estimate(self) -> Tensor:
        """``[M]`` the weighted mean, in ``[MIN_FRICTION, MAX_FRICTION]`` (float32)."""
        w = torch.softmax(self.log_weight, dim=-1)
        return (w * self.mean).sum(-1).clamp(MIN_FRICTION, MAX_FRICTION).float()


def friction_belief(
    start: Tensor, std: float, floor: FloorFriction | None = None
) -> FrictionBelief:
    """The starting belief of each group: friction ``start [M]``, std ``std``; with a
    ``floor`` that has a spread (below ``std``) and a share, also the hypothesis that the
    object slides like the floor (within the spread), weighted by the share."""
    m = len(start)
    mean = start.double().reshape(m, 1)
    spread, share = (floor.spread, floor.share) if floor is not None else (None, None)
    if spread is None or share is None or spread >= std:
        return FrictionBelief(
            torch.zeros(m, 1, dtype=torch.float64), mean.clone(),
            torch.full((m, 1), std * std, dtype=torch.float64),
        )  # fmt: skip
    w = torch.tensor([share, 1.0 - share], dtype=torch.float64).clamp_min(1e-6).log()
    return FrictionBelief(
        w.expand(m, 2).clone(),
        mean.expand(m, 2).clone(),
        torch.tensor([spread * spread, std * std], dtype=torch.float64).expand(m, 2).clone(),
    )


def update_friction(
    belief: FrictionBelief,
    history: Tensor,
    groups: Sequence[int],
    dt: float,
    *,
    noise: float,
    min_step: float = 0.02,
    pushes: Mapping[int, Tensor] | None = None,
) -> tuple[FrictionBelief, list[int]]:
    """Fold the clean slides of ``groups`` in ``history [M, 3, 2]`` (each group's last three
    ground positions, NaN where it was not seen well) into their beliefs. ``pushes``:
    ``{group: [2] ground velocity}`` that a push set at the start of the last step; those
    groups are measured from that first step instead (the last two positions). Pure:
    returns a new belief.

    Returns:
        ``(belief, groups measured)``.
    """
    r = (2.0 * noise / (GRAVITY * dt * dt)) ** 2
    pushes = pushes or {}
    lw, mean, var = belief.log_weight.clone(), belief.mean.clone(), belief.var.clone()
    used = []
    for g in groups:
        if g in pushes:
            mu = friction_of_push(history[g, 1:], pushes[g], dt, min_step=min_step)
            rg = 2.0 * r  # one displacement against a known speed: two positions' noise
        else:
            mu = friction_of_slide(history[g], dt, min_step=min_step)
            rg = r
        if mu is None:
            continue
        s = var[g] + rg
        if bool(((mu - mean[g]).abs() > 3.0 * s.sqrt()).all()):
            continue  # beyond every hypothesis: a collision
        lw[g] = lw[g] - 0.5 * (mu - mean[g]) ** 2 / s - 0.5 * s.log()
        lw[g] = lw[g] - torch.logsumexp(lw[g], 0)
        gain = var[g] / s
        mean[g] = mean[g] + gain * (mu - mean[g])
        var[g] = (1.0 - gain) * var[g]
        used.append(g)
    return FrictionBelief(lw, mean, var), used


def push_speed(speed: float, friction: float, dt: float) -> float:
    """Speed (m/s) left ``dt`` after a push at ``speed`` on ground of ``friction``."""
    return max(0.0, speed - friction * GRAVITY * dt)
