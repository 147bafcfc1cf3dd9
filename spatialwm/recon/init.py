"""Initial Gaussians: from depth maps (back-projected, fused and voxel-down-sampled with
open3d), else the dataset's point cloud, else random points inside the cameras' common view
volume. Scales come from nearest-neighbour distances, colours from the pixels, object labels
from the instance masks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from spatialwm.recon.config import ReconConfig
from spatialwm.recon.views import Capture, View
from spatialwm.render.sh import rgb_to_sh


@dataclass(frozen=True)
class InitPoints:
    """Seed points. ``xyz [P, 3]`` float32 world, ``rgb [P, 3]`` float32 in [0, 1],
    ``labels [P]`` int64 group index or None, ``source`` a word for the log."""

    xyz: Tensor
    rgb: Tensor
    labels: Tensor | None
    source: str


def camera_centres(views: tuple[View, ...]) -> Tensor:
    """``[V, 3]`` camera positions in the world."""
    return torch.stack([torch.linalg.inv(v.viewmat)[:3, 3] for v in views])


def scene_scale(views: tuple[View, ...]) -> float:
    """1.1 x the largest camera distance from the cameras' centroid (gsplat's convention),
    at least 1e-3; the unit learning rates and densification thresholds are scaled by."""
    c = camera_centres(views)
    return max(1.1 * float((c - c.mean(0)).norm(dim=-1).max()), 1e-3)


def _backproject(view: View) -> tuple[Tensor, Tensor, Tensor | None]:
    """World points, colours and labels of the pixels of ``view`` with known depth."""
    z = view.depth
    ok = (z > 0) & view.valid
    v, u = ok.nonzero(as_tuple=True)
    z = z[v, u]
    K = view.K
    x = (u.float() + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v.float() + 0.5 - K[1, 2]) / K[1, 1] * z
    cam = torch.stack([x, y, z, torch.ones_like(z)], -1)
    world = (cam @ torch.linalg.inv(view.viewmat).T)[:, :3]
    rgb = view.image[v, u].float() / 255
    labels = None if view.labels is None else view.labels[v, u]
    return world, rgb, labels


def _auto_voxel(views: tuple[View, ...]) -> float:
    """Two pixel footprints at the median depth of the views."""
    d = torch.cat([v.depth[v.depth > 0][::97] for v in views])
    f = float(torch.stack([v.K[0, 0] for v in views]).mean())
    return 2.0 * float(d.median()) / f


def _voxel_downsample(
    xyz: Tensor, rgb: Tensor, labels: Tensor | None, voxel: float
) -> tuple[Tensor, Tensor, Tensor | None]:
    """open3d voxel down-sampling (points and colours averaged per voxel); each kept point's
    label is the label of its nearest original point."""
    import open3d as o3d
    from scipy.spatial import cKDTree

    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(xyz.double().numpy())
    pcd.colors = o3d.utility.Vector3dVector(rgb.double().numpy())
    down = pcd.voxel_down_sample(voxel)
    pts = torch.from_numpy(np.asarray(down.points)).float()
    cols = torch.from_numpy(np.asarray(down.colors)).float()
    if labels is not None:
        _, nearest = cKDTree(xyz.numpy()).query(pts.numpy(), k=1)
        labels = labels[torch.from_numpy(nearest)]
    return pts, cols, labels


def _vote_labels(xyz: Tensor, views: tuple[View, ...], num_groups: int) -> Tensor:
    """Label each point by majority vote of the masks it projects into (no occlusion test)."""
    votes = torch.zeros(len(xyz), num_groups)
    homo = torch.cat([xyz, torch.ones(len(xyz), 1)], -1)
    for v in views:
        cam = homo @ v.viewmat.T
        z = cam[:, 2]
        uv = cam[:, :2] / z.clamp_min(1e-6)[:, None] * v.K[[0, 1], [0, 1]] + v.K[:2, 2]
        u, w = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        ok = (z > 0) & (u >= 0) & (u < v.width) & (w >= 0) & (w < v.height)
        idx = ok.nonzero()[:, 0]
        votes[idx, v.labels[w[idx], u[idx]]] += 1
    return votes.argmax(-1)


def _random_points(views: tuple[View, ...], n: int, gen: torch.Generator) -> Tensor:
    """``n`` points seen by at least half of the cameras, drawn in a sphere around the point
    nearest to all optical axes."""
    centres = camera_centres(views)
    axes = torch.stack([torch.linalg.inv(v.viewmat)[:3, 2] for v in views])
    # least-squares point closest to every optical axis
    eye = torch.eye(3)
    proj = eye - axes[:, :, None] * axes[:, None, :]
    target = torch.linalg.lstsq(proj.sum(0), (proj @ centres[:, :, None]).sum(0)).solution[:, 0]
    radius = float((centres - target).norm(dim=-1).median())
    out = []
    while sum(len(o) for o in out) < n:
        p = torch.randn(4 * n, 3, generator=gen)
        p = p / p.norm(dim=-1, keepdim=True) * torch.rand(4 * n, 1, generator=gen) ** (1 / 3)
        p = target + radius * p
        homo = torch.cat([p, torch.ones(len(p), 1)], -1)
        seen = torch.zeros(len(p))
        for v in views:
            cam = homo @ v.viewmat.T
            uv = cam[:, :2] / cam[:, 2:3].clamp_min(1e-6) * v.K[[0, 1], [0, 1]] + v.K[:2, 2]
            ok = (cam[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < v.width)
            seen += (ok & (uv[:, 1] >= 0) & (uv[:, 1] < v.height)).float()
        out.append(p[seen >= max(1, len(views) // 2)])
    return torch.cat(out)[:n]


def initial_points(capture: Capture, dataset, cfg: ReconConfig) -> InitPoints:
    """Seed points for ``capture`` (see the module docstring for the order of preference)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    views = capture.train
    m = len(capture.object_ids)
    if capture.has_depth:
        parts = [_backproject(v) for v in views]
        xyz = torch.cat([p[0] for p in parts])
        rgb = torch.cat([p[1] for p in parts])
        labels = torch.cat([p[2] for p in parts]) if capture.has_masks else None
        voxel = cfg.init_voxel or _auto_voxel(views)
        xyz, rgb, labels = _voxel_downsample(xyz, rgb, labels, voxel)
        source = f"depth maps ({len(views)} views, voxel {voxel * 1000:.1f} mm)"
    elif dataset.points is not None and len(dataset.points) > 0:
        xyz = dataset.points.float()
        if dataset.point_colors is not None:
            rgb = dataset.point_colors.float() / 255
        else:
            rgb = torch.full_like(xyz, 0.5)
        labels = _vote_labels(xyz, views, m) if capture.has_masks else None
        source = "point cloud"
    else:
        xyz = _random_points(views, cfg.init_random_points, gen)
        rgb = torch.rand(len(xyz), 3, generator=gen)
        labels = _vote_labels(xyz, views, m) if capture.has_masks else None
        source = "random points in the common view volume"
    if len(xyz) > cfg.init_max_points:
        keep = torch.randperm(len(xyz), generator=gen)[: cfg.init_max_points]
        xyz, rgb = xyz[keep], rgb[keep]
        labels = None if labels is None else labels[keep]
    return InitPoints(xyz=xyz.contiguous(), rgb=rgb.clamp(0, 1), labels=labels, source=source)


