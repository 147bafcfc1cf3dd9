"""World-model speed: one dynamics step and one predicted view; prints a table.

    python benchmarks/world.py                   # reconstructs data/tabletop (fast) once
    python benchmarks/world.py --run RUN         # any reconstruction run folder

Targets (issue 5, 2 CPU cores): one ``step`` of a 6-object scene <= 5 ms (rendering
excluded; timed in every dynamics mode, the exit status judges the model's default one); one
predicted 320x240 view <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from spatialwm.data.actions import PushAction
from spatialwm.recon import preset, reconstruct
from spatialwm.scene.render import Camera
from spatialwm.world import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="reconstruction run (default: build one)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "spatialwm-bench"))
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    run = Path(args.run) if args.run else Path(args.cache) / "world-run-tabletop-fast"
    if not (run / "state.pt").exists():
        print(f"reconstructing data/tabletop (fast preset) into {run}")
        reconstruct(ROOT / "data" / "tabletop", run, preset("fast"), progress=False, resume=True)
    wm = WorldModel.load(run)
    s = wm.state
    objects = s.num_groups - 1
    ids = [int(o) for o in s.object_ids[1:]]
    push = PushAction(ids[0], (1.5, 0.0, 0.0))
    one = wm.step(s, push)  # warm up; one object sliding, the others at rest
    every = wm.step(s, [PushAction(o, (0.8, 0.3 * i, 0.0)) for i, o in enumerate(ids)])
    cases = (
        ("one object sliding, no action", lambda m: m.step(one, None)),
        ("every object moving, no action", lambda m: m.step(every, None)),
        ("a push from rest", lambda m: m.step(s, push)),
    )
    rows = []  # (mode, [(median, best) per case]): the model's default mode first
    for mode in dict.fromkeys([wm.mode, "prior+learned", "prior", "learned"]):
        m = wm.with_mode(mode)
        m.step(one, None)
        rows.append((mode, [_median_ms(lambda m=m, f=f: f(m), args.repeats) for _, f in cases]))
    cam = next(iter(wm.cameras.values()))
    K = cam.K.clone()
    K[:2] *= torch.tensor([320 / cam.width, 240 / cam.height])[:, None]
    cam320 = Camera(cam.viewmat, K, 320, 240, cam.name)
    wm.render(one, cam320)
    view_ms = _median_ms(lambda: wm.render(one, cam320), max(5, args.repeats // 5))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"world model benchmark: {run} ({objects} objects, {len(s.gaussians):,} Gaussians, "
          f"{cores} CPU cores, torch threads {torch.get_num_threads()})")  # fmt: skip
    print("| what | median ms | best ms | target ms |")
    print("|---|---|---|---|")
    for i, (mode, times) in enumerate(rows):
        tag = f"mode {mode}" + (" (the model's default)" if i == 0 else "")
        for (case, _), (med, best) in zip(cases, times, strict=True):
            print(f"| step, {tag}, {case} | {med:.2f} | {best:.2f} | 5 |")
    print(
        f"| predicted view 320x240 (RGB, depth, ids) | {view_ms[0]:.1f} | {view_ms[1]:.1f} | 100 |"
    )
    ok = max(med for med, _ in rows[0][1]) <= 5 and view_ms[0] <= 100
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
