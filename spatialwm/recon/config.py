"""Reconstruction settings: one frozen dataclass plus named presets.

Presets: ``debug`` (seconds; tests), ``fast`` (the demo, a couple of minutes on 2 cores),
``default`` (the quality run of the README's benchmark table).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from spatialwm.errors import InputError


@dataclass(frozen=True)
class ReconConfig:
    """Everything that shapes a reconstruction run (written to ``RUN/config.json``)."""

    steps: int = 7000
    seed: int = 0
    # --- initialisation
    init_max_points: int = 60_000  # after voxel down-sampling (random subset above this)
    init_voxel: float = 0.0  # metres; 0 = auto (two pixel footprints at the median depth)
    init_random_points: int = 20_000  # when the dataset has neither depth nor a point cloud
    init_opacity: float = 0.1
    init_scale: float = 1.0  # times the mean distance to the 3 nearest neighbours
    # --- appearance
    sh_degree: int = 3
    sh_degree_interval: int = 1000  # raise the active SH degree every this many steps
    background: str = "learn"  # "learn" (a colour optimised with the scene) | "white" | "black"
    # --- loss
    ssim_lambda: float = 0.2
    object_lambda: float = 0.05  # cross-entropy of rendered object probabilities vs masks
    depth_lambda: float = 0.0  # relative L1 of expected depth vs depth maps (0 = off)
    # --- learning rates (gsplat's simple_trainer defaults; means scale with the scene)
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    lr_objects: float = 2.5e-2
    lr_background: float = 1e-3
    # --- densification (gsplat DefaultStrategy)
    densify: bool = True
    refine_start: int = 500
    refine_stop: int = 5000
    refine_every: int = 100
    reset_every: int = 3000
    grow_grad2d: float = 2e-4
    prune_opa: float = 5e-3
    absgrad: bool = False
    max_gaussians: int = 400_000  # densification pauses above this
    # --- bookkeeping
    test_every: int = 8  # every n-th capture view is held out (unless the dataset lists them)
    checkpoint_every_s: float = 60.0
    log_every: int = 10

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> ReconConfig:
        """Raise ``InputError`` naming the first bad field."""
        checks = [
            ("steps", self.steps >= 1),
            ("sh_degree", 0 <= self.sh_degree <= 3),
            ("sh_degree_interval", self.sh_degree_interval >= 1),
            ("background", self.background in ("learn", "white", "black")),
            ("init_max_points", self.init_max_points >= 1),
            ("init_random_points", self.init_random_points >= 1),
            ("init_opacity", 0 < self.init_opacity < 1),
            ("test_every", self.test_every >= 2),
            ("refine_every", self.refine_every >= 1),
            ("max_gaussians", self.max_gaussians >= 1),
        ]
        for name, ok in checks:
            if not ok:
                raise InputError(
                    f"reconstruction setting {name}={getattr(self, name)!r} is invalid"
                )
        return self


PRESETS: dict[str, dict[str, Any]] = {
    "debug": dict(
        steps=40, init_max_points=3000, init_random_points=2000, sh_degree=1,
        sh_degree_interval=20, refine_start=10, refine_stop=30, refine_every=10,
        reset_every=1000, checkpoint_every_s=0.0, log_every=5,
    ),
    "fast": dict(
        steps=1500, init_max_points=40_000, sh_degree=1, sh_degree_interval=500,
        refine_start=300, refine_stop=1100, refine_every=100, reset_every=100_000,
        lr_means_final=1.6e-5,
    ),
    "default": dict(
        steps=3500, sh_degree_interval=500, refine_stop=2500, reset_every=100_000,
        max_gaussians=300_000,
    ),
}  # fmt: skip


def preset(name: str, **overrides: Any) -> ReconConfig:
    """The named preset with ``overrides`` applied (``None`` values are ignored)."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(ReconConfig)}
    bad = [k for k in overrides if k not in fields]
    if bad:
        raise InputError(f"unknown reconstruction settings {bad}")
    values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return ReconConfig(**values).validate()


__all__ = ["PRESETS", "ReconConfig", "preset"]
