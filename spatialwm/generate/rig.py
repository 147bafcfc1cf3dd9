"""Camera placement: capture rings and fixed observation cameras (OpenGL camera-to-world)."""

from __future__ import annotations

import math

import numpy as np

from spatialwm.data.cameras import focal_from_fov, look_at
from spatialwm.data.transforms import Intrinsics

__all__ = ["camera_intrinsics", "orbit_c2w", "ring_views"]

#: Vertical field of view of every generated camera (degrees).
FOV_Y = 45.0


def camera_intrinsics(width: int, height: int, fov_y: float = FOV_Y) -> Intrinsics:
    """Square-pixel pinhole intrinsics with the principal point at the image centre."""
    f = focal_from_fov(fov_y, height)
    return Intrinsics(width, height, f, f, width / 2.0, height / 2.0, "PINHOLE")


def orbit_c2w(
    target: np.ndarray, radius: float, azimuth_deg: float, elevation_deg: float
) -> np.ndarray:
    """Camera on a sphere around ``target`` (azimuth from +X towards +Y, elevation above the
    ground plane), looking at ``target`` with world +Z up in the image."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    offset = radius * np.array(
        [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]
    )
    return look_at(np.asarray(target) + offset, target)


def ring_views(
    n: int,
    rng: np.random.Generator,
    target: np.ndarray,
    radius: float = 0.6,
) -> list[np.ndarray]:
    """``n`` capture cameras on 1-3 rings (3 when ``n >= 12``, 2 when ``n >= 4``) at
    elevations between 15 and 65 degrees, evenly spread in azimuth with a little jitter."""
    if n <= 0:
        return []
    rings = 3 if n >= 12 else (2 if n >= 4 else 1)
    elevations = {1: [35.0], 2: [25.0, 50.0], 3: [17.0, 38.0, 62.0]}[rings]
    counts = [n // rings + (1 if r < n % rings else 0) for r in range(rings)]
    out = []
    for r, (el, k) in enumerate(zip(elevations, counts, strict=True)):
        offset = rng.uniform(0.0, 360.0 / k) + 17.0 * r
        for j in range(k):
            az = offset + 360.0 * j / k + rng.uniform(-4.0, 4.0)
            e = el + rng.uniform(-3.0, 3.0)
            rad = radius * rng.uniform(0.95, 1.05)
            out.append(orbit_c2w(target, rad, az, e))
    return out
