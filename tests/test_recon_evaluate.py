"""Held-out evaluation of a scene state: per-object mask IoU, including an object that no
held-out view shows (a reconstruction used to fail writing its NaN IoU to metrics.json)."""

from __future__ import annotations

import json

import torch

from spatialwm.data.io import write_json
from spatialwm.recon.evaluate import evaluate_state
from spatialwm.recon.views import View
from spatialwm.scene.render import render_state
from spatialwm.scene.state import from_world_gaussians


def _state():
    g = torch.Generator().manual_seed(0)
    n = 400
    group = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[0.0, 0, 0], [1.0, 2.0, 0.5], [-1.0, 0.5, 0.2]])
    params = {
        "means": centres[group] + 0.05 * torch.randn(n, 3, generator=g),
        "quats": torch.randn(n, 4, generator=g),
        "scales": torch.full((n, 3), -3.5),
        "opacities": torch.full((n,), 3.0),
        "sh0": torch.rand(n, 1, 3, generator=g),
        "shN": torch.zeros(n, 0, 3),
    }
    return from_world_gaussians(params, group, [0, 4, 7], ["background", "a", "b"])


def _view(state, labels_from_render: bool = True) -> View:
    """A 64x48 camera 2 m in front of object ``a`` (id 4); ``b`` (id 7) is out of its frame."""
    viewmat = torch.eye(4)
    viewmat[:3, 3] = -torch.tensor([1.0, 2.0, -1.5])
    K = torch.tensor([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    r = render_state(state, viewmat[None], K[None], 64, 48)
    ids = r.object_ids[0]
    labels = torch.searchsorted(state.object_ids, ids.long())  # dataset id -> group index
    image = (r.rgb[0].clamp(0, 1) * 255).round().to(torch.uint8)
    return View(0, "images/v.png", viewmat, K, image, labels, None,
                torch.ones(48, 64, dtype=torch.bool))  # fmt: skip


def test_an_object_no_view_shows_has_no_iou(tmp_path):
    state = _state()
    view = _view(state)
    assert (view.labels == 1).sum() > 20 and not (view.labels == 2).any()
    out = evaluate_state(state, (view,))
    assert out["mask_iou"]["4"] == 1.0  # labels are the render's own
    assert out["mask_iou"]["7"] is None  # neither shown nor rendered: no IoU, not NaN
    assert out["mean_object_iou"] == 1.0
    write_json(tmp_path / "metrics.json", out)  # JSON has no NaN: this used to raise
    assert json.loads((tmp_path / "metrics.json").read_text())["mask_iou"]["7"] is None
