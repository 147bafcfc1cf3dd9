"""Physical proxies of a scene's objects, estimated from their Gaussians.

Each object (groups ``1..M-1`` of a :class:`~spatialwm.scene.state.SceneState`, ``K = M - 1``
of them, in group order) gets an oriented box in its *canonical* frame (the frame its
Gaussians are stored in): the box's centre ``centre`` and axes ``rotation`` are expressed in
that frame, so a box point ``s`` (box frame) sits at ``centre + R(rotation) s`` in the
canonical frame and at ``p + R(q) (centre + R(rotation) s)`` in the world for an object pose
``(p, q)``. Mass and friction are *estimates* (density x box volume, a constant friction):
replace them (``dataclasses.replace``) with better values, e.g. learned ones.

Robustness to reconstruction noise: only confident Gaussians (``sigmoid(opacity) > 0.5``)
are used (all of them if fewer than 8 are confident), and the box spans the 2nd-98th
percentiles of their centres (after dropping far floaters, beyond 1.5x the 95th percentile
distance from the median), so a few stray Gaussians do not inflate it. Objects rest
upright under gravity, so the box's axes are searched over yaw only (rotation about the
canonical +Z): the yaw that gives the smallest (1st-99th percentile) footprint wins, ties
going to yaw 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from spatialwm.errors import InputError
from spatialwm.scene.state import (
    SceneState,
    group_slice,
    numpy64,
    quat_multiply,
    quat_to_matrix,
)

__all__ = [
    "Proxies",
    "box_corners",
    "box_frames",
    "boxes_overlap",
    "clearance",
    "ground_proxies",
    "proxies_from_state",
]

DEFAULT_DENSITY = 500.0  # kg/m^3: wood, plastic shells, packed foodstuffs
DEFAULT_FRICTION = 0.5
MIN_HALF_EXTENT = 0.0025  # m: boxes are at least 5 mm thick
GROUND_SNAP = 0.02  # m: a box bottom this close to the ground rests on it (ground_proxies)
_UPRIGHT = 0.95  # |cos| between a box axis and +Z for the box to count as standing on a face
MASS_RANGE = (0.005, 5.0)  # kg
CONFIDENT_OPACITY = 0.5
PERCENTILES = (0.02, 0.98)
_MIN_POINTS = 8
_YAW_STEPS = 90  # 1 degree resolution over [0, 90)
_YAW_PERCENTILES = (0.01, 0.99)
_YAW_TIE = 1.01  # prefer yaw 0 when its footprint is within 1 % of the best
_MAX_POINTS = 20_000  # beyond this, the box is fitted on an even subsample
_TRIM = 1.5


@dataclass(frozen=True)
class Proxies:
    """Physical proxies of ``K`` objects (groups ``1..K`` of a state, in order).

    Attributes:
        object_ids: ``[K]`` int64 dataset ids of the objects.
        centre: ``[K, 3]`` box centre in the object's canonical frame (offset from the frame
            origin, metres).
        rotation: ``[K, 4]`` wxyz orientation of the box axes in the canonical frame.
        half_extents: ``[K, 3]`` box half sizes along its own axes (metres, > 0).
        mass: ``[K]`` kg (uniform density: the centre of mass is the box centre).
        friction: ``[K]`` sliding friction coefficient against the ground.
        hull: optional per-object ``[V_k, 3]`` convex-hull vertices in the *box* frame (the
            same frame as the box corners), or ``None``. Used only by
            ``PhysicsPrior(..., geom="hull")``.
    """

    object_ids: Tensor
    centre: Tensor
    rotation: Tensor
    half_extents: Tensor
    mass: Tensor
    friction: Tensor
    hull: tuple[Tensor, ...] | None = None

    def __len__(self) -> int:
        return int(self.centre.shape[0])


def _yaw_quat(theta: float) -> Tensor:
    """``[4]`` wxyz rotation by ``theta`` radians about +Z."""
    return torch.tensor([math.cos(theta / 2), 0.0, 0.0, math.sin(theta / 2)])


def _confident_points(means: Tensor, opacities: Tensor) -> Tensor:
    """The centres ``[n, 3]`` of an object's confident Gaussians (all if too few are)."""
    keep = torch.sigmoid(opacities) > CONFIDENT_OPACITY
    pts = means[keep] if int(keep.sum()) >= _MIN_POINTS else means
    pts = pts[torch.isfinite(pts).all(-1)]
    if len(pts) > _MAX_POINTS:
        pts = pts[:: math.ceil(len(pts) / _MAX_POINTS)]
    return _trim(pts.double()) if len(pts) else pts.double()


