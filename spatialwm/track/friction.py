"""Friction from what the cameras see: the ground friction of the scene estimated online from
the slides of the objects it tracks, and carried in the scene state
(:attr:`~spatialwm.scene.state.SceneState.friction`) so that the dynamics uses it.

Why: the dynamics model's friction is fitted on its training episodes, where objects also
tumble and collide; on another floor a free slide stops short or long, and an object that
slides out of view is then predicted centimetres from where it stops (held-out occlusion
episodes: 7.1 cm with the model's 0.75, 3.7 cm with the same model at the generator's 0.6).

How: an object sliding freely on the ground decelerates by ``mu g``. Three consecutive
positions of one seen well (``xy`` at steps ``t-2, t-1, t``) give two displacements
``d1, d2`` along one line; while it slides, ``|d1| - |d2| = mu g dt^2``
(:func:`~spatialwm.dynamics.slides.friction_of_slide`). That measurement
(std ``2 noise / (g dt^2)`` for a position noise ``noise``) updates one scalar Kalman
filter per scene (every object slides on the same floor), and every object takes the
estimate. Kinematics from the images, not the prediction's innovations: the dynamics'
velocities are not what the objects do (its learned part corrects positions, and may slow
an object but never speed it up), so one-step prediction errors mix friction with velocity.

Only clean slides count (see :mod:`spatialwm.dynamics.slides`), and a measurement more than
3 std from the estimate (a collision) is dropped. The filter starts at the dynamics model's
floor friction (its ``slide_friction``, the median of the clean slides of its training
episodes; else its fitted friction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from spatialwm.dynamics.prior import MAX_FRICTION
from spatialwm.dynamics.slides import GRAVITY, friction_of_slide

__all__ = ["update_friction"]
MIN_FRICTION = 0.05  # the estimate stays in [MIN_FRICTION, MAX_FRICTION]


def update_friction(
    estimate: float,
    variance: float,
    history: Tensor,
    groups: Sequence[int],
    dt: float,
    *,
    noise: float,
    min_step: float = 0.02,
) -> tuple[float, float, int]:
    """Fold the clean slides of ``groups`` in ``history [M, 3, 2]`` (each group's last three
    ground positions, NaN where it was not seen well) into the estimate.

    Returns:
        ``(estimate, variance, measurements used)``.
    """
    r = (2.0 * noise / (GRAVITY * dt * dt)) ** 2
    used = 0
    for g in groups:
        mu = friction_of_slide(history[g], dt, min_step=min_step)
        if mu is None:
            continue
        s = variance + r
        if abs(mu - estimate) > 3.0 * math.sqrt(s):
            continue
        gain = variance / s
        estimate = min(MAX_FRICTION, max(MIN_FRICTION, estimate + gain * (mu - estimate)))
        variance = (1.0 - gain) * variance
        used += 1
    return estimate, variance, used
