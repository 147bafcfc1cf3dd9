"""The object-centric scene state: an immutable dataclass of tensors.

Gaussians are *packed*: one set of tensors for the whole scene, sorted by group, with
``offsets`` marking where each group starts (pytorch3d's packed layout). Group 0 is the
background (world frame); group ``g >= 1`` is object ``object_ids[g]``, whose Gaussians are
stored in the object's canonical frame (centred on the object) and placed in the world by the
object's pose ``(positions[g], orientations[g])``. Parameters are raw, as in a 3DGS PLY:
log scales, opacity logits, wxyz quaternions, SH coefficients.

A state is never mutated: every change goes through a pure function returning a new state
(:func:`dataclasses.replace` shares the untouched tensors, so branching is cheap).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from spatialwm.errors import InputError

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Gaussians:
    """Packed Gaussians, ``N`` of them, raw parameters.

    Attributes:
        means: ``[N, 3]`` centres in their group's frame.
        quats: ``[N, 4]`` rotations wxyz (unit length) in their group's frame.
        scales: ``[N, 3]`` log scales.
        opacities: ``[N]`` opacity logits.
        sh: ``[N, K, 3]`` SH coefficients, ``K = (degree + 1) ** 2``.
        group: ``[N]`` int64 group index (0 = background), non-decreasing.
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    sh: Tensor
    group: Tensor

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return round(self.sh.shape[1] ** 0.5) - 1


@dataclass(frozen=True)
class SceneState:
    """The world model's state. ``M`` groups (background + ``M - 1`` objects).

    Attributes:
        gaussians: packed canonical Gaussians (see :class:`Gaussians`).
        offsets: ``[M + 1]`` int64; group ``g`` owns Gaussians ``offsets[g]:offsets[g+1]``.
        object_ids: ``[M]`` int64 dataset object id of each group (0 for the background).
        object_names: ``M`` names (``"background"`` first).
        positions: ``[M, 3]`` world position of each group's frame (zeros for background).
        orientations: ``[M, 4]`` world orientation wxyz of each group's frame.
        linear_velocity: ``[M, 3]`` m/s.
        angular_velocity: ``[M, 3]`` rad/s (world frame).
        background_color: ``[3]`` RGB in [0, 1] seen where no Gaussian is (the sky).
        step: time step index.
        friction: ``[M]`` estimated sliding friction of each group on the ground (entry 0,
            the background, unused), or ``None``: the dynamics model's own (its physical
            parameters). Set by whoever estimates it, e.g. the observe loop from the slides
            the cameras see (:mod:`spatialwm.track.friction`).
    """

    gaussians: Gaussians
    offsets: Tensor
    object_ids: Tensor
    object_names: tuple[str, ...]
    positions: Tensor
    orientations: Tensor
    linear_velocity: Tensor
    angular_velocity: Tensor
    background_color: Tensor
    step: int = 0
    friction: Tensor | None = None

    @property
    def num_groups(self) -> int:
        return int(self.object_ids.shape[0])

    def group_of(self, object_id: int) -> int:
        """Group index of dataset object ``object_id``; ``InputError`` if unknown."""
        hits = (self.object_ids == int(object_id)).nonzero()
        if len(hits) == 0:
            known = [int(i) for i in self.object_ids[1:]]
            raise InputError(f"unknown object id {object_id}; the scene has objects {known}")
        return int(hits[0, 0])

    def replace(self, **changes) -> SceneState:
        """A new state with ``changes`` applied (the original is untouched)."""
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------ quaternions
def _quat_product_basis() -> Tensor:
    """``P [4, 4, 4]`` with ``(a b)_k = sum_ij a_i b_j P_ijk`` (Hamilton product, wxyz)."""
    p = torch.zeros(4, 4, 4, dtype=torch.float64)
    w, x, y, z = range(4)
    terms = {  # component k of a b as sums of (sign, i, j) over products a_i b_j
        w: [(1, w, w), (-1, x, x), (-1, y, y), (-1, z, z)],
        x: [(1, w, x), (1, x, w), (1, y, z), (-1, z, y)],
        y: [(1, w, y), (-1, x, z), (1, y, w), (1, z, x)],
        z: [(1, w, z), (1, x, y), (-1, y, x), (1, z, w)],
    }
    for k, parts in terms.items():
        for sign, i, j in parts:
            p[i, j, k] = sign
    return p.reshape(16, 4)


