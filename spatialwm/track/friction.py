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
3 std from the estimate (a collision) is dropped. The filter starts at the dynamics model's
floor friction (its ``slide_friction``, the median of the clean slides of its training
episodes; else its fitted friction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from torch import Tensor

from spatialwm.dynamics.prior import MAX_FRICTION
from spatialwm.dynamics.slides import GRAVITY, friction_of_push, friction_of_slide

__all__ = ["push_speed", "update_friction"]
MIN_FRICTION = 0.05  # the estimate stays in [MIN_FRICTION, MAX_FRICTION]


def update_friction(
    estimate: Tensor,
    variance: Tensor,
    history: Tensor,
    groups: Sequence[int],
    dt: float,
    *,
    noise: float,
    min_step: float = 0.02,
    pushes: Mapping[int, Tensor] | None = None,
) -> tuple[Tensor, Tensor, list[int]]:
    """Fold the clean slides of ``groups`` in ``history [M, 3, 2]`` (each group's last three
    ground positions, NaN where it was not seen well) into their estimates ``[M]`` (with
    variances ``[M]``). ``pushes``: ``{group: [2] ground velocity}`` that a push set at
    the start of the last step; those groups are measured from that first step instead
    (the last two positions). Pure: returns new tensors.

    Returns:
        ``(estimate, variance, groups measured)``.
    """
    r = (2.0 * noise / (GRAVITY * dt * dt)) ** 2
    pushes = pushes or {}
    estimate, variance = estimate.clone(), variance.clone()
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
        est, var = float(estimate[g]), float(variance[g])
        s = var + rg
        if abs(mu - est) > 3.0 * math.sqrt(s):
            continue
        gain = var / s
        estimate[g] = min(MAX_FRICTION, max(MIN_FRICTION, est + gain * (mu - est)))
        variance[g] = (1.0 - gain) * var
        used.append(g)
    return estimate, variance, used


def push_speed(speed: float, friction: float, dt: float) -> float:
    """Speed (m/s) left ``dt`` after a push at ``speed`` on ground of ``friction``."""
    return max(0.0, speed - friction * GRAVITY * dt)
