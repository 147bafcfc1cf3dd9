"""Make ``docs/img/rollout.png``: a dataset's ground-truth frames (top) above the world model's
prediction of the same steps (bottom), one camera.

    .venv/bin/python docs/make_rollout_figure.py DATASET RUN [--camera cam0]
        [--steps 0,5,10,15,20] [--dynamics MODEL] [--out docs/img/rollout.png]

The prediction is ``spatialwm rollout RUN --actions DATASET/episode.json`` (the episode's own
actions replayed from the reconstructed step 0); only its RGB panel is used.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from spatialwm.cli import main as cli
from spatialwm.data.io import read_png, write_png

GAP = 4  # pixels between tiles (white)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("run")
    p.add_argument("--camera", default="cam0")
    p.add_argument("--steps", default="0,5,10,15,20")
    p.add_argument("--dynamics", default=None)
    p.add_argument("--out", default="docs/img/rollout.png")
    args = p.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["rollout", args.run, "--actions", str(Path(args.dataset) / "episode.json"),
               "--out", tmp, "--camera", args.camera, "--steps", str(max(steps))]  # fmt: skip
        if args.dynamics:
            cmd += ["--dynamics", args.dynamics]
        if cli(cmd) != 0:
            return 1
        truth = [read_png(Path(args.dataset) / "images" / f"{args.camera}_{s:04d}.png")
                 for s in steps]  # fmt: skip
        h, w = truth[0].shape[:2]
        pred = [read_png(Path(tmp) / args.camera / f"step_{s:04d}.png")[:h, :w] for s in steps]
    rows = []
    for tiles in (truth, pred):
        row = np.full((h, len(steps) * (w + GAP) - GAP, 3), 255, dtype=np.uint8)
        for i, t in enumerate(tiles):
            row[:, i * (w + GAP) : i * (w + GAP) + w] = t[..., :3]
        rows.append(row)
    gap = np.full((GAP, rows[0].shape[1], 3), 255, dtype=np.uint8)
    write_png(args.out, np.concatenate([rows[0], gap, rows[1]], axis=0))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
