"""Ground-truth world generator (pybullet): presets that write the :mod:`spatialwm.data` format.

``generate(out, GenerateConfig(preset=..., seed=...))`` runs a preset and writes a dataset
folder; the ``spatialwm generate`` command wraps it. pybullet is imported when a world is
built, not when this package is imported.
"""

from spatialwm.generate.assets import (
    BUILTIN_ASSETS,
    HELDOUT_IDS,
    TRAIN_RANDOM_IDS,
    Asset,
    ObjectPool,
    resolve_pool,
)
from spatialwm.generate.generator import GenerateConfig, GenerateResult, generate
from spatialwm.generate.presets import PRESETS, PresetSpec

__all__ = [
    "BUILTIN_ASSETS",
    "HELDOUT_IDS",
    "PRESETS",
    "TRAIN_RANDOM_IDS",
    "Asset",
    "GenerateConfig",
    "GenerateResult",
    "ObjectPool",
    "PresetSpec",
    "generate",
    "resolve_pool",
]
