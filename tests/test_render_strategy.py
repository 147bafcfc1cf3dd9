"""gsplat's own DefaultStrategy densifies and prunes on CPU through the native rasterizer."""

from __future__ import annotations

import pytest
import torch
from gsplat.strategy import DefaultStrategy

from spatialwm.render import rasterization
from spatialwm.synthetic import orbit_cameras, surface_scene


@pytest.mark.parametrize("absgrad", [False, True])
def test_default_strategy_densifies_and_prunes_on_cpu(absgrad):
    target_scene = surface_scene(3000, seed=1)
    W, H = 48, 36
    viewmats, Ks = orbit_cameras(3, W, H, radius=2.0)
    with torch.no_grad():
        targets, _, _ = rasterization(
            target_scene.means, target_scene.quats, target_scene.scales,
            target_scene.opacities, target_scene.colors, viewmats, Ks, W, H,
        )  # fmt: skip

    start = surface_scene(400, seed=2, max_scale=0.06)
    opacities = start.opacities.clone()
    opacities[::8] = 0.01  # transparent ones, for the pruning to find
    params = torch.nn.ParameterDict(
        {
            "means": start.means,
            "scales": start.scales.log(),
            "quats": start.quats,
            "opacities": torch.logit(opacities),
            "colors": torch.full_like(start.colors, 0.5),
        }
    )
    optimizers = {k: torch.optim.Adam([p], lr=1e-2) for k, p in params.items()}
    strategy = DefaultStrategy(
        refine_start_iter=3, refine_every=3, refine_stop_iter=100, reset_every=1000,
        grow_grad2d=1e-5, prune_opa=0.05, absgrad=absgrad, verbose=False,
    )  # fmt: skip
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state(scene_scale=1.0)
    counts = []
    pruned_any = False
    for step in range(10):
        colors, _, info = rasterization(
            params["means"], params["quats"], params["scales"].exp(),
            torch.sigmoid(params["opacities"]), params["colors"], viewmats, Ks, W, H,
            absgrad=absgrad,
        )  # fmt: skip
        loss = (colors - targets).abs().mean()
        strategy.step_pre_backward(params, optimizers, state, step, info)
        loss.backward()
        if absgrad:
            assert info["means2d"].absgrad.shape == info["means2d"].shape
        low_before = int((torch.sigmoid(params["opacities"]) < 0.05).sum())
        strategy.step_post_backward(params, optimizers, state, step, info, packed=False)
        if step > 3 and step % 3 == 0:  # a refinement step: transparent Gaussians are pruned
            assert int((torch.sigmoid(params["opacities"]) < 0.05).sum()) == 0
            pruned_any = pruned_any or low_before > 0
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        counts.append(len(params["means"]))
        # the optimiser state follows the densified parameters
        assert optimizers["means"].param_groups[0]["params"][0] is params["means"]
    assert max(counts) > 400, f"no Gaussian was duplicated or split: {counts}"
    assert pruned_any, "no refinement step had a transparent Gaussian to prune"
    assert torch.isfinite(params["means"]).all()
