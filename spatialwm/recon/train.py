"""The optimisation loop: L1 + D-SSIM photometric loss, object-probability cross-entropy
against the instance masks, optional depth loss, Adam with per-parameter learning rates,
densification with gsplat's ``DefaultStrategy`` through the rasterizer's ``meta``.

The loop's mutable state lives in :class:`TrainState` (parameters, optimisers, strategy
state), which :func:`save_checkpoint` writes atomically and :func:`load_checkpoint` restores,
so a killed run resumes where its last checkpoint left it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from spatialwm.errors import DatasetError
from spatialwm.recon.config import ReconConfig
from spatialwm.recon.metrics import psnr, ssim
from spatialwm.recon.views import View
from spatialwm.render import rasterization
from spatialwm.scene.io import atomic_torch_save
from spatialwm.scene.render import view_colors

PARAM_KEYS = ("means", "scales", "quats", "opacities", "sh0", "shN", "objects")
CHECKPOINT_VERSION = 1


@dataclass
class TrainState:
    """What the loop changes; everything needed to resume."""

    params: torch.nn.ParameterDict
    optimizers: dict[str, torch.optim.Optimizer]
    background: torch.nn.Parameter  # [3] RGB
    bg_optimizer: torch.optim.Optimizer
    strategy_state: dict[str, Any]
    step: int = 0
    elapsed_s: float = 0.0  # training wall time over all sessions of the run
    history: list[dict[str, float]] = field(default_factory=list)


def _learning_rates(cfg: ReconConfig, scale: float) -> dict[str, float]:
    return {
        "means": cfg.lr_means * scale,
        "scales": cfg.lr_scales,
        "quats": cfg.lr_quats,
        "opacities": cfg.lr_opacities,
        "sh0": cfg.lr_sh0,
        "shN": cfg.lr_shN,
        "objects": cfg.lr_objects,
    }


def make_strategy(cfg: ReconConfig):
    """gsplat's ``DefaultStrategy`` configured from ``cfg`` (densification schedule)."""
    from gsplat.strategy import DefaultStrategy

    return DefaultStrategy(
        prune_opa=cfg.prune_opa,
        grow_grad2d=cfg.grow_grad2d,
        refine_start_iter=cfg.refine_start,
        refine_stop_iter=cfg.refine_stop if cfg.densify else 0,
        refine_every=cfg.refine_every,
        reset_every=cfg.reset_every,
        absgrad=cfg.absgrad,
        verbose=False,
    )


def new_train_state(
    init: dict[str, Tensor], cfg: ReconConfig, scale: float, device: torch.device
) -> TrainState:
    """Parameters, Adam optimisers and strategy state for a fresh run."""
    params = torch.nn.ParameterDict(
        {k: torch.nn.Parameter(init[k].to(device).contiguous()) for k in PARAM_KEYS}
    )
    lrs = _learning_rates(cfg, scale)
    optimizers = {
        k: torch.optim.Adam([{"params": params[k], "lr": lrs[k], "name": k}], eps=1e-15, fused=True)
        for k in PARAM_KEYS
    }
    bg0 = {"white": 1.0, "black": 0.0}.get(cfg.background, 0.5)
    background = torch.nn.Parameter(torch.full((3,), bg0, device=device))
    bg_opt = torch.optim.Adam([background], lr=cfg.lr_background)
    strategy_state = make_strategy(cfg).initialize_state(scene_scale=scale)
    return TrainState(params, optimizers, background, bg_opt, strategy_state)


def render_params(
    params: dict[str, Tensor],
    view: View,
    background: Tensor,
    sh_degree: int,
    *,
    objects: bool,
    depth: bool,
    absgrad: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor, dict[str, Any]]:
    """Render trainable parameters from one view.

    Returns:
        ``rgb [H,W,3]``, ``probs [H,W,M]`` (or None), ``depth [H,W]`` (or None),
        ``alpha [H,W]``, ``meta`` (for the densification strategy).
    """
    device = params["means"].device
    viewmat = view.viewmat.to(device)[None]
    K = view.K.to(device)[None]
    campos = torch.linalg.inv(viewmat)[:, :3, 3]
    sh = torch.cat([params["sh0"], params["shN"]], 1)
    feats = [view_colors(sh, params["means"], campos, sh_degree)[0]]
    bg = [background]
    m = params["objects"].shape[1]
    if objects:
        # softmax over groups; on the transposed logits (torch's CPU softmax is ~3x slower
        # along a short last dimension)
        feats.append(torch.softmax(params["objects"].t().contiguous(), 0).t())
        bg.append(torch.eye(m, device=device)[0])
    out, alpha, meta = rasterization(
        params["means"], params["quats"], params["scales"].exp(),
        torch.sigmoid(params["opacities"]), torch.cat(feats, -1), viewmat, K,
        view.width, view.height, backgrounds=torch.cat(bg)[None],
        render_mode="RGB+ED" if depth else "RGB", absgrad=absgrad,
    )  # fmt: skip
    out = out[0]
    rgb = out[..., :3]
    probs = out[..., 3 : 3 + m] if objects else None
    d = out[..., -1] if depth else None
    return rgb, probs, d, alpha[0, ..., 0], meta


