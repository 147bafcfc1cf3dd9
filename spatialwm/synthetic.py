"""Built-in synthetic Gaussian scenes and cameras, for the demo, the tests and the benchmarks.

``surface_scene`` puts Gaussians on the surfaces of a small table-top world (a ground disc,
boxes and spheres), flattened along the surface normal, as a trained 3DGS scene has them: a
camera sees realistic depth complexity, not a uniform cloud that is mostly off-screen.
World convention: +Z up, metres. Cameras: OpenCV world-to-camera (the rasterizer's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.data import cameras
from spatialwm.render.sh import rgb_to_sh
from spatialwm.scene.state import quat_multiply


@dataclass(frozen=True)
class GaussianScene:
    """Activated Gaussian parameters (what :func:`spatialwm.render.rasterization` takes).

    Shapes: ``means [N,3]``, ``quats [N,4]`` (wxyz, unit), ``scales [N,3]``,
    ``opacities [N]``, ``colors [N,3]`` RGB in [0,1], ``object_ids [N]`` int64 (0 = ground).
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    colors: Tensor
    object_ids: Tensor

    def sh0(self) -> Tensor:
        """``[N, 1, 3]`` degree-0 SH coefficients with the same colours."""
        return rgb_to_sh(self.colors)[:, None, :]


def look_at(eye, target, up=(0.0, 0.0, 1.0), dtype: torch.dtype = torch.float32) -> Tensor:
    """``[4, 4]`` OpenCV world-to-camera matrix of a camera at ``eye`` looking at ``target``
    (the dataset convention of :func:`spatialwm.data.cameras.look_at`, converted once)."""
    w2c = cameras.opengl_c2w_to_opencv_w2c(cameras.look_at(eye, target, up))
    return torch.as_tensor(w2c, dtype=dtype)


def pinhole_K(width: int, height: int, fov_x_deg: float = 60.0, dtype=torch.float32) -> Tensor:
    """``[3, 3]`` intrinsics with square pixels, principal point at the image centre."""
    f = cameras.focal_from_fov(fov_x_deg, width)
    return torch.as_tensor(cameras.intrinsics_matrix(f, f, width / 2, height / 2), dtype=dtype)


def orbit_cameras(
    n: int,
    width: int,
    height: int,
    *,
    radius: float = 2.2,
    elevation_deg: float = 30.0,
    target=(0.0, 0.0, 0.15),
    fov_x_deg: float = 60.0,
    phase_deg: float = 0.0,
    dtype=torch.float32,
) -> tuple[Tensor, Tensor]:
    """``n`` cameras on a ring around ``target``: ``viewmats [n,4,4]``, ``Ks [n,3,3]``."""
    views = []
    el = math.radians(elevation_deg)
    for i in range(n):
        az = math.radians(phase_deg) + 2 * math.pi * i / max(n, 1)
        eye = (
            target[0] + radius * math.cos(el) * math.cos(az),
            target[1] + radius * math.cos(el) * math.sin(az),
            target[2] + radius * math.sin(el),
        )
        views.append(look_at(eye, target, dtype=dtype))
    K = pinhole_K(width, height, fov_x_deg, dtype=dtype)
    return torch.stack(views), K.expand(n, 3, 3).clone()


def _quat_from_z_to(normals: Tensor) -> Tensor:
    """Unit quaternions (wxyz) rotating +Z onto each unit normal ``[N,3]``."""
    z = torch.zeros_like(normals)
    z[:, 2] = 1
    axis = torch.linalg.cross(z, normals)
    s = axis.norm(dim=-1, keepdim=True)
    c = normals[:, 2:3]
    half = torch.atan2(s, c) / 2
    axis = torch.where(s > 1e-8, axis / s.clamp_min(1e-8), torch.tensor([1.0, 0.0, 0.0]))
    return torch.cat([torch.cos(half), axis * torch.sin(half)], dim=-1)


# (centre xyz, half extents xyz, rgb) of the boxes; (centre, radius, rgb) of the spheres.
_BOXES = (
    ((-0.45, 0.30, 0.15), (0.15, 0.15, 0.15), (0.85, 0.25, 0.20)),
    ((0.40, -0.35, 0.10), (0.20, 0.10, 0.10), (0.20, 0.45, 0.85)),
    ((0.10, 0.55, 0.25), (0.08, 0.08, 0.25), (0.95, 0.80, 0.20)),
)
_SPHERES = (
    ((0.35, 0.35, 0.18), 0.18, (0.25, 0.75, 0.35)),
    ((-0.30, -0.40, 0.12), 0.12, (0.70, 0.35, 0.80)),
)


