"""The learned part of the dynamics head: a graph network that corrects a base step.

A *base* dynamics (the MuJoCo prior, or plain kinematic integration for the "learned only"
ablation) takes the state after the step's actions, ``s_a``, to ``s_b`` one step later. The
network looks at both (per object: velocities, pose change, up vectors, proxy size and
clearance above the ground; per pair of objects: relative position, velocity and motion) and
predicts a correction of ``s_b`` towards the truth: ``dp`` (m), ``drot`` (rotation vector,
rad, applied on the left), ``dv`` (m/s), ``dw`` (rad/s), all world frame.

Architecture (message passing over a complete graph of the objects, pairs farther apart than
``radius`` masked): node encoder MLP -> edge MLP on ``[h_i, h_j, e_ij]`` summed over
neighbours -> decoder MLP on ``[h_i, m_i]`` -> 12 numbers, scaled by the training targets'
spread and clamped to physical bounds. Inputs are standardised with statistics stored in the
network. It has no notion of a world origin or heading: features are built from differences,
heights and world-frame vectors, and training augments every scene with a random rotation
about +Z (the ground is isotropic), so it learns corrections that hold in any heading.

A :class:`NetEnsemble` averages the corrections of several such networks trained from
different seeds: one network's generalisation to unseen objects varies a lot with its seed,
the mean far less.

Everything here is pure: :func:`correct` returns a new state.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from spatialwm.dynamics.proxy import Proxies, clearance
from spatialwm.errors import DatasetError
from spatialwm.scene.state import (
    SceneState,
    numpy64,
    quat_conjugate,
    quat_from_rotvec,
    quat_multiply,
    quat_to_matrix,
    rotvec_from_quat,
)

__all__ = [
    "EDGE_FEATURES",
    "NODE_FEATURES",
    "NetEnsemble",
    "ResidualNet",
    "correct",
    "integrate",
    "net_from_json",
    "net_to_json",
    "pack_graph",
    "scene_graph",
]

NODE_FEATURES = 30
EDGE_FEATURES = 13
OUTPUTS = 12
# Physical bounds of one step's correction: dp (m), drot (rad), dv (m/s), dw (rad/s).
BOUNDS = (0.3, math.pi, 2.0, 10.0)


# --------------------------------------------------------------------------- base steps
def integrate(state: SceneState, dt: float) -> SceneState:
    """Kinematic base of the "learned only" ablation: every object keeps its linear and
    angular velocity for ``dt`` seconds (no forces, no contacts). ``step + 1``."""
    p = state.positions + dt * state.linear_velocity
    dq = quat_from_rotvec(dt * state.angular_velocity.double()).to(state.orientations.dtype)
    q = quat_multiply(dq, state.orientations)
    p, q = torch.cat([state.positions[:1], p[1:]]), torch.cat([state.orientations[:1], q[1:]])
    return state.replace(positions=p, orientations=q, step=state.step + 1)


def correct(state: SceneState, corrections: Tensor) -> SceneState:
    """``state`` with per-object corrections ``[K, 12]`` (``dp, drot, dv, dw``, world frame)
    applied to objects ``1..K``; the background is untouched. (numpy inside: a handful of
    objects per call.)"""
    c = numpy64(corrections)
    q = quat_multiply(quat_from_rotvec(c[:, 3:6]), numpy64(state.orientations[1:]))
    q = q / np.sqrt((q**2).sum(-1, keepdims=True))
    q = np.where(q[:, :1] < 0, -q, q)

    def rows(old: Tensor, new: np.ndarray) -> Tensor:
        return torch.cat([old[:1], torch.from_numpy(new).to(old.dtype)])

    def shifted(old: Tensor, delta: np.ndarray) -> Tensor:
        return rows(old, numpy64(old[1:]) + delta)

    return state.replace(
        positions=shifted(state.positions, c[:, 0:3]),
        orientations=rows(state.orientations, q),
        linear_velocity=shifted(state.linear_velocity, c[:, 6:9]),
        angular_velocity=shifted(state.angular_velocity, c[:, 9:12]),
    )


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class Poses:
    """Object rows of a state (background dropped), float64: ``p [K,3]``, ``q [K,4]``,
    ``v [K,3]``, ``w [K,3]``."""

    p: Tensor
    q: Tensor
    v: Tensor
    w: Tensor

    @staticmethod
    def of(state: SceneState) -> Poses:
        return Poses(*(t[1:].detach().double() for t in (
            state.positions, state.orientations, state.linear_velocity, state.angular_velocity
        )))  # fmt: skip

    def rotated(self, rz: Tensor, qz: Tensor) -> Poses:
        """The same objects after rotating the world by ``rz`` [3,3] (= quaternion ``qz``)."""
        return Poses(self.p @ rz.T, quat_multiply(qz.expand_as(self.q), self.q),
                     self.v @ rz.T, self.w @ rz.T)  # fmt: skip


def _up_np(q: np.ndarray) -> np.ndarray:
    return quat_to_matrix(q)[..., :, 2]


def scene_graph(
    after: Poses, base: Poses, proxies: Proxies, acted: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Features of one scene: ``(nodes [K, 30], edges [K, K, 13], dist [K, K])``, float64.

    ``after``: objects after the step's actions; ``base``: after the base step; ``acted``:
    ``[K]`` 1 where an action targeted the object this step. Computed in numpy (a step's
    handful of objects costs torch more in per-call overhead than in arithmetic)."""
    pa, qa, va, wa = (numpy64(t) for t in (after.p, after.q, after.v, after.w))
    pb, qb, vb, wb = (numpy64(t) for t in (base.p, base.q, base.v, base.w))
    half = -np.sort(-numpy64(proxies.half_extents), axis=-1)  # descending
    dp = pb - pa
    drot = rotvec_from_quat(quat_multiply(qb, quat_conjugate(qa)))
    nodes = np.concatenate([
        va, wa, _up_np(qa), dp, drot, vb, wb, _up_np(qb), half,
        clearance(proxies, after.p, after.q).numpy()[:, None],
        clearance(proxies, base.p, base.q).numpy()[:, None], numpy64(acted)[:, None],
    ], axis=-1)  # fmt: skip
    rel = pa[None, :, :] - pa[:, None, :]  # [i, j] = p_j - p_i
    dist = np.sqrt((rel**2).sum(-1))
    k = len(pa)
    edges = np.concatenate([
        rel, dist[..., None], va[None] - va[:, None], dp[None] - dp[:, None],
        np.broadcast_to(half[None], (k, k, 3)),
    ], axis=-1)  # fmt: skip
    return torch.from_numpy(nodes), torch.from_numpy(edges), torch.from_numpy(dist)