def loss_terms(
    cfg: ReconConfig,
    view: View,
    rgb: Tensor,
    probs: Tensor | None,
    depth: Tensor | None,
) -> dict[str, Tensor]:
    """Loss terms for one rendered view (``loss`` is their weighted sum)."""
    gt = view.image_float(rgb.device)
    valid = view.valid.to(rgb.device)
    l1 = ((rgb - gt).abs().sum(-1) * valid).sum() / (3 * valid.sum().clamp_min(1))
    pred_for_ssim = torch.where(valid[..., None], rgb, gt)
    d_ssim = 1 - ssim(pred_for_ssim, gt)
    terms = {"l1": l1, "dssim": d_ssim}
    loss = (1 - cfg.ssim_lambda) * l1 + cfg.ssim_lambda * d_ssim
    if probs is not None and view.labels is not None:
        labels = view.labels.to(rgb.device)
        p = probs.gather(-1, labels[..., None])[..., 0].clamp_min(1e-6)
        ce = -(p.log() * valid).sum() / valid.sum().clamp_min(1)
        terms["objects"] = ce
        loss = loss + cfg.object_lambda * ce
    if depth is not None and view.depth is not None:
        gt_d = view.depth.to(rgb.device)
        ok = (gt_d > 0) & valid
        rel = ((depth - gt_d).abs() / gt_d.clamp_min(1e-6) * ok).sum() / ok.sum().clamp_min(1)
        terms["depth"] = rel
        loss = loss + cfg.depth_lambda * rel
    terms["loss"] = loss
    return terms


def active_sh_degree(cfg: ReconConfig, step: int) -> int:
    return min(step // cfg.sh_degree_interval, cfg.sh_degree)


def view_order(cfg: ReconConfig, n_views: int, step: int) -> int:
    """Which training view step ``step`` uses: a fresh seeded permutation every epoch, so the
    order depends only on (seed, step) and a resumed run sees the same views."""
    epoch, i = divmod(step, n_views)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    return int(torch.randperm(n_views, generator=gen)[i])


def train_step(
    ts: TrainState,
    cfg: ReconConfig,
    views: tuple[View, ...],
    strategy,
    *,
    scale: float,
    use_objects: bool,
    use_depth: bool,
) -> dict[str, float]:
    """One optimisation step on one training view; advances ``ts`` in place."""
    step = ts.step
    view = views[view_order(cfg, len(views), step)]
    gamma = (cfg.lr_means_final / cfg.lr_means) ** (1.0 / max(cfg.steps, 1))
    for group in ts.optimizers["means"].param_groups:
        group["lr"] = cfg.lr_means * scale * gamma**step
    bg = ts.background.clamp(0, 1) if cfg.background == "learn" else ts.background.detach()
    rgb, probs, depth, _, meta = render_params(
        ts.params, view, bg, active_sh_degree(cfg, step),
        objects=use_objects, depth=use_depth, absgrad=cfg.absgrad,
    )  # fmt: skip
    strategy.step_pre_backward(ts.params, ts.optimizers, ts.strategy_state, step, meta)
    terms = loss_terms(cfg, view, rgb, probs, depth)
    terms["loss"].backward()
    for opt in ts.optimizers.values():
        opt.step()
        opt.zero_grad(set_to_none=True)
    if cfg.background == "learn":
        ts.bg_optimizer.step()
    ts.bg_optimizer.zero_grad(set_to_none=True)
    if len(ts.params["means"]) < cfg.max_gaussians or step % cfg.reset_every == 0:
        strategy.step_post_backward(
            ts.params, ts.optimizers, ts.strategy_state, step, meta, packed=False
        )
    ts.step = step + 1
    out = {k: float(v.detach()) for k, v in terms.items()}
    out["psnr"] = float(psnr(rgb.detach(), view.image_float(rgb.device)))
    return out


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, ts: TrainState, cfg: ReconConfig, meta: dict[str, Any]) -> None:
    """Write everything needed to resume, atomically."""
    record = {
        "version": CHECKPOINT_VERSION,
        "config": cfg.to_json(),
        "meta": meta,
        "step": ts.step,
        "elapsed_s": ts.elapsed_s,
        "history": ts.history,
        "params": {k: v.detach().cpu() for k, v in ts.params.items()},
        "optimizers": {k: o.state_dict() for k, o in ts.optimizers.items()},
        "background": ts.background.detach().cpu(),
        "bg_optimizer": ts.bg_optimizer.state_dict(),
        "strategy_state": {
            k: v.cpu() if isinstance(v, Tensor) else v for k, v in ts.strategy_state.items()
        },
        "rng": torch.get_rng_state(),
    }
    atomic_torch_save(path, record)


