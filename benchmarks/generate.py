"""Time the ground-truth generator and print a table.

    python benchmarks/generate.py            # the two targets of issue 3
    python benchmarks/generate.py --repeat 3 # best of 3

Targets (2 CPU cores): ``tabletop`` with 32 views at 320x240 in <= 20 s, ``push`` with 40
steps and 2 observation cameras (320x240) in <= 30 s. Each case is a full ``generate()``
call into a temporary folder: physics, rendering (including the per-object silhouettes
behind the visibility fractions) and every file write.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spatialwm.generate import GenerateConfig, generate

CASES = [
    # (label, config, target seconds)
    ("tabletop 32 views 320x240", GenerateConfig("tabletop", seed=0, views=32), 20.0),
    (
        "push 40 steps 2 cameras 320x240",
        GenerateConfig("push", seed=0, steps=40, cameras=2),
        30.0,
    ),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; the best is shown")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cfg, target in CASES:
            best = float("inf")
            for r in range(args.repeat):
                t0 = time.perf_counter()
                res = generate(Path(tmp) / f"{cfg.preset}-{r}", cfg)
                best = min(best, time.perf_counter() - t0)
            size = sum(f.stat().st_size for f in res.path.rglob("*") if f.is_file())
            rows.append((label, res.frames, best, target, size / 1e6))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"spatialwm generate benchmark ({cores} CPU cores available)")
    print(f"{'case':34s} {'frames':>6s} {'seconds':>8s} {'target':>7s} {'MB':>6s}  status")
    ok = True
    for label, frames, sec, target, mb in rows:
        status = "ok" if sec <= target else "SLOW"
        ok &= sec <= target
        print(f"{label:34s} {frames:6d} {sec:8.1f} {target:7.0f} {mb:6.2f}  {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
