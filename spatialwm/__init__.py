"""spatialwm: a 3D spatial-intelligence world model built on Gaussian splats.

The public API, re-exported explicitly; everything else is internal.
"""

from spatialwm.errors import BuildError, DatasetError, InputError, SpatialWMError
from spatialwm.render import rasterization

__version__ = "0.1.0"

__all__ = [
    "BuildError",
    "DatasetError",
    "InputError",
    "SpatialWMError",
    "__version__",
    "rasterization",
]
