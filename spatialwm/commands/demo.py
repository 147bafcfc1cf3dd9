"""``spatialwm demo``: the README's main job.

Reuses the bundled sample capture ``data/tabletop`` (or generates it when the checkout lacks
it), reconstructs it with the ``fast`` preset into ``outputs/demo/``, and prints where the
outputs are. A finished demo run is reused (``--force`` redoes it); a killed one resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "tabletop"


def register(subparsers) -> None:
    """Add the ``demo`` sub-parser."""
    p = subparsers.add_parser(
        "demo",
        help="reconstruct the bundled sample capture (the README's main job)",
        description="Reconstruct the sample table-top capture (data/tabletop; generated if "
        "missing) with the fast preset and print where the outputs are.",
    )
    p.add_argument("--out", default="outputs/demo", help="output folder (default: %(default)s)")
    p.add_argument("--data", default=None, help="capture to use (default: data/tabletop)")
    p.add_argument("--preset", default="fast", help="reconstruction preset (default: fast)")
    p.add_argument("--force", action="store_true", help="redo a finished demo run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-view", action="store_true",
                   help="do not open the viewer at the end (it is never opened when CI is set "
                   "or without a terminal)")  # fmt: skip
    p.add_argument("--port", type=int, default=8080, help="viewer port (default: %(default)s)")
    p.set_defaults(func=run)


def _interactive() -> bool:
    """A person at a terminal (not CI, not a pipe): the demo may block in the viewer."""
    import os
    import sys

    if os.environ.get("CI"):
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def run(args: argparse.Namespace) -> int:
    import shutil

    from spatialwm.data.io import read_json
    from spatialwm.recon import preset, reconstruct, run_finished

    out = Path(args.out)
    data = Path(args.data) if args.data else _SAMPLE
    if not (data / "transforms.json").exists():
        if args.data:
            from spatialwm.errors import DatasetError

            raise DatasetError(f"{data}: no transforms.json")
        from spatialwm.generate import GenerateConfig, generate

        data = out / "capture"
        if not (data / "transforms.json").exists():
            print(f"sample capture not found; generating it into {data}")
            generate(data, GenerateConfig(preset="tabletop", width=256, height=192),
                     overwrite=True)  # fmt: skip
    run_dir = out / "run"
    if args.force and run_dir.exists():
        shutil.rmtree(run_dir)
    cfg = preset(args.preset)
    if run_finished(run_dir):
        m = read_json(run_dir / "metrics.json")
        iou = m.get("mean_object_iou")
        print(
            f"reusing the finished demo run in {run_dir} (--force redoes it): held-out PSNR "
            f"{m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}"
            + (f", mean object mask IoU {iou:.3f}" if iou is not None else "")
            + f", {m['num_gaussians']:,} Gaussians, {m['wall_time_s']:.0f} s of training"
        )
    else:
        print(f"reconstructing {data} ({args.preset} preset) into {run_dir}")
        reconstruct(data, run_dir, cfg, resume=True, progress=not args.quiet)
    print(f"\noutputs in {run_dir}/:")
    for name, what in [
        ("scene.ply", "all Gaussians, standard 3DGS PLY (+ object_id)"),
        ("objects/", "one PLY per object in its canonical frame"),
        ("state.pt", "object-centric scene state (spatialwm.scene.io.load_state)"),
        ("eval/", "held-out views: ground truth | prediction | object ids | true ids"),
        ("metrics.json", "PSNR, SSIM, mask IoU, Gaussians, wall time"),
    ]:
        print(f"  {name:<13} {what}")
    if args.no_view or not _interactive():
        print(f"\nexplore it in the browser: .venv/bin/spatialwm view {run_dir}")
        return 0
    from viewer import ViewerApp, ViewerConfig

    print("\nopening the viewer (Ctrl+C stops it; --no-view skips it)")
    app = ViewerApp.load(run_dir, config=ViewerConfig(port=args.port)).start()
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        print("viewer stopped")
    return 0
