"""``reconstruct()``: dataset in, run folder out.

Run folder layout::

    RUN/config.json        settings used (+ dataset, device, versions)
    RUN/checkpoint.pt      while training (atomic; --resume continues from it)
    RUN/state.pt           the object-centric scene state (spatialwm.scene.io.load_state)
    RUN/scene.ply          all Gaussians, standard 3DGS layout + object_id
    RUN/objects/<id>_<name>.ply   each group in its canonical frame (0 = background)
    RUN/eval/<view>.png    held-out views: ground truth | prediction | object ids | true ids
    RUN/metrics.json       PSNR, SSIM, mask IoU, Gaussians, steps, wall time, PSNR history
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spatialwm.data.io import read_json, write_json
from spatialwm.errors import InputError
from spatialwm.recon.config import ReconConfig
from spatialwm.recon.evaluate import evaluate_state
from spatialwm.recon.export import build_state, write_object_plys, write_scene_ply
from spatialwm.recon.init import init_params, initial_points, scene_scale
from spatialwm.recon.metrics import psnr
from spatialwm.recon.train import (
    TrainState,
    active_sh_degree,
    load_checkpoint,
    new_train_state,
    render_params,
    run_training,
    save_checkpoint,
)
from spatialwm.recon.views import Capture, load_capture
from spatialwm.scene.io import save_state


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def state(self) -> Path:
        return self.root / "state.pt"

    @property
    def scene_ply(self) -> Path:
        return self.root / "scene.ply"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def eval_images(self) -> Path:
        return self.root / "eval"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA GPU on this machine")
    return torch.device(device)


def run_finished(run: str | os.PathLike) -> bool:
    """Whether the run folder ``run`` holds a finished reconstruction (its metrics written,
    no checkpoint of an interrupted run left)."""
    paths = RunPaths(Path(run))
    return paths.metrics.exists() and not paths.checkpoint.exists()


def _check_out(paths: RunPaths, resume: bool) -> None:
    if not paths.root.exists():
        return
    if not paths.root.is_dir():
        raise InputError(f"{paths.root}: exists and is not a folder")
    started = paths.checkpoint.exists() or paths.metrics.exists() or paths.config.exists()
    if started and not resume:
        raise InputError(
            f"{paths.root}: already holds a reconstruction run; pass --resume to continue "
            "it, or choose another --out"
        )


@torch.no_grad()
def _quick_psnr(ts: TrainState, cfg: ReconConfig, views) -> dict[str, float]:
    vals = []
    for v in views:
        rgb, *_ = render_params(
            ts.params, v, ts.background.clamp(0, 1), active_sh_degree(cfg, ts.step),
            objects=False, depth=False,
        )  # fmt: skip
        gt = v.image_float(rgb.device)
        vals.append(float(psnr(torch.where(v.valid[..., None].to(rgb.device), rgb, gt), gt)))
    return {"test_psnr": sum(vals) / len(vals), "gaussians": len(ts.params["means"])}


def reconstruct(
    data: str | os.PathLike,
    out: str | os.PathLike,
    cfg: ReconConfig,
    *,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    eval_every: int = 0,
    log=print,
) -> dict[str, Any]:
    """Reconstruct the dataset at ``data`` into the run folder ``out``.

    Every check on the inputs (dataset files, masks, camera models, the run folder) happens
    before training starts. Returns the metrics written to ``RUN/metrics.json``.

    Args:
        eval_every: also measure held-out PSNR every this many steps (0: only at the end);
            the curve goes to ``metrics["history"]`` with the training wall time.
    """
    from spatialwm.data import load_dataset

    cfg = cfg.validate()
    paths = RunPaths(Path(out))
    _check_out(paths, resume)
    dev = resolve_device(device)
    dataset = load_dataset(data)
    capture = load_capture(dataset, test_every=cfg.test_every)
    meta = {
        "dataset": str(Path(dataset.root).resolve()),
        "train_views": len(capture.train),
        "test_views": len(capture.test),
        "objects": {
            str(i): n for i, n in zip(capture.object_ids, capture.object_names, strict=True)
        },
    }
    if resume and run_finished(paths.root):
        log(f"{paths.root}: the run is already finished; nothing to resume")
        return read_json(paths.metrics)

    paths.root.mkdir(parents=True, exist_ok=True)
    scale = scene_scale(capture.train)
    use_objects = capture.has_masks
    use_depth = capture.has_depth and cfg.depth_lambda > 0
    if resume and paths.checkpoint.exists():
        ts = load_checkpoint(paths.checkpoint, cfg, meta, scale, dev)
        log(f"resuming {paths.root} at step {ts.step}/{cfg.steps}")
    else:
        if paths.config.exists():
            prev = read_json(paths.config)
            if prev.get("dataset") != meta["dataset"]:
                raise InputError(
                    f"{paths.root}: holds a run of {prev.get('dataset')}; choose another --out"
                )
        torch.manual_seed(cfg.seed)
        t0 = time.perf_counter()
        points = initial_points(capture, dataset, cfg)
        ts = new_train_state(init_params(points, cfg, len(capture.object_ids)), cfg, scale, dev)
        ts.elapsed_s = time.perf_counter() - t0
        log(
            f"initialised {len(points.xyz):,} Gaussians from {points.source} "
            f"({len(capture.train)} training / {len(capture.test)} held-out views, "
            f"{len(capture.object_ids) - 1} objects, device {dev})"
        )
    write_json(paths.config, {"config": cfg.to_json(), **meta, "device": str(dev)})

    eval_views = capture.test or capture.train
    eval_at = tuple(range(eval_every, cfg.steps + 1, eval_every)) if eval_every > 0 else ()
    with _Progress(progress, cfg, ts.step) as bar:
        ts = run_training(
            ts, cfg, capture.train, scale=scale, use_objects=use_objects, use_depth=use_depth,
            checkpoint=lambda t: save_checkpoint(paths.checkpoint, t, cfg, meta),
            on_step=bar.update,
            evaluate=lambda t: _quick_psnr(t, cfg, eval_views), eval_at=eval_at,
        )  # fmt: skip
    return finish(paths, capture, ts, cfg, meta, dev, log=log)


def finish(paths: RunPaths, capture: Capture, ts: TrainState, cfg: ReconConfig, meta, dev, *,
           log=print) -> dict[str, Any]:  # fmt: skip
    """Export the state and PLYs, evaluate on the held-out views, write ``metrics.json``."""
    state = build_state(ts.params, capture.object_ids, capture.object_names,
                        ts.background.detach().clamp(0, 1))  # fmt: skip
    save_state(paths.state, state, meta={"config": cfg.to_json(), **meta})
    write_scene_ply(paths.scene_ply, state)
    write_object_plys(paths.objects, state)
    views = capture.test or capture.train
    ev = evaluate_state(state, views, image_dir=paths.eval_images, device=dev)
    counts = torch.bincount(state.gaussians.group, minlength=state.num_groups).tolist()
    metrics = {
        "psnr": ev["psnr"],
        "ssim": ev["ssim"],
        "mask_iou": ev.get("mask_iou", {}),
        "mean_object_iou": ev.get("mean_object_iou"),
        "evaluated_on": "held-out views" if capture.test else "training views (no held-out)",
        "num_gaussians": len(state.gaussians),
        "gaussians_per_object": {
            str(int(i)): c for i, c in zip(state.object_ids, counts, strict=True)
        },
        "steps": ts.step,
        "wall_time_s": ts.elapsed_s,
        "history": ts.history,
        "views": ev["views"],
        **meta,
    }
    write_json(paths.metrics, metrics)
    paths.checkpoint.unlink(missing_ok=True)
    iou = metrics["mean_object_iou"]
    log(
        f"held-out PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}"
        + (f", mean object IoU {iou:.3f}" if iou is not None else "")
        + f"; {metrics['num_gaussians']:,} Gaussians, {ts.step} steps, "
        f"{ts.elapsed_s:.0f} s"
    )
    return metrics


class _Progress:
    """A rich progress bar (loss, PSNR, Gaussians, ETA), or nothing when disabled."""

    def __init__(self, enabled: bool, cfg: ReconConfig, start: int):
        self.enabled, self.cfg, self.start = enabled, cfg, start
        self._bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("reconstruct"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(),
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.cfg.steps, completed=self.start,
                                            info="")  # fmt: skip
        return self

    def update(self, ts: TrainState, logs: dict[str, float]) -> None:
        if self._bar is None or (ts.step % self.cfg.log_every and ts.step != self.cfg.steps):
            return
        info = (
            f"loss {logs['loss']:.4f}  psnr {logs['psnr']:5.2f}  "
            f"gaussians {len(ts.params['means']):,}"
        )
        self._bar.update(self._task, completed=ts.step, info=info)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


__all__ = ["RunPaths", "reconstruct", "resolve_device"]