@functools.lru_cache(maxsize=64)
def _complete_graph(k: int) -> tuple[Tensor, Tensor]:
    ii, jj = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    keep = (ii != jj).reshape(-1)
    return keep.nonzero()[:, 0], torch.stack([ii.reshape(-1)[keep], jj.reshape(-1)[keep]], -1)


def pack_graph(edges: Tensor, dist: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One scene's complete graph without self-loops, in :meth:`ResidualNet.forward`'s packed
    layout: ``edges [K, K, F]``, ``dist [K, K]`` -> ``(edges [E, F], dist [E], graph [E, 2])``
    with ``E = K (K - 1)`` ordered pairs ``(receiver i, sender j)`` (node indices local to
    the scene: offset them to pack several scenes)."""
    k = dist.shape[0]
    rows, graph = _complete_graph(k)
    return edges.reshape(k * k, -1)[rows], dist.reshape(-1)[rows], graph


# --------------------------------------------------------------------------- the network
def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                         nn.SiLU(), nn.Linear(hidden, n_out))  # fmt: skip


class ResidualNet(nn.Module):
    """The correction network (see the module docstring).

    Args:
        hidden: width of every MLP.
        radius: objects farther apart than this (m, between canonical origins) exchange no
            messages.
    """

    def __init__(self, hidden: int = 32, radius: float = 0.3) -> None:
        super().__init__()
        self.hidden, self.radius = int(hidden), float(radius)
        self.node = _mlp(NODE_FEATURES, hidden, hidden)
        self.edge = _mlp(2 * hidden + EDGE_FEATURES, hidden, hidden)
        self.out = _mlp(2 * hidden, hidden, OUTPUTS)
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)  # starts as "no correction"
        for name, n in (("node", NODE_FEATURES), ("edge", EDGE_FEATURES), ("y", OUTPUTS)):
            self.register_buffer(f"{name}_mean", torch.zeros(n))
            self.register_buffer(f"{name}_std", torch.ones(n))
        self.register_buffer("bounds", torch.tensor(BOUNDS).repeat_interleave(3))

    def forward(self, nodes: Tensor, edges: Tensor, dist: Tensor, graph: Tensor) -> Tensor:
        """Batched scenes packed along the first axis.

        Args:
            nodes: ``[N, 30]`` node features of all scenes' objects.
            edges: ``[E, 13]`` features of ordered pairs ``(i, j)``, ``E`` pairs.
            dist: ``[E]`` pair distances (m).
            graph: ``[E, 2]`` int64 ``(receiver i, sender j)`` node indices.
        Returns:
            ``[N, 12]`` corrections in physical units (``dp, drot, dv, dw``).
        """
        h = self.node((nodes.float() - self.node_mean) / self.node_std)
        e = (edges.float() - self.edge_mean) / self.edge_std
        i, j = graph[:, 0], graph[:, 1]
        msg = self.edge(torch.cat([h[i], h[j], e], dim=-1))
        msg = msg * (dist.float() < self.radius)[:, None]
        agg = torch.zeros_like(h).index_add_(0, i, msg)
        y = self.out(torch.cat([h, agg], dim=-1)) * self.y_std + self.y_mean
        return torch.maximum(torch.minimum(y, self.bounds), -self.bounds)

    def predict(self, after: Poses, base: Poses, proxies: Proxies, acted: Tensor) -> Tensor:
        """``[K, 12]`` corrections of one scene's base step."""
        nodes, edges, dist = scene_graph(after, base, proxies, acted)
        with torch.inference_mode():
            return self(nodes, *pack_graph(edges, dist)).double()


class NetEnsemble:
    """Several :class:`ResidualNet` trained alike (different seeds); :meth:`predict` is the
    mean of their corrections, the scene graph built once for all of them.

    Args:
        members: one or more networks.
    """

    def __init__(self, members: Sequence[ResidualNet]) -> None:
        if len(members) < 1:
            raise ValueError("NetEnsemble: needs at least one network")
        self.members = tuple(members)
        # equally wide members run as one batched network (a few small matrix products cost
        # torch more in per-call overhead than in arithmetic): weights stacked per layer
        self._stacked = None
        if len({m.hidden for m in self.members}) == 1:
            states = [m.state_dict() for m in self.members]  # parameters and buffers
            self._stacked = {k: torch.stack([s[k].float() for s in states]) for k in states[0]}
            self._radius = torch.tensor([m.radius for m in self.members])

    def __len__(self) -> int:
        return len(self.members)

    def _mlp(self, prefix: str, x: Tensor) -> Tensor:
        """The members' ``prefix`` MLP (:func:`_mlp`) on ``x`` ``[N, rows, in]``."""
        w = self._stacked
        for layer in (0, 2, 4):
            x = torch.baddbmm(w[f"{prefix}.{layer}.bias"][:, None],
                              x, w[f"{prefix}.{layer}.weight"].transpose(1, 2))  # fmt: skip
            if layer < 4:
                x = nn.functional.silu(x)
        return x

    def forward(self, nodes: Tensor, edges: Tensor, dist: Tensor, graph: Tensor) -> Tensor:
        """``[N, K, 12]`` every member's corrections (:meth:`ResidualNet.forward`)."""
        if self._stacked is None:
            return torch.stack([m(nodes, edges, dist, graph) for m in self.members])
        w = self._stacked
        h = self._mlp("node", (nodes.float() - w["node_mean"][:, None]) / w["node_std"][:, None])
        e = (edges.float() - w["edge_mean"][:, None]) / w["edge_std"][:, None]
        i, j = graph[:, 0], graph[:, 1]
        msg = self._mlp("edge", torch.cat([h[:, i], h[:, j], e], dim=-1))
        msg = msg * (dist.float()[None] < self._radius[:, None])[..., None]
        agg = torch.zeros_like(h).index_add_(1, i, msg)
        y = self._mlp("out", torch.cat([h, agg], dim=-1)) * w["y_std"][:, None]
        y = y + w["y_mean"][:, None]
        bounds = w["bounds"][:, None]
        return torch.maximum(torch.minimum(y, bounds), -bounds)

    def predict(self, after: Poses, base: Poses, proxies: Proxies, acted: Tensor) -> Tensor:
        """``[K, 12]`` the members' mean correction of one scene's base step."""
        nodes, edges, dist = scene_graph(after, base, proxies, acted)
        with torch.inference_mode():
            return self.forward(nodes, *pack_graph(edges, dist)).double().mean(0)


Corrector = ResidualNet | NetEnsemble  # what a dynamics model's networks are


# ----------------------------------------------------------------------- serialisation
def _encode(t: Tensor) -> dict:
    a = t.detach().cpu().float().numpy().astype("<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(rec: dict) -> Tensor:
    a = np.frombuffer(base64.b64decode(rec["f32"]), dtype="<f4").reshape(rec["shape"])
    return torch.from_numpy(a.copy())


def net_to_json(net: Corrector) -> dict:
    """A JSON-able record of the network (float32 weights, base64); of an ensemble,
    ``{"members": [record, ...]}``."""
    if isinstance(net, NetEnsemble):
        return {"members": [net_to_json(m) for m in net.members]}
    return {
        "hidden": net.hidden,
        "radius": net.radius,
        "state": {k: _encode(v) for k, v in net.state_dict().items()},
    }


def net_from_json(rec: dict, where: str = "dynamics model") -> Corrector:
    """Inverse of :func:`net_to_json`; ``DatasetError`` naming ``where`` if malformed."""
    if isinstance(rec, dict) and "members" in rec:
        members = rec["members"]
        if not isinstance(members, list) or not members:
            raise DatasetError(f"{where}: members must be a non-empty list of networks")
        return NetEnsemble([_net_from_json(m, f"{where}: members[{i}]")
                            for i, m in enumerate(members)])  # fmt: skip
    return _net_from_json(rec, where)


def _net_from_json(rec: dict, where: str) -> ResidualNet:
    """One network's record (:func:`net_to_json` of a :class:`ResidualNet`)."""
    try:
        net = ResidualNet(hidden=int(rec["hidden"]), radius=float(rec["radius"]))
        state = {k: _decode(v) for k, v in rec["state"].items()}
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise DatasetError(f"{where}: malformed residual network ({e})") from None
    if not all(torch.isfinite(v).all() for v in net.state_dict().values()):
        raise DatasetError(f"{where}: residual network has non-finite weights")
    return net.eval()
