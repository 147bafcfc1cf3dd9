"""Render a Gaussian scene on any device: one call, gsplat's signature.

    .venv/bin/python examples/00_render.py   # writes outputs/00_render.png

On CPU tensors the native kernels run; move the tensors to CUDA and gsplat's kernels run
instead, with no other change.
"""

from pathlib import Path

import numpy as np
import torch

from spatialwm.data.io import write_png
from spatialwm.render import rasterization
from spatialwm.synthetic import orbit_cameras, surface_scene


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    scene = surface_scene(50_000, seed=0)
    viewmats, Ks = orbit_cameras(2, 320, 240, radius=2.0)
    tensors = [t.to(device) for t in (scene.means, scene.quats, scene.scales, scene.opacities)]
    colors = scene.sh0().to(device)  # degree-0 SH coefficients [N, 1, 3]
    images, alphas, meta = rasterization(
        *tensors, colors, viewmats.to(device), Ks.to(device), 320, 240,
        sh_degree=0, backgrounds=torch.ones(2, 3, device=device),
    )  # fmt: skip
    print(f"backend: {meta['backend']}; images {tuple(images.shape)}, alphas {tuple(alphas.shape)}")
    out = Path("outputs/00_render.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    pixels = (images.clamp(0, 1) * 255 + 0.5).byte().cpu().numpy()
    write_png(out, np.concatenate(list(pixels), axis=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
