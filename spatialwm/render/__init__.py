"""Gaussian rasterization on any device: gsplat on CUDA, the native C++ kernels on CPU."""

from spatialwm.render.rasterize import RENDER_MODES, rasterization, select_backend, sh_colors
from spatialwm.render.sh import num_sh_bases, rgb_to_sh, sh_to_rgb, spherical_harmonics

__all__ = [
    "RENDER_MODES",
    "num_sh_bases",
    "rasterization",
    "rgb_to_sh",
    "select_backend",
    "sh_colors",
    "sh_to_rgb",
    "spherical_harmonics",
]