_QUAT_PRODUCT = _quat_product_basis()
_QUAT_PRODUCT_NP = _QUAT_PRODUCT.numpy()


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product of wxyz quaternions ``[..., 4]`` (rotation ``a`` after ``b``;
    broadcasting).

    Also takes two numpy arrays (returns one: the physics prior's per-step conversions). One
    outer product and one matrix product: a handful of kernel calls, not sixteen."""
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))[:-1]
    outer = (a[..., :, None] * b[..., None, :]).reshape(*shape, 16)
    if isinstance(a, Tensor):
        return outer @ _QUAT_PRODUCT.to(outer)
    return outer @ _QUAT_PRODUCT_NP


def numpy64(t: Tensor) -> np.ndarray:
    """A tensor's values as a float64 numpy array (detached, on the CPU): the dynamics' small
    per-step arithmetic runs in numpy, where a call costs a fraction of torch's overhead."""
    return t.detach().cpu().double().numpy()


_CONJUGATE = (1.0, -1.0, -1.0, -1.0)


def quat_conjugate(q: Tensor) -> Tensor:
    """Conjugate of wxyz quaternions ``[..., 4]`` (the inverse rotation for unit ones).

    Also takes a numpy array (returns one)."""
    if isinstance(q, Tensor):
        return q * torch.tensor(_CONJUGATE, dtype=q.dtype, device=q.device)
    return q * np.asarray(_CONJUGATE, dtype=q.dtype)


def _quat_matrix_basis() -> Tensor:
    """``C [4, 4, 3, 3]`` with ``R(q)_ij = sum_ab q_a q_b C_abij`` for unit wxyz ``q``."""
    c = torch.zeros(4, 4, 3, 3, dtype=torch.float64)
    w, x, y, z = range(4)
    terms = {  # R_ij as sums of (coefficient, a, b) over quaternion products q_a q_b
        (0, 0): [(1, w, w), (1, x, x), (-1, y, y), (-1, z, z)],
        (1, 1): [(1, w, w), (-1, x, x), (1, y, y), (-1, z, z)],
        (2, 2): [(1, w, w), (-1, x, x), (-1, y, y), (1, z, z)],
        (0, 1): [(2, x, y), (-2, w, z)], (1, 0): [(2, x, y), (2, w, z)],
        (0, 2): [(2, x, z), (2, w, y)], (2, 0): [(2, x, z), (-2, w, y)],
        (1, 2): [(2, y, z), (-2, w, x)], (2, 1): [(2, y, z), (2, w, x)],
    }  # fmt: skip
    for (i, j), parts in terms.items():
        for k, a, b in parts:
            c[a, b, i, j] += k
    return c


_QUAT_BASIS = _quat_matrix_basis().reshape(16, 9)
_QUAT_BASIS_NP = _QUAT_BASIS.numpy()


def quat_to_matrix(q: Tensor) -> Tensor:
    """``[..., 4]`` wxyz (any length) -> ``[..., 3, 3]`` rotation matrices.

    Also takes a float64 numpy array (returns one: the physics prior's per-step conversions,
    without round trips through torch)."""
    if isinstance(q, Tensor):
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        basis = _QUAT_BASIS.to(q)
    else:
        q = q / np.maximum(np.sqrt((q * q).sum(-1, keepdims=True)), 1e-12)
        basis = _QUAT_BASIS_NP
    outer = (q[..., :, None] * q[..., None, :]).reshape(*q.shape[:-1], 16)
    return (outer @ basis).reshape(*q.shape[:-1], 3, 3)


def rotvec_from_quat(q: Tensor) -> Tensor:
    """``[..., 4]`` wxyz -> ``[..., 3]`` rotation vectors (angle in ``[0, pi]``).

    Also takes a float64 numpy array (returns one)."""
    if isinstance(q, Tensor):
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        s = q[..., 1:].norm(dim=-1, keepdim=True)
        where, atan2 = torch.where, torch.atan2
    else:
        q = q / np.maximum(np.sqrt((q * q).sum(-1, keepdims=True)), 1e-12)
        s = np.sqrt((q[..., 1:] ** 2).sum(-1, keepdims=True))
        where, atan2 = np.where, np.arctan2
    q = where(q[..., :1] < 0, -q, q)
    angle = 2.0 * atan2(s, q[..., :1])
    scale = where(s > 1e-9, angle / (s + (s <= 1e-9)), 2.0)  # s > 0 where it is used
    return q[..., 1:] * scale


def quat_from_rotvec(r: Tensor) -> Tensor:
    """``[..., 3]`` rotation vectors -> ``[..., 4]`` unit wxyz quaternions.

    Also takes a float64 numpy array (returns one)."""
    if isinstance(r, Tensor):
        angle = r.norm(dim=-1, keepdim=True)
        sin, cos, where, cat = torch.sin, torch.cos, torch.where, torch.cat
    else:
        angle = np.sqrt((r**2).sum(-1, keepdims=True))
        sin, cos, where, cat = np.sin, np.cos, np.where, np.concatenate
    half = 0.5 * angle
    small = angle <= 1e-9
    k = where(small, 0.5 - angle**2 / 48, sin(half) / (angle + small))  # angle > 0 where used
    return cat([cos(half), r * k], -1)


# ---------------------------------------------------------------------------- construction
def from_world_gaussians(
    params: dict[str, Tensor],
    group: Tensor,
    object_ids: list[int],
    object_names: list[str],
    background_color: Tensor | None = None,
) -> SceneState:
    """Build a state from world-frame Gaussians and a group index per Gaussian.

    Each object's frame is centred on its Gaussians (the middle of the 1st-99th percentile box
    of its confident ones, opacity > 0.5, so faint floaters do not pull it) with the world's
    orientation; the background keeps the world frame.

    Args:
        params: raw world-frame parameters with gsplat's names: ``means [N,3]``,
            ``quats [N,4]``, ``scales [N,3]``, ``opacities [N]``, ``sh0 [N,1,3]`` and
            optionally ``shN [N,K-1,3]``.
        group: ``[N]`` int64 group index into ``object_ids`` (0 = background).
        object_ids: ``M`` dataset ids, ``object_ids[0] == 0``.
        object_names: ``M`` names.
        background_color: ``[3]`` RGB (default black).
    """
    m = len(object_ids)
    if object_ids[0] != 0 or len(object_names) != m:
        raise InputError("object_ids must start with 0 (background) and match object_names")
    group = group.long().cpu()
    order = torch.argsort(group, stable=True)
    means = params["means"].detach().cpu()[order].float()
    sh = params["sh0"].detach().cpu().float()
    if "shN" in params and params["shN"].shape[1] > 0:
        sh = torch.cat([sh, params["shN"].detach().cpu().float()], 1)
    quats = params["quats"].detach().cpu()[order].float()
    quats = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    group = group[order]
    counts = torch.bincount(group, minlength=m)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    positions = torch.zeros(m, 3)
    solid = torch.sigmoid(params["opacities"].detach().cpu()[order].float().reshape(-1)) > 0.5
    for g in range(1, m):
        sl = slice(int(offsets[g]), int(offsets[g + 1]))
        pts = means[sl][solid[sl]] if int(solid[sl].sum()) >= 10 else means[sl]
        if len(pts):
            lo = torch.quantile(pts, 0.01, dim=0)
            hi = torch.quantile(pts, 0.99, dim=0)
            positions[g] = (lo + hi) / 2
    canonical = means - positions[group]
    gaussians = Gaussians(
        means=canonical.contiguous(),
        quats=quats.contiguous(),
        scales=params["scales"].detach().cpu()[order].float().contiguous(),
        opacities=params["opacities"].detach().cpu()[order].float().reshape(-1).contiguous(),
        sh=sh[order].contiguous(),
        group=group.contiguous(),
    )
    orientations = torch.zeros(m, 4)
    orientations[:, 0] = 1
    return SceneState(
        gaussians=gaussians,
        offsets=offsets,
        object_ids=torch.tensor(object_ids, dtype=torch.int64),
        object_names=tuple(object_names),
        positions=positions,
        orientations=orientations,
        linear_velocity=torch.zeros(m, 3),
        angular_velocity=torch.zeros(m, 3),
        background_color=(
            torch.zeros(3) if background_color is None else background_color.detach().cpu().float()
        ),
        step=0,
    )


def world_gaussians(state: SceneState) -> dict[str, Tensor]:
    """The state's Gaussians placed in the world by their group's pose.

    Returns raw parameters with gsplat's names: ``means [N,3]``, ``quats [N,4]``,
    ``scales [N,3]``, ``opacities [N]``, ``sh0 [N,1,3]``, ``shN [N,K-1,3]``.
    """
    g = state.gaussians
    rot = quat_to_matrix(state.orientations)[g.group]  # [N,3,3]
    means = (rot @ g.means[..., None])[..., 0] + state.positions[g.group]
    quats = quat_multiply(state.orientations[g.group], g.quats)
    return {
        "means": means,
        "quats": quats,
        "scales": g.scales,
        "opacities": g.opacities,
        "sh0": g.sh[:, :1],
        "shN": g.sh[:, 1:],
    }


def group_slice(state: SceneState, g: int) -> slice:
    """The packed rows of group ``g``."""
    return slice(int(state.offsets[g]), int(state.offsets[g + 1]))


__all__ = [
    "STATE_FORMAT_VERSION",
    "Gaussians",
    "SceneState",
    "from_world_gaussians",
    "group_slice",
    "numpy64",
    "quat_conjugate",
    "quat_from_rotvec",
    "quat_multiply",
    "quat_to_matrix",
    "rotvec_from_quat",
    "world_gaussians",
]