def _trim(pts: Tensor) -> Tensor:
    """Drop far floaters: points farther from the median than 1.5x the 95th percentile
    distance. ``[n, 3] -> [n', 3]``."""
    r = (pts - pts.median(0).values).norm(dim=-1)
    keep = r <= _TRIM * torch.quantile(r, 0.95)
    return pts[keep] if int(keep.sum()) >= _MIN_POINTS else pts


def _fit_box(pts: Tensor, fit_yaw: bool) -> tuple[float, Tensor, Tensor]:
    """Fit a yaw-oriented percentile box to ``pts [n, 3]`` (canonical frame, trimmed).

    The yaw minimises the area of the 1st-99th percentile footprint (1 degree grid over
    [0, 90), yaw 0 kept when within 1 % of the best); the box then spans the
    2nd-98th percentiles along each of its axes.

    Returns ``(yaw, lo [3], hi [3])``: the box spans ``[lo, hi]`` in a frame rotated by
    ``yaw`` about +Z.
    """
    if fit_yaw:
        angles = torch.arange(_YAW_STEPS, dtype=pts.dtype) * (math.pi / 2 / _YAW_STEPS)
    else:
        angles = torch.zeros(1, dtype=pts.dtype)
    c, s = torch.cos(angles)[:, None], torch.sin(angles)[:, None]
    x, y = pts[:, 0][None], pts[:, 1][None]
    xy = torch.stack([c * x + s * y, -s * x + c * y], 1)  # [A, 2, n]: R(yaw)^T p
    search = torch.quantile(xy, torch.tensor(_YAW_PERCENTILES, dtype=pts.dtype), dim=-1)
    area = (search[1] - search[0]).prod(-1)  # [A]
    best = 0 if float(area[0]) <= _YAW_TIE * float(area.min()) else int(area.argmin())
    q = torch.tensor(PERCENTILES, dtype=pts.dtype)
    bounds = torch.quantile(xy[best], q, dim=-1)  # [2, 2]
    z = torch.quantile(pts[:, 2], q)
    lo = torch.cat([bounds[0], z[:1]])
    hi = torch.cat([bounds[1], z[1:]])
    return float(angles[best]), lo, hi


def _hull_vertices(pts_box: Tensor, half: Tensor, margin: float = 0.0) -> Tensor:
    """Convex-hull vertices ``[V, 3]`` of ``pts_box`` (box frame) clipped to the box, grown
    by ``margin`` (m) along the six axis directions (the Minkowski sum with an octahedron of
    that radius) and clipped to the box grown by as much; the (grown) box's corners if the
    points are degenerate (flat, too few)."""
    from scipy.spatial import ConvexHull, QhullError

    h = half.double().numpy()
    clipped = np.clip(pts_box.double().numpy(), -h, h)
    try:
        pts = clipped[ConvexHull(clipped).vertices]
        if margin > 0:
            grow = np.concatenate([np.eye(3), -np.eye(3)]) * margin
            pts = np.clip((pts[:, None] + grow).reshape(-1, 3), -h - margin, h + margin)
            pts = pts[ConvexHull(pts).vertices]
        return torch.from_numpy(pts).float()
    except (QhullError, ValueError):
        return _unit_corners().double().mul(half + margin).float()