def knn_scales(xyz: Tensor, k: int = 3) -> Tensor:
    """``[P]`` mean distance to the ``k`` nearest other points (scipy's cKDTree)."""
    from scipy.spatial import cKDTree

    if len(xyz) <= 1:
        return torch.full((len(xyz),), 0.01)
    k = min(k, len(xyz) - 1)
    d, _ = cKDTree(xyz.double().numpy()).query(xyz.double().numpy(), k=k + 1)
    d = torch.from_numpy(d[:, 1:]).float()
    return d.mean(-1).clamp_min(1e-7)


def init_params(points: InitPoints, cfg: ReconConfig, num_groups: int) -> dict[str, Tensor]:
    """Raw trainable parameters with gsplat's names, plus ``objects``: per-Gaussian logits over
    the ``num_groups`` groups (a strong prior toward the seed label when there is one).

    Returns:
        ``means [P,3]``, ``scales [P,3]`` (log), ``quats [P,4]``, ``opacities [P]`` (logit),
        ``sh0 [P,1,3]``, ``shN [P,K-1,3]``, ``objects [P,M]``.
    """
    p = len(points.xyz)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    dist = knn_scales(points.xyz) * cfg.init_scale
    k = (cfg.sh_degree + 1) ** 2
    objects = torch.zeros(p, num_groups)
    if points.labels is not None:
        objects[torch.arange(p), points.labels] = 4.0
    return {
        "means": points.xyz.clone(),
        "scales": dist.log()[:, None].repeat(1, 3),
        "quats": torch.rand(p, 4, generator=gen),
        "opacities": torch.full((p,), math.log(cfg.init_opacity / (1 - cfg.init_opacity))),
        "sh0": rgb_to_sh(points.rgb)[:, None, :],
        "shN": torch.zeros(p, k - 1, 3),
        "objects": objects,
    }


__all__ = [
    "InitPoints",
    "camera_centres",
    "init_params",
    "initial_points",
    "knn_scales",
    "scene_scale",
]
