"""Dynamics of the scene state: ``step(state, action) -> state``.

The *structural physics prior*: every object becomes a rigid proxy (an oriented box fitted to
its confident Gaussians, optionally with the convex hull of them for contacts between objects,
with an estimated mass and friction, :func:`proxies_from_state`), and
:class:`PhysicsPrior` simulates the proxies on the ground plane with MuJoCo
(:func:`step_prior`). The *learned part* (:mod:`spatialwm.dynamics.residual`: a graph
network, or an ensemble of them, trained by :mod:`spatialwm.dynamics.training`) corrects the
prior's step; :mod:`spatialwm.dynamics.model` holds both in one model file and steps them
(:func:`~spatialwm.dynamics.model.step_dynamics`).
"""

from spatialwm.dynamics.prior import PhysicsPrior, step_prior
from spatialwm.dynamics.proxy import (
    Proxies,
    box_corners,
    clearance,
    ground_proxies,
    proxies_from_state,
)

__all__ = [
    "PhysicsPrior",
    "Proxies",
    "box_corners",
    "clearance",
    "ground_proxies",
    "proxies_from_state",
    "step_prior",
]
