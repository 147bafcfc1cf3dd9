"""spatialwm: a 3D spatial-intelligence world model built on Gaussian splats.

The public API, re-exported explicitly; everything else is internal.
"""

from spatialwm.errors import BuildError, DatasetError, InputError, SpatialWMError
from spatialwm.recon import ReconConfig, reconstruct
from spatialwm.render import rasterization
from spatialwm.scene.io import load_state, save_state
from spatialwm.scene.render import Rendered, render_state
from spatialwm.scene.state import SceneState

__version__ = "0.1.0"

__all__ = [
    "BuildError",
    "DatasetError",
    "InputError",
    "ReconConfig",
    "Rendered",
    "SceneState",
    "SpatialWMError",
    "__version__",
    "load_state",
    "rasterization",
    "reconstruct",
    "render_state",
    "save_state",
]