def _surface_margin(scales: Tensor, opacities: Tensor) -> float:
    """How far (m) an object's surface lies beyond its Gaussians' centres: the median over
    its confident Gaussians (all if too few are) of their mean scale (one standard
    deviation, ``scales`` ``[n, 3]`` in log space as stored)."""
    keep = torch.sigmoid(opacities) > CONFIDENT_OPACITY
    s = scales[keep] if int(keep.sum()) >= _MIN_POINTS else scales
    s = s.exp().mean(-1)
    s = s[torch.isfinite(s)]
    return float(s.median()) if len(s) else 0.0


_UNIT_CORNERS = torch.tensor(
    [[sx, sy, sz] for sx in (-1.0, 1.0) for sy in (-1.0, 1.0) for sz in (-1.0, 1.0)]
)


def _unit_corners() -> Tensor:
    """``[8, 3]`` corners of the box ``[-1, 1]^3`` (a copy)."""
    return _UNIT_CORNERS.clone()


def proxies_from_state(
    state: SceneState,
    *,
    density: float = DEFAULT_DENSITY,
    friction: float = DEFAULT_FRICTION,
    min_half_extent: float = MIN_HALF_EXTENT,
    mass_range: tuple[float, float] = MASS_RANGE,
    fit_yaw: bool = True,
    hull: bool = False,
) -> Proxies:
    """Estimate a box proxy, a mass and a friction for every object of ``state``.

    Args:
        state: the scene; groups ``1..M-1`` are the objects (the background is skipped).
        density: kg/m^3; ``mass = density * box volume`` clamped to ``mass_range``.
        friction: sliding friction coefficient given to every object.
        min_half_extent: lower bound of each half extent (metres); an object with no
            Gaussians gets a cube of this half size at its frame origin.
        fit_yaw: search the box's yaw (else the box is aligned with the canonical axes).
        hull: also compute a convex hull per object (for ``PhysicsPrior(geom="hull")`` and
            ``"box+hull"``): of the confident Gaussians' centres, grown by their typical
            scale (:func:`_surface_margin`: the surface lies about that far beyond the
            centres; held-out push episodes 101-110 measure ~2.5 mm, the coarser training
            reconstructions ~6 mm), and clipped to the box grown by as much.

    Returns:
        :class:`Proxies` of ``K = M - 1`` objects, float32.
    """
    for name, v, lowest in (
        ("density", density, 1e-6),
        ("friction", friction, 0.0),
        ("min_half_extent", min_half_extent, 1e-6),
    ):
        if not (math.isfinite(v) and v >= lowest):
            raise InputError(f"proxies_from_state: {name} must be finite and >= {lowest}, got {v}")
    g = state.gaussians
    centres, rotations, halves, hulls = [], [], [], []
    for group in range(1, state.num_groups):
        rows = group_slice(state, group)
        pts = _confident_points(g.means[rows].detach().cpu(), g.opacities[rows].detach().cpu())
        if len(pts) == 0:
            yaw, lo, hi = 0.0, torch.zeros(3).double(), torch.zeros(3).double()
        else:
            yaw, lo, hi = _fit_box(pts, fit_yaw)
        rot = _yaw_quat(yaw).double()
        half = ((hi - lo) / 2).clamp_min(min_half_extent)
        centre_box = (lo + hi) / 2  # in the yawed frame
        R = quat_to_matrix(rot)
        centres.append(R @ centre_box)
        rotations.append(rot)
        halves.append(half)
        if hull:
            pts_box = (pts - R @ centre_box) @ R if len(pts) else pts.reshape(0, 3)
            margin = _surface_margin(g.scales[rows].detach().cpu(),
                                     g.opacities[rows].detach().cpu())  # fmt: skip
            hulls.append(_hull_vertices(pts_box, half, margin))
    k = state.num_groups - 1
    half_t = torch.stack(halves).float() if k else torch.zeros(0, 3)
    volume = 8.0 * half_t.double().prod(-1)
    mass = (density * volume).clamp(*mass_range).float()
    return Proxies(
        object_ids=state.object_ids[1:].clone(),
        centre=torch.stack(centres).float() if k else torch.zeros(0, 3),
        rotation=torch.stack(rotations).float() if k else torch.zeros(0, 4),
        half_extents=half_t,
        mass=mass,
        friction=torch.full((k,), float(friction)),
        hull=tuple(hulls) if hull else None,
    )


