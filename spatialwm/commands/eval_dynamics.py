"""``spatialwm eval-dynamics EPISODES... --runs DIR``: the dynamics evaluation table (position
and rotation error at horizons, baselines, interpenetration, future-view PSNR)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``eval-dynamics`` sub-parser."""
    p = subparsers.add_parser(
        "eval-dynamics",
        help="evaluate the world model's dynamics on ground-truth episodes",
        description="For each episode dataset (spatialwm generate --preset push ...), "
        "reconstruct its step-0 capture once (cached in --runs), then compare the world "
        "model and baselines with the true object poses at several horizons.",
    )
    p.add_argument("episodes", nargs="+", metavar="EPISODE", help="generated episode datasets")
    p.add_argument("--runs", required=True, metavar="DIR",
                   help="folder for the reconstructions (reused when finished)")  # fmt: skip
    p.add_argument("--preset", default="fast", help="reconstruction preset (default: fast)")
    p.add_argument("--every", type=int, default=5, help="start a rollout every N steps")
    p.add_argument("--horizons", default="1,5,10,20", help="comma-separated (default 1,5,10,20)")
    p.add_argument("--camera", default="cam0", help="camera for future-view PSNR (default cam0)")
    p.add_argument("--dynamics", "--model", dest="model", default=None, metavar="MODEL",
                   help="dynamics model file (default: the shipped default model)")  # fmt: skip
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spatialwm.data.io import write_json
    from spatialwm.errors import InputError
    from spatialwm.scene.render import Camera
    from spatialwm.world import WorldModel
    from spatialwm.world_eval import DynamicsReport, evaluate_episode, load_episodes

    try:
        horizons = tuple(int(h) for h in args.horizons.split(","))
    except ValueError:
        raise InputError(
            f"--horizons: expected integers like 1,5,10, got {args.horizons!r}"
        ) from None
    if args.every < 1 or not horizons or min(horizons) < 1:
        raise InputError("--every and --horizons must be positive")
    report = DynamicsReport()
    for ds, run_dir in load_episodes(args.episodes, args.runs, args.preset):
        wm = WorldModel.load(run_dir, dynamics=args.model)
        frames, camera = {}, None
        if args.camera in ds.camera_names:
            idx = ds.frames_of_camera(args.camera)
            camera = Camera.from_dataset(ds, idx[0])
            frames = {ds.steps[i]: ds.image(i) for i in idx if ds.steps[i] in horizons}
        evaluate_episode(wm, ds.episode, report, horizons=horizons, every=args.every,
                         frames=frames, camera=camera)  # fmt: skip
        print(f"evaluated {ds.root}")
    print(report.table(horizons))
    if args.json:
        write_json(args.json, {
            "errors": {m: {g: {str(h): v for h, v in d.items()} for g, d in gs.items()}
                       for m, gs in report.errors.items()},
            "psnr": {m: {str(k): v for k, v in d.items()} for m, d in report.psnr.items()},
            "ground_penetration_m": report.ground_penetration,
            "object_penetration_m": report.object_penetration,
            "start_overlap_m": report.start_overlap,
            "start_sunk_m": report.start_sunk,
        })  # fmt: skip
    return 0
