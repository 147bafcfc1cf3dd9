"""Reconstruction: posed multi-view images -> an object-grouped Gaussian scene.

:func:`reconstruct` runs the whole job (initialise, optimise, densify, group by object,
evaluate on held-out views, export); :func:`preset` gives its settings.
"""

from spatialwm.recon.config import PRESETS, ReconConfig, preset
from spatialwm.recon.pipeline import reconstruct, run_finished

__all__ = ["PRESETS", "ReconConfig", "preset", "reconstruct", "run_finished"]
