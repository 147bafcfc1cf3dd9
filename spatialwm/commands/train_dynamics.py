"""``spatialwm train-dynamics EPISODES... --runs DIR --out MODEL``: fit the dynamics model's
physical parameters (friction, density) to observed trajectories."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(subparsers) -> None:
    """Add the ``train-dynamics`` sub-parser."""
    p = subparsers.add_parser(
        "train-dynamics",
        help="fit the dynamics model to generator episodes",
        description="Reconstruct each training episode's step-0 capture (cached in --runs), "
        "then fit the physics prior's friction and density to the episodes' true object "
        "trajectories (mean position error of rollouts from the true state) and write a model "
        "file for WorldModel.load(run, dynamics=MODEL).",
    )
    p.add_argument("episodes", nargs="+", metavar="EPISODE", help="generated episode datasets")
    p.add_argument("--runs", required=True, metavar="DIR", help="folder for the reconstructions")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.json)")
    p.add_argument("--preset", default="fast", help="reconstruction preset (default: fast)")
    p.add_argument("--horizon", type=int, default=5, help="rollout length of the loss (5)")
    p.add_argument("--every", type=int, default=3, help="a rollout starts every N steps (3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from spatialwm.dynamics.params import DynamicsParams, fit_params, save_params
    from spatialwm.errors import InputError
    from spatialwm.world import WorldModel
    from spatialwm.world_eval import load_episodes, position_error

    if args.horizon < 1 or args.every < 1:
        raise InputError("--horizon and --every must be positive")
    pairs = load_episodes(args.episodes, args.runs, args.preset)
    base = [(WorldModel.load(r, dynamics=DynamicsParams()), ds.episode) for ds, r in pairs]
    t0 = time.perf_counter()
    print(f"fitting friction and density on {len(base)} episode(s), horizon {args.horizon}")

    def error(p) -> float:
        return position_error([(wm.with_params(p), ep) for wm, ep in base],
                              horizon=args.horizon, every=args.every)  # fmt: skip

    params, fit = fit_params(error)
    info = {
        "episodes": [str(Path(e).resolve().name) for e in args.episodes],
        "horizon": args.horizon,
        "every": args.every,
        "train_position_error_cm": fit["error"],
        "grid": fit["grid"],
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "spatialwm " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    save_params(args.out, DynamicsParams(params.friction, params.density, info))
    err = f"{fit['error']:.2f} cm mean position error at h={args.horizon}"
    print(f"friction {params.friction:.3f}, density {params.density:.0f} kg/m^3: {err}; "
          f"wrote {args.out}")  # fmt: skip
    return 0
