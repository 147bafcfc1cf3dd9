"""Rasterizer benchmark: forward and forward + backward time, work and memory.

The scene is :func:`spatialwm.synthetic.surface_scene` (Gaussians on the surfaces of a table
top, scales up to 0.02, random opacities) seen from 1.6 m, so the camera sees realistic depth
complexity. Printed per (N, resolution, threads): median milliseconds of the forward pass
(projection + binning + compositing) and of forward + backward, Gaussian-pixel pairs the
compositing evaluated (tile rows of 16 pixels x 16), tile intersections, and the peak
resident memory one forward + backward call adds (sampled in a fresh process, see
:func:`peak_memory_mb`).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from spatialwm.render import rasterization
from spatialwm.render._build import load_native
from spatialwm.render._native import tile_grid
from spatialwm.synthetic import orbit_cameras, surface_scene


def bench_setup(n: int, width: int, height: int, scene=None):
    """The benchmark's scene (``surface_scene(n)``, unless given) and its one camera, 1.6 m
    away: ``(scene, viewmats [1,4,4], Ks [1,3,3])``."""
    scene = scene or surface_scene(n, seed=0)
    viewmats, Ks = orbit_cameras(1, width, height, radius=1.6, elevation_deg=35.0)
    return scene, viewmats, Ks


@dataclass
class Row:
    n: int
    resolution: str
    threads: int
    visible: int
    isects: int
    fwd_ms: float
    fwd_bwd_ms: float
    fwd_best_ms: float
    fwd_bwd_best_ms: float
    fwd_pairs: int
    bwd_pairs: int
    peak_mb: float | None


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def peak_memory_mb(fn) -> float | None:
    """Peak resident memory (MB) that ``fn()`` adds, sampled every 0.5 ms by a thread (the
    native kernels release the GIL). None where /proc is unavailable."""
    base = _rss_mb()
    if base is None:
        return None
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb() or 0.0)
            time.sleep(0.0005)

    gc.collect()
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return max(peak - base, 0.0)


_PEAK_SCRIPT = """
import sys, torch
from spatialwm.bench.raster import bench_setup, peak_memory_mb
from spatialwm.render import rasterization
from spatialwm.render._build import load_native
n, w, h, t = (int(v) for v in sys.argv[1:5])
torch.set_num_threads(t)
load_native()
s, vm, K = bench_setup(n, w, h)
ps = [x.clone().requires_grad_(True) for x in (s.means, s.quats, s.scales, s.opacities, s.colors)]
def fb():
    c, a, _ = rasterization(*ps, vm, K, w, h, backgrounds=torch.ones(1, 3))
    (c.sum() + a.sum()).backward()
print(peak_memory_mb(fb))
"""


def _peak_memory_in_fresh_process(n: int, width: int, height: int, threads: int) -> float | None:
    """Peak memory of one forward + backward in a fresh process, where glibc must map every
    large buffer anew (``MALLOC_MMAP_THRESHOLD_``), so no cached memory hides the peak."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, "-c", _PEAK_SCRIPT, str(n), str(width), str(height), str(threads)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=600)
        value = out.stdout.strip().splitlines()[-1]
        return None if value == "None" else float(value)
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def measure(n: int, width: int, height: int, threads: int, repeats: int, scene=None) -> Row:
    """Time one configuration (median of ``repeats`` after one warm-up run)."""
    scene, viewmats, Ks = bench_setup(n, width, height, scene)
    tensors = (scene.means, scene.quats, scene.scales, scene.opacities, scene.colors)
    params = [t.clone().requires_grad_(True) for t in tensors]
    bg = torch.ones(1, 3)
    native = load_native()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:

        def forward():
            return rasterization(*params, viewmats, Ks, width, height, backgrounds=bg)

        def forward_backward():
            colors, alphas, meta = forward()
            (colors.sum() + alphas.sum()).backward()
            return meta

        meta = forward_backward()  # warm-up (and the build, on a first run)
        fwd, fb = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            with torch.no_grad():
                forward()
            fwd.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            forward_backward()
            fb.append(time.perf_counter() - t0)
        native.set_stats(True)
        forward_backward()
        fwd_rows, bwd_rows = native.get_stats()
        native.set_stats(False)
        peak = _peak_memory_in_fresh_process(n, width, height, threads)
    finally:
        torch.set_num_threads(before)
    return Row(
        n=n,
        resolution=f"{width}x{height}",
        threads=threads,
        visible=int((meta["radii"] > 0).all(-1).sum()),
        isects=int(meta["flatten_ids"].numel()),
        fwd_ms=statistics.median(fwd) * 1e3,
        fwd_bwd_ms=statistics.median(fb) * 1e3,
        fwd_best_ms=min(fwd) * 1e3,
        fwd_bwd_best_ms=min(fb) * 1e3,
        fwd_pairs=fwd_rows * 16,
        bwd_pairs=bwd_rows * 16,
        peak_mb=peak,
    )


