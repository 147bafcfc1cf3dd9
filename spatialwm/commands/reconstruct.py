"""``spatialwm reconstruct DATA --out RUN``: multi-view images to an object-grouped Gaussian
scene (see :mod:`spatialwm.recon.pipeline` for the run folder's layout)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``reconstruct`` sub-parser."""
    p = subparsers.add_parser(
        "reconstruct",
        help="reconstruct a posed multi-view capture into an object-grouped Gaussian scene",
        description="Fit 3D Gaussians to the step-0 frames of a nerfstudio-format dataset "
        "(instance masks group them by object; depth maps seed them), evaluate on held-out "
        "views and write the scene state, PLYs and metrics.json to RUN.",
    )
    p.add_argument("data", metavar="DATA", help="dataset folder (or its transforms.json)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument(
        "--preset", default="default", help="debug, fast or default (default: %(default)s)"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="optimisation steps (preset's if omitted)"
    )
    p.add_argument(
        "--sh-degree", type=int, default=None, help="SH degree 0-3 (preset's if omitted)"
    )
    p.add_argument(
        "--no-densify", action="store_true", help="keep the initial Gaussians (no densify/prune)"
    )
    p.add_argument("--depth-lambda", type=float, default=None, help="weight of the depth loss")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in RUN from its checkpoint"
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        metavar="N",
        help="also measure held-out PSNR every N steps (PSNR against wall time)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from spatialwm.recon import preset, reconstruct

    cfg = preset(
        args.preset,
        steps=args.steps,
        sh_degree=args.sh_degree,
        densify=False if args.no_densify else None,
        depth_lambda=args.depth_lambda,
        seed=args.seed,
    )
    reconstruct(
        args.data, args.out, cfg, device=args.device, resume=args.resume,
        progress=not args.quiet, eval_every=args.eval_every,
    )  # fmt: skip
    print(f"wrote {args.out}/: state.pt, scene.ply, objects/, eval/, metrics.json")
    return 0