def surface_scene(
    n: int, *, seed: int = 0, max_scale: float = 0.02, ground_radius: float = 1.2
) -> GaussianScene:
    """``n`` Gaussians on a ground disc, three boxes and two spheres (object ids 1..5).

    Tangent scales are uniform in ``[max_scale / 4, max_scale]``, the normal scale is a tenth
    of ``max_scale``; opacities uniform in [0.05, 1]; colours: a checkered ground, one hue per
    object with texture noise.
    """
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    n_ground = n * 2 // 5
    n_obj = n - n_ground
    shapes = len(_BOXES) + len(_SPHERES)
    counts = [n_obj // shapes + (1 if i < n_obj % shapes else 0) for i in range(shapes)]

    pts, nrm, col, ids = [], [], [], []
    # ground disc, checkered
    r = ground_radius * rand(n_ground).sqrt()
    th = 2 * math.pi * rand(n_ground)
    p = torch.stack([r * torch.cos(th), r * torch.sin(th), torch.zeros(n_ground)], dim=-1)
    check = ((torch.floor(p[:, 0] / 0.2) + torch.floor(p[:, 1] / 0.2)) % 2)[:, None]
    pts.append(p)
    nrm.append(torch.tensor([0.0, 0.0, 1.0]).expand(n_ground, 3))
    col.append(0.35 + 0.4 * check + 0.1 * rand(n_ground, 1).expand(-1, 3))
    ids.append(torch.zeros(n_ground, dtype=torch.long))
    # boxes: sample a face in proportion to its area, then a point on it
    for i, (centre, half, rgb) in enumerate(_BOXES):
        m = counts[i]
        c, h = torch.tensor(centre), torch.tensor(half)
        areas = torch.tensor(
            [h[1] * h[2], h[1] * h[2], h[0] * h[2], h[0] * h[2], h[0] * h[1], h[0] * h[1]]
        )
        face = torch.multinomial(areas, m, replacement=True, generator=g)
        axis, sign = face // 2, (face % 2) * 2 - 1
        u = (rand(m, 3) * 2 - 1) * h
        u[torch.arange(m), axis] = sign.float() * h[axis]
        nm = torch.zeros(m, 3)
        nm[torch.arange(m), axis] = sign.float()
        pts.append(c + u)
        nrm.append(nm)
        col.append(torch.tensor(rgb) * (0.8 + 0.2 * rand(m, 1)))
        ids.append(torch.full((m,), i + 1, dtype=torch.long))
    for j, (centre, radius, rgb) in enumerate(_SPHERES):
        m = counts[len(_BOXES) + j]
        d = torch.randn(m, 3, generator=g)
        d = d / d.norm(dim=-1, keepdim=True)
        pts.append(torch.tensor(centre) + radius * d)
        nrm.append(d)
        stripes = (torch.sin(d[:, 2:3] * 12) > 0).float()
        col.append(torch.tensor(rgb) * (0.7 + 0.3 * stripes))
        ids.append(torch.full((m,), len(_BOXES) + j + 1, dtype=torch.long))

    means = torch.cat(pts)
    normals = torch.cat(nrm)
    spin = 2 * math.pi * rand(n)
    q_spin = torch.stack(
        [torch.cos(spin / 2), torch.zeros(n), torch.zeros(n), torch.sin(spin / 2)], -1
    )
    quats = quat_multiply(_quat_from_z_to(normals), q_spin)
    tangent = max_scale * (0.25 + 0.75 * rand(n, 2))
    scales = torch.cat([tangent, torch.full((n, 1), max_scale / 10)], dim=-1)
    opacities = 0.05 + 0.95 * rand(n)
    colors = torch.cat(col).clamp(0, 1)
    return GaussianScene(means, quats, scales, opacities, colors, torch.cat(ids))


__all__ = ["GaussianScene", "look_at", "orbit_cameras", "pinhole_K", "surface_scene"]
