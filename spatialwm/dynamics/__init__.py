"""Dynamics of the scene state.

So far the *structural physics prior*: every object becomes a rigid proxy (an oriented box
fitted to its confident Gaussians, with an estimated mass and friction,
:func:`proxies_from_state`), and :class:`PhysicsPrior` simulates the proxies on the ground
plane with MuJoCo. :func:`step_prior` applies one step's actions (push, place, wait, camera)
to a :class:`~spatialwm.scene.state.SceneState` and returns the next state.
"""

from spatialwm.dynamics.prior import PhysicsPrior, step_prior
from spatialwm.dynamics.proxy import Proxies, box_corners, ground_proxies, proxies_from_state

__all__ = [
    "PhysicsPrior",
    "Proxies",
    "box_corners",
    "ground_proxies",
    "proxies_from_state",
    "step_prior",
]
