"""CUDA check: gsplat's kernels (CUDA tensors) against the native CPU kernels, and gsplat's speed.

    .venv/bin/python benchmarks/gpu_parity.py            # on a machine with an NVIDIA GPU

Renders the same table-top scene through ``spatialwm.render.rasterization`` on CPU (native)
and on CUDA (gsplat, chosen by the device), prints the largest colour / alpha difference, the
relative gradient differences, and gsplat's forward / forward + backward times. Without a
CUDA device it says so and exits 0. Note: the PyPI gsplat wheel compiles its CUDA kernels on
first use (needs nvcc; several minutes), so a timed device session should warm it up first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from spatialwm.render import rasterization
from spatialwm.synthetic import orbit_cameras, surface_scene


def render(device: str, n: int, width: int, height: int, cams: int):
    scene = surface_scene(n, seed=0)
    viewmats, Ks = orbit_cameras(cams, width, height, radius=1.6, elevation_deg=35.0)
    params = [
        t.to(device).clone().requires_grad_(True)
        for t in (scene.means, scene.quats, scene.scales, scene.opacities, scene.colors)
    ]
    colors, alphas, meta = rasterization(
        *params, viewmats.to(device), Ks.to(device), width, height,
        backgrounds=torch.ones(cams, 3, device=device),
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    weights = torch.randn(colors.shape, generator=g).to(device)
    (colors * weights).sum().backward()
    grads = [p.grad.detach().cpu() for p in params]
    return colors.detach().cpu(), alphas.detach().cpu(), grads, meta["backend"]


def time_gsplat(n: int, width: int, height: int, repeats: int) -> tuple[float, float]:
    scene = surface_scene(n, seed=0)
    viewmats, Ks = orbit_cameras(1, width, height, radius=1.6, elevation_deg=35.0)
    tensors = (scene.means, scene.quats, scene.scales, scene.opacities, scene.colors)
    params = [t.cuda().requires_grad_(True) for t in tensors]
    vm, K = viewmats.cuda(), Ks.cuda()
    fwd, fb = [], []
    for i in range(repeats + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            rasterization(*params, vm, K, width, height)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        colors, _, _ = rasterization(*params, vm, K, width, height)
        colors.sum().backward()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i:  # the first round warms up
            fwd.append((t1 - t0) * 1e3)
            fb.append((t2 - t1) * 1e3)
    return statistics.median(fwd), statistics.median(fb)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--size", default="640x480")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (the CPU path is covered by the tests)")
        return 0
    width, height = (int(v) for v in args.size.split("x"))
    cpu = render("cpu", args.n, width, height, cams=2)
    gpu = render("cuda", args.n, width, height, cams=2)
    assert cpu[3] == "native" and gpu[3] == "gsplat", (cpu[3], gpu[3])
    print(f"parity at N={args.n:,}, {width}x{height}, 2 cameras (native CPU vs gsplat CUDA):")
    print(f"  colours max abs diff {(cpu[0] - gpu[0]).abs().max().item():.2e}")
    print(f"  alphas  max abs diff {(cpu[1] - gpu[1]).abs().max().item():.2e}")
    for name, a, b in zip(
        ("means", "quats", "scales", "opacities", "colors"), cpu[2], gpu[2], strict=True
    ):
        rel = ((a - b).norm() / b.norm().clamp_min(1e-12)).item()
        print(f"  grad {name:9s} relative diff {rel:.2e}")
    fwd, fb = time_gsplat(args.n, width, height, args.repeats)
    name = torch.cuda.get_device_name()
    print(f"gsplat on {name}: forward {fwd:.2f} ms, forward+backward {fb:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