def load_checkpoint(
    path: Path, cfg: ReconConfig, meta: dict[str, Any], scale: float, device: torch.device
) -> TrainState:
    """Restore a :class:`TrainState`; ``DatasetError`` if the checkpoint belongs to another
    configuration or dataset."""
    try:
        rec = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DatasetError(f"{path}: unreadable checkpoint ({e})") from None
    if rec.get("version") != CHECKPOINT_VERSION:
        raise DatasetError(f"{path}: checkpoint version {rec.get('version')} is not supported")
    saved = rec["config"]
    now = cfg.to_json()
    diff = [k for k in now if saved.get(k) != now[k] and k != "checkpoint_every_s"]
    if diff:
        raise DatasetError(
            f"{path}: the run was started with other settings ({', '.join(diff)}: "
            f"{[saved.get(k) for k in diff]} vs {[now[k] for k in diff]}); resume with the same "
            "options or start a new --out"
        )
    if rec["meta"].get("dataset") != meta.get("dataset"):
        raise DatasetError(
            f"{path}: the run reconstructs {rec['meta'].get('dataset')}, not {meta.get('dataset')}"
        )
    init = {k: v for k, v in rec["params"].items()}
    ts = new_train_state(init, cfg, scale, device)
    for k, opt in ts.optimizers.items():
        opt.load_state_dict(rec["optimizers"][k])
    with torch.no_grad():
        ts.background.copy_(rec["background"])
    ts.bg_optimizer.load_state_dict(rec["bg_optimizer"])
    ts.strategy_state = {
        k: v.to(device) if isinstance(v, Tensor) else v for k, v in rec["strategy_state"].items()
    }
    ts.step = int(rec["step"])
    ts.elapsed_s = float(rec["elapsed_s"])
    ts.history = list(rec["history"])
    torch.set_rng_state(rec["rng"])
    return ts


def run_training(
    ts: TrainState,
    cfg: ReconConfig,
    views: tuple[View, ...],
    *,
    scale: float,
    use_objects: bool,
    use_depth: bool,
    checkpoint: Callable[[TrainState], None],
    on_step: Callable[[TrainState, dict[str, float]], None] | None = None,
    evaluate: Callable[[TrainState], dict[str, float]] | None = None,
    eval_at: tuple[int, ...] = (),
) -> TrainState:
    """Train from ``ts.step`` to ``cfg.steps``, checkpointing every ``cfg.checkpoint_every_s``
    seconds and at the end. ``evaluate`` (if given) runs at the steps in ``eval_at`` and its
    result is appended to ``ts.history`` with the step and the training wall time."""
    strategy = make_strategy(cfg)
    strategy.check_sanity(ts.params, ts.optimizers)
    last_ckpt = time.monotonic()
    t_prev = time.perf_counter()
    while ts.step < cfg.steps:
        logs = train_step(
            ts, cfg, views, strategy, scale=scale, use_objects=use_objects, use_depth=use_depth
        )
        now = time.perf_counter()
        ts.elapsed_s += now - t_prev
        if evaluate is not None and ts.step in eval_at:
            ts.history.append({"step": ts.step, "wall_s": ts.elapsed_s, **evaluate(ts)})
        t_prev = time.perf_counter()
        if not all(math.isfinite(v) for v in logs.values()):
            raise FloatingPointError(f"non-finite loss at step {ts.step}: {logs}")
        if on_step is not None:
            on_step(ts, logs)
        if time.monotonic() - last_ckpt >= cfg.checkpoint_every_s or ts.step == cfg.steps:
            checkpoint(ts)
            last_ckpt = time.monotonic()
            t_prev = time.perf_counter()
    return ts


__all__ = [
    "PARAM_KEYS",
    "TrainState",
    "active_sh_degree",
    "load_checkpoint",
    "loss_terms",
    "make_strategy",
    "new_train_state",
    "render_params",
    "run_training",
    "save_checkpoint",
    "train_step",
    "view_order",
]
