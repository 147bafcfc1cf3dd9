"""Held-out evaluation: PSNR, SSIM and per-object mask IoU of the exported scene state, with
side-by-side PNGs (ground truth | prediction | object ids)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spatialwm.data.io import write_png
from spatialwm.data.preview import colorize_instances
from spatialwm.recon.metrics import mask_iou, psnr, ssim
from spatialwm.recon.views import View
from spatialwm.scene.render import render_state
from spatialwm.scene.state import SceneState


def _to_u8(x: Tensor) -> np.ndarray:
    return (x.detach().cpu().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


@torch.no_grad()
def evaluate_state(
    state: SceneState,
    views: tuple[View, ...],
    *,
    image_dir: Path | None = None,
    device: torch.device | str = "cpu",
) -> dict:
    """Metrics of ``state`` rendered from ``views`` (means over views; IoU pooled over all
    pixels of all views, per object).

    Returns:
        ``{"psnr", "ssim", "mask_iou": {id: iou}, "mean_object_iou", "views": [...]}``;
        IoU entries only when the views carry instance masks; an object that neither the
        views' masks nor the render show has no IoU (``None``: JSON ``null``), and the mean
        is over the others (``None`` when there are none).
    """
    per_view = []
    pred_ids, gt_ids = [], []
    id_of_group = state.object_ids
    for v in views:
        r = render_state(state, v.viewmat[None].to(device), v.K[None].to(device),
                         v.width, v.height)  # fmt: skip
        rgb = r.rgb[0].cpu()
        gt = v.image_float()
        valid = v.valid
        pred = torch.where(valid[..., None], rgb, gt)
        rec = {"view": v.name, "psnr": float(psnr(pred, gt)), "ssim": float(ssim(pred, gt))}
        per_view.append(rec)
        ids = r.object_ids[0].cpu()
        if v.labels is not None:
            pred_ids.append(ids[valid])
            gt_ids.append(id_of_group[v.labels][valid])
        if image_dir is not None:
            panels = [_to_u8(gt), _to_u8(rgb), colorize_instances(ids.numpy())]
            if v.labels is not None:
                panels.append(colorize_instances(id_of_group[v.labels].numpy()))
            stem = Path(v.name).stem
            write_png(image_dir / f"{stem}.png", np.concatenate(panels, 1))
    out: dict = {
        "psnr": float(np.mean([r["psnr"] for r in per_view])) if per_view else math.nan,
        "ssim": float(np.mean([r["ssim"] for r in per_view])) if per_view else math.nan,
        "views": per_view,
    }
    if pred_ids:
        objects = [int(i) for i in state.object_ids[1:]]
        iou = mask_iou(torch.cat(pred_ids), torch.cat(gt_ids), objects)
        out["mask_iou"] = {str(k): None if math.isnan(v) else v for k, v in iou.items()}
        finite = [v for v in iou.values() if not math.isnan(v)]
        out["mean_object_iou"] = float(np.mean(finite)) if finite else None
    return out


__all__ = ["evaluate_state"]