def box_frames(proxies: Proxies, positions: Tensor, orientations: Tensor) -> tuple[Tensor, Tensor]:
    """World frames of the proxy boxes for object poses ``positions [K, 3]`` and
    ``orientations [K, 4]`` (wxyz) of the objects' canonical frames: ``(centres [K, 3],
    axes [K, 3, 3])`` (the columns of ``axes[k]`` are box ``k``'s unit axes in the world)."""
    q = quat_multiply(orientations.to(proxies.rotation), proxies.rotation)
    R_obj = quat_to_matrix(orientations.to(proxies.rotation))
    centres = positions.to(proxies.centre) + (R_obj @ proxies.centre[..., None])[..., 0]
    return centres, quat_to_matrix(q)


def box_corners(proxies: Proxies, positions: Tensor, orientations: Tensor) -> Tensor:
    """World corners ``[K, 8, 3]`` of the proxy boxes for object poses ``positions [K, 3]``
    and ``orientations [K, 4]`` (wxyz) of the objects' canonical frames."""
    corners = _UNIT_CORNERS.to(proxies.half_extents) * proxies.half_extents[:, None]  # box
    centres, axes = box_frames(proxies, positions, orientations)
    return centres[:, None] + corners @ axes.transpose(-1, -2)


def boxes_overlap(
    centre_a: Tensor,
    axes_a: Tensor,
    half_a: Tensor,
    centre_b: Tensor,
    axes_b: Tensor,
    half_b: Tensor,
    *,
    margin: float = 0.0,
) -> Tensor:
    """Whether oriented boxes ``a`` and ``b`` overlap (``centre [..., 3]``, ``axes [..., 3, 3]``
    unit axes as columns, ``half [..., 3]`` half sizes, as :func:`box_frames` gives them;
    leading dimensions broadcast), by the separating-axis test: disjoint boxes are
    separated along one of their 6 face normals or the 9 cross products of their edges.
    ``margin`` (m) widens every axis' test by that much: boxes closer than ``margin`` count
    too (and a few a little further, near edges and corners). Returns a bool tensor of the
    broadcast leading shape."""
    a = axes_a.double().transpose(-1, -2)  # rows: the axes
    b = axes_b.double().transpose(-1, -2)
    a, b = torch.broadcast_tensors(a, b)
    shape = a.shape[:-2]
    cross = torch.linalg.cross(
        a[..., :, None, :].expand(*shape, 3, 3, 3), b[..., None, :, :].expand(*shape, 3, 3, 3)
    ).reshape(*shape, 9, 3)
    cand = torch.cat([a, b, cross], dim=-2)  # [..., 15, 3]
    norm = cand.norm(dim=-1, keepdim=True)
    axis = norm[..., 0] > 1e-9  # parallel edges give no axis
    cand = torch.where(norm > 1e-9, cand / norm.clamp_min(1e-12), torch.zeros_like(cand))
    reach = ((cand @ a.transpose(-1, -2)).abs() * half_a.double()[..., None, :]).sum(-1) + (
        (cand @ b.transpose(-1, -2)).abs() * half_b.double()[..., None, :]
    ).sum(-1)  # [..., 15]: each box's half width along each axis, summed
    d = (centre_b.double() - centre_a.double())[..., None, :]
    gap = (cand * d).sum(-1).abs()
    return ~((gap > reach + margin) & axis).any(-1)


