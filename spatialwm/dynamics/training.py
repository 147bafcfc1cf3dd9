"""Training the residual networks on observed trajectories.

A *transition* is one episode step seen from the model: the true state at ``t`` (set into the
reconstructed scene), the step's actions applied (``after``), the base step (prior or
kinematic integration, ``base``) and the true state at ``t + 1`` (``truth``). The network
learns ``truth - base`` (one-step teacher forcing) with a Huber loss on standardised
targets (positions weighted most: they are what a rollout accumulates), full batch Adam, on
scenes augmented with random rotations about +Z. When there are at least two episodes, the
last fifth of them (at least one) is held out for early stopping (the weights of the best
validation loss are kept).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.dynamics.model import acted_mask, moved_mask
from spatialwm.dynamics.prior import apply_actions, simulate_state
from spatialwm.dynamics.proxy import Proxies
from spatialwm.dynamics.residual import (
    Poses,
    ResidualNet,
    integrate,
    pack_graph,
    scene_graph,
)
from spatialwm.errors import InputError
from spatialwm.scene.state import quat_conjugate, quat_multiply, rotvec_from_quat

__all__ = [
    "Transition",
    "collect_transitions",
    "targets",
    "train_residual",
    "validation_count",
]

# per output (dp, drot, dv, dw, 3 each) weight of the loss; they sum to 1
LOSS_WEIGHTS = torch.tensor([3.0] * 3 + [1.0] * 3 + [1.0] * 3 + [0.5] * 3) / 16.5


@dataclass(frozen=True)
class Transition:
    """One observed step of one scene (object rows only, float64; see the module docstring).

    ``acted [K]``: 1 where an action targeted the object; ``moved [K]``: 0 where the base
    step left the object asleep (the network's correction is not applied there, so it is
    not trained there either); ``episode``: index of its episode.
    """

    after: Poses
    base: Poses
    truth: Poses
    proxies: Proxies
    acted: Tensor
    moved: Tensor
    episode: int


def targets(base: Poses, truth: Poses) -> Tensor:
    """``[K, 12]`` the correction that takes ``base`` to ``truth``: ``dp, drot, dv, dw``."""
    drot = rotvec_from_quat(quat_multiply(truth.q, quat_conjugate(base.q)))
    return torch.cat([truth.p - base.p, drot, truth.v - base.v, truth.w - base.w], dim=-1)


def _transition(wm, now, actions, truth, base: str, episode: int) -> Transition:
    """The transition from state ``now`` under ``actions`` (canonical) to state ``truth``."""
    after = apply_actions(now, actions)
    b = simulate_state(wm.prior, after, wm.dt) if base == "prior" else integrate(after, wm.dt)
    k = now.num_groups - 1
    moved = moved_mask(after, b) if base == "prior" else torch.ones(k)
    return Transition(Poses.of(after), Poses.of(b), Poses.of(truth), wm.prior.proxies,
                      acted_mask(now, actions), moved.float(), episode)  # fmt: skip


def collect_transitions(
    pairs: Sequence[tuple], base: str = "prior", *, rollout: int = 0, every: int = 2
) -> list[Transition]:
    """Transitions of every step of every ``(WorldModel, Episode)`` pair.

    ``base``: ``"prior"`` (the world model's MuJoCo prior) or ``"learned"`` (kinematic
    integration). ``rollout > 0`` collects instead the states the world model itself reaches
    (in its own mode) 1 to ``rollout`` steps after the true state at every ``every``-th step,
    each paired with the *true* next state: the model learns to correct its own drift
    (DAgger for dynamics, Venkatraman et al. 2015, "data as demonstrator")."""
    if base not in ("prior", "learned"):
        raise InputError(f"collect_transitions: base must be 'prior' or 'learned', got {base!r}")
    if rollout < 0 or every < 1:
        raise InputError("collect_transitions: rollout must be >= 0 and every >= 1")
    out = []
    for e, (wm, episode) in enumerate(pairs):
        ids = [int(i) for i in wm.state.object_ids[1:]]
        steps = episode.steps
        true = [wm.with_object_states(wm.state, {i: s.objects[i] for i in ids}) for s in steps]
        acts = [wm.canonical_actions(s.actions) for s in steps]
        if rollout == 0:
            out += [_transition(wm, true[t], acts[t], true[t + 1], base, e)
                    for t in range(len(steps) - 1)]  # fmt: skip
            continue
        for t0 in range(0, len(steps) - 2, every):
            state = true[t0]
            for t in range(t0, min(len(steps) - 2, t0 + rollout)):
                state = wm.step(state, steps[t].actions)  # the model's own prediction
                out.append(_transition(wm, state, acts[t + 1], true[t + 2], base, e))
    return out


def _yaw(angle: float) -> tuple[Tensor, Tensor]:
    c, s = math.cos(angle), math.sin(angle)
    rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    qz = torch.tensor([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)], dtype=torch.float64)
    return rz, qz


def _pack(transitions: Sequence[Transition], rotations: int, gen: torch.Generator) -> dict:
    """Features and targets of every transition under ``rotations`` random yaws, packed."""
    nodes, edges, dists, graphs, ys, ws = [], [], [], [], [], []
    n = 0
    for tr in transitions:
        for r in range(rotations):
            angle = 0.0 if r == 0 else float(torch.rand((), generator=gen)) * 2 * math.pi
            rz, qz = _yaw(angle)
            a, b, t = (x.rotated(rz, qz) for x in (tr.after, tr.base, tr.truth))
            nd, ed, di = scene_graph(a, b, tr.proxies, tr.acted)
            k = len(nd)
            ed, di, graph = pack_graph(ed, di)
            nodes.append(nd)
            edges.append(ed)
            dists.append(di)
            graphs.append(graph + n)
            ys.append(targets(b, t))
            ws.append(tr.moved)
            n += k
    return {
        "nodes": torch.cat(nodes).float(),
        "edges": torch.cat(edges).float(),
        "dist": torch.cat(dists).float(),
        "graph": torch.cat(graphs),
        "y": torch.cat(ys).float(),
        "w": torch.cat(ws).float(),
    }


def validation_count(episodes: int) -> int:
    """How many of ``episodes`` (the last ones) are held out for early stopping."""
    return max(1, round(0.2 * episodes)) if episodes > 1 else 0


def train_residual(
    transitions: Sequence[Transition],
    *,
    hidden: int = 32,
    radius: float = 0.3,
    iters: int = 1500,
    lr: float = 5e-3,
    weight_decay: float = 0.0,
    rotations: int = 8,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[ResidualNet, dict]:
    """Fit a :class:`ResidualNet` to ``transitions``.

    Returns ``(network in eval mode, {"train_loss", "val_loss", "best_iter", "samples"})``.
    Deterministic for a given ``seed``."""
    if not transitions:
        raise InputError("train_residual: no transitions to learn from")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    episodes = sorted({t.episode for t in transitions})
    n_val = validation_count(len(episodes))
    val_eps = set(episodes[len(episodes) - n_val :]) if n_val else set()
    train = _pack([t for t in transitions if t.episode not in val_eps], rotations, gen)
    val = _pack([t for t in transitions if t.episode in val_eps], 1, gen) if val_eps else None
    net = ResidualNet(hidden=hidden, radius=radius)
    with torch.no_grad():
        net.node_mean.copy_(train["nodes"].mean(0))
        net.node_std.copy_(train["nodes"].std(0).clamp_min(1e-3))
        net.edge_mean.copy_(train["edges"].mean(0))
        net.edge_std.copy_(train["edges"].std(0).clamp_min(1e-3))
        net.y_mean.zero_()
        net.y_std.copy_(train["y"].std(0).clamp_min(1e-4))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)

    def loss_of(batch: dict) -> Tensor:
        y = net(batch["nodes"], batch["edges"], batch["dist"], batch["graph"])
        err = (
            torch.nn.functional.huber_loss(
                y / net.y_std, batch["y"] / net.y_std, delta=1.0, reduction="none"
            )
            @ LOSS_WEIGHTS
        )
        return (err * batch["w"]).sum() / batch["w"].sum().clamp_min(1.0)

    best = (float("inf"), 0, {k: v.clone() for k, v in net.state_dict().items()})
    train_loss = float("nan")
    for it in range(1, iters + 1):
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_of(train)
        loss.backward()
        opt.step()
        sched.step()
        train_loss = float(loss.detach())
        if val is not None and (it % 25 == 0 or it == iters):
            net.eval()
            with torch.no_grad():
                v = float(loss_of(val))
            if v < best[0]:
                best = (v, it, {k: t.clone() for k, t in net.state_dict().items()})
        if it % 250 == 0 or it == iters:
            log(
                f"    iter {it}: train loss {train_loss:.4f}"
                + (f", val {best[0]:.4f}" if val else "")
            )
    if val is not None:
        net.load_state_dict(best[2])
    stats = {
        "train_loss": train_loss,
        "val_loss": best[0] if val is not None else None,
        "best_iter": best[1] if val is not None else iters,
        "samples": len(train["nodes"]),
    }
    return net.eval(), stats
