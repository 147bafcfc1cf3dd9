"""Scene state and its files. So far: Gaussian-splat PLY files (the standard 3DGS layout)."""

from spatialwm.scene.ply import SPLAT_KEYS, read_splat_ply, write_splat_ply

__all__ = ["SPLAT_KEYS", "read_splat_ply", "write_splat_ply"]