def clearance(proxies: Proxies, positions: Tensor, orientations: Tensor) -> Tensor:
    """``[K]`` height (m) of each proxy box's lowest corner above the ground (negative: in
    it) at object poses ``positions [K, 3]``, ``orientations [K, 4]`` (wxyz); float64.

    Closed form of ``box_corners(...)[..., 2].amin(-1)`` (the lowest corner lies
    ``sum_j h_j |R_box[2, j]|`` below the box centre), in numpy: the learned dynamics calls it
    twice per step on a handful of objects."""
    p, q = numpy64(positions), numpy64(orientations)
    R_obj = quat_to_matrix(q)
    R_box = quat_to_matrix(quat_multiply(q, numpy64(proxies.rotation)))
    centre_z = p[:, 2] + (R_obj[:, 2, :] * numpy64(proxies.centre)).sum(-1)
    low = centre_z - (numpy64(proxies.half_extents) * np.abs(R_box[:, 2, :])).sum(-1)
    return torch.from_numpy(low)


def ground_proxies(
    proxies: Proxies,
    positions: Tensor,
    orientations: Tensor,
    *,
    max_gap: float = GROUND_SNAP,
    min_half_extent: float = MIN_HALF_EXTENT,
) -> Proxies:
    """Proxies whose bottom face touches the ground (``z = 0``) at the given object poses.

    A box fitted to Gaussian centres (2nd-98th percentiles) stops a few millimetres short of
    the surface it stands on, so an object resting on the ground in the reconstruction would
    hover above it (and fall, and wake, and topple). Every box standing on a face (an axis
    within ``acos 0.95`` of +Z) whose lowest corner is within ``max_gap`` (m) of the ground,
    above or below, has that face moved onto the ground: the box grows or shrinks along that
    axis (never below ``min_half_extent``) and its mass scales with its volume; the other
    faces stay. Hull vertices, if any, are stretched with the box and cut at its bottom face
    (a hull grown by the surface margin would otherwise hold the object above the ground).
    Pure.

    Args:
        proxies: ``K`` proxies.
        positions: ``[K, 3]`` object poses (canonical frames) at which the objects rest,
            e.g. the reconstruction's objects.
        orientations: ``[K, 4]`` wxyz.
    """
    k = len(proxies)
    if tuple(positions.shape) != (k, 3) or tuple(orientations.shape) != (k, 4):
        raise InputError(
            f"ground_proxies: poses must be [{k}, 3] and [{k}, 4], got "
            f"{tuple(positions.shape)} and {tuple(orientations.shape)}"
        )
    if k == 0:
        return proxies
    gap = clearance(proxies, positions, orientations)  # [K]
    R_obj = quat_to_matrix(orientations.double())
    R_box = quat_to_matrix(quat_multiply(orientations.double(), proxies.rotation.double()))
    up = R_box[:, 2, :]  # [K, 3]: z component of each box axis in the world
    axis = up.abs().argmax(-1)
    cos = up.gather(1, axis[:, None])[:, 0]
    centre = proxies.centre.double().clone()
    half = proxies.half_extents.double().clone()
    mass = proxies.mass.double().clone()
    hulls = list(proxies.hull) if proxies.hull is not None else None
    for i in range(k):
        a, c, g = int(axis[i]), float(cos[i]), float(gap[i])
        if abs(c) < _UPRIGHT or abs(g) > max_gap or g == 0.0:
            continue
        old = float(half[i, a])
        new = max(old + g / abs(c) / 2, min_half_extent)
        shift = new - old  # the bottom face moves down by 2 * shift along the axis
        down = -math.copysign(1.0, c) * R_box[i, :, a]  # world direction of the bottom face
        centre[i] += R_obj[i].T @ (down * shift)
        half[i, a] = new
        mass[i] = mass[i] * new / old
        if hulls is not None:  # stretched with the box, and no lower than its bottom face
            h = hulls[i].clone()
            h[:, a] = h[:, a] * (new / old)
            h[:, a] = h[:, a].clamp_min(-new) if c > 0 else h[:, a].clamp_max(new)
            hulls[i] = h
    return Proxies(
        object_ids=proxies.object_ids,
        centre=centre.float(),
        rotation=proxies.rotation,
        half_extents=half.float(),
        mass=mass.clamp(*MASS_RANGE).float(),
        friction=proxies.friction,
        hull=tuple(hulls) if hulls is not None else None,
    )