def stage_breakdown(n: int, width: int, height: int, threads: int, repeats: int) -> str:
    """Best-of-``repeats`` milliseconds of each native op for one configuration."""
    s, viewmats, Ks = bench_setup(n, width, height)
    ext = load_native()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times: dict[str, list[float]] = {}

        def timed(name, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            times.setdefault(name, []).append((time.perf_counter() - t0) * 1e3)
            return out

        tw, th = tile_grid(width, height)
        cols, ops = s.colors[None].contiguous(), s.opacities[None].contiguous()
        bg = torch.ones(1, 3)
        gauss = (s.means, s.quats, s.scales)
        for _ in range(repeats + 1):
            radii, m2, depths, conics = timed(
                "projection", ext.project_fwd, *gauss, s.opacities, viewmats, Ks,
                width, height, 0.3, 0.01, 1e10, 0.0,
            )  # fmt: skip
            isect = timed("binning", ext.isect_tiles, m2, radii, depths, tw, th)
            splats = (m2, conics, cols, ops, bg, width, height)
            rc, ra, rT, last = timed("compositing", ext.rasterize_fwd, *splats, *isect[:2])
            v = timed(
                "compositing backward", ext.rasterize_bwd, *splats, *isect, rc, rT, last,
                torch.ones_like(rc), torch.ones_like(ra), False,
            )  # fmt: skip
            timed(
                "projection backward", ext.project_bwd, *gauss, viewmats, Ks, width, height,
                0.3, radii, v[0], torch.zeros_like(depths), v[2],
            )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    cells = " | ".join(f"{name} {min(ts[1:]):.1f}" for name, ts in times.items())
    return f"stages at N={n:,}, {width}x{height}, {threads} thread(s), best ms: {cells}"


def format_table(rows: list[Row]) -> str:
    head = (
        "| N | image | threads | visible | tile isects | fwd ms median (best) "
        "| fwd+bwd ms median (best) | fwd pairs | bwd pairs | peak MB |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        peak = f"{r.peak_mb:.0f}" if r.peak_mb is not None else "n/a"
        lines.append(
            f"| {r.n:,} | {r.resolution} | {r.threads} | {r.visible:,} | {r.isects:,} "
            f"| {r.fwd_ms:.1f} ({r.fwd_best_ms:.1f}) "
            f"| {r.fwd_bwd_ms:.1f} ({r.fwd_bwd_best_ms:.1f}) "
            f"| {r.fwd_pairs / 1e6:.1f}M "
            f"| {r.bwd_pairs / 1e6:.1f}M | {peak} |"
        )
    return "\n".join(lines)


def lower_bound_note(row: Row, ops_per_pair: int = 35) -> str:
    """A floor for the forward compositing: pairs x ops per pair / the machine's SIMD rate."""
    lanes = 16 if "avx512f" in _cpu_flags() else 8
    ghz = _cpu_ghz() or 2.5
    cores = min(os.cpu_count() or 1, row.threads)
    rate = cores * ghz * 1e9 * lanes * 2  # two vector ops per cycle per core
    floor_ms = row.fwd_pairs * ops_per_pair / rate * 1e3
    return (
        f"lower bound for the forward compositing at N={row.n:,}, {row.resolution}, "
        f"{row.threads} thread(s): {row.fwd_pairs / 1e6:.1f}M pairs x {ops_per_pair} ops / "
        f"({cores} cores x {ghz:.1f} GHz x {lanes} lanes x 2 ops/cycle) = {floor_ms:.1f} ms "
        f"(measured forward, all stages: {row.fwd_ms:.1f} ms)"
    )


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def _cpu_ghz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and "@" in line:
                return float(line.split("@")[1].strip().rstrip("GHz").strip())
    except (OSError, ValueError):
        pass
    return None


def run(args: argparse.Namespace) -> int:
    from spatialwm.errors import InputError

    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        res = [tuple(int(v) for v in r.lower().split("x")) for r in args.resolutions.split(",")]
        all_threads = torch.get_num_threads()
        threads = (
            [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, all_threads})
        )
    except ValueError as exc:
        raise InputError(f"bad --sizes / --resolutions / --threads value: {exc}") from exc
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available")
    rows = []
    for n in sizes:
        scene = surface_scene(n, seed=0)
        for w, h in res:
            for t in threads:
                row = measure(n, w, h, t, args.repeats, scene=scene)
                rows.append(row)
                print(format_table([row]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))
    ref = [r for r in rows if r.n == 100_000 and r.resolution == "640x480"]
    if ref:
        print()
        for r in ref:
            print(lower_bound_note(r))
        for t in threads:
            print(stage_breakdown(100_000, 640, 480, t, args.repeats))
    return 0
