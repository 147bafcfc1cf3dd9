"""``spatialwm rollout RUN --actions ACTIONS.json --out DIR``: roll a reconstructed scene out
under actions and write what the model predicts (per-step images and object poses)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``rollout`` sub-parser."""
    p = subparsers.add_parser(
        "rollout",
        help="predict a reconstructed scene's future under actions; write images and poses",
        description="Load a reconstruction run, apply a list of per-step actions (or an "
        "episode.json's) with the world model, and write per-step renders (RGB | depth | "
        "object ids) from the chosen cameras plus poses.json.",
    )
    p.add_argument("run", metavar="RUN", help="reconstruction run folder")
    p.add_argument("--actions", required=True, metavar="ACTIONS.json",
                   help="a JSON list with one entry per step (an action, a list of actions, "
                   "or [] to wait), or an episode.json")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--camera", action="append", default=None, metavar="NAME",
                   help="camera to render (a camera name of the dataset; repeatable; "
                   "default: the first fixed camera, else the first view)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="only the first N steps")
    p.add_argument(
        "--dynamics",
        default=None,
        metavar="MODEL",
        help="dynamics model file (default: the shipped one)",
    )
    p.add_argument("--mode", default=None, choices=("prior", "prior+learned", "learned"),
                   help="dynamics mode (default: the model's own)")  # fmt: skip
    p.set_defaults(func=run)


def _read_actions(path: str, object_ids, camera_names) -> list:
    from spatialwm.data.actions import parse_actions
    from spatialwm.data.io import read_json
    from spatialwm.errors import InputError

    obj = read_json(path)
    if isinstance(obj, dict) and "steps" in obj:  # an episode.json
        from spatialwm.data.episode import read_episode

        ep = read_episode(path, object_ids=object_ids, camera_names=camera_names or None)
        return [list(s.actions) for s in ep.steps[:-1]]
    if not isinstance(obj, list):
        raise InputError(f"{path}: expected a list of per-step actions or an episode.json")
    steps = []
    for t, a in enumerate(obj):
        where = f"{path}: steps[{t}]"
        steps.append(list(parse_actions(a, object_ids=object_ids, camera_names=camera_names or None,
                                        where=where)))  # fmt: skip
    return steps


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from spatialwm.data.io import write_json, write_png
    from spatialwm.data.preview import colorize_instances
    from spatialwm.errors import InputError
    from spatialwm.world import WorldModel

    wm = WorldModel.load(args.run, dynamics=args.dynamics, mode=args.mode)
    ids = [int(i) for i in wm.state.object_ids[1:]]
    actions = _read_actions(args.actions, ids, set(wm.cameras))
    if args.steps is not None:
        if args.steps < 0:
            raise InputError("--steps must be >= 0")
        actions = actions[: args.steps]
    if not wm.cameras:
        raise InputError(f"{args.run}: the reconstructed dataset is not available for cameras")
    names = args.camera or [next((n for n in wm.cameras if not n.startswith("view_")),
                                 next(iter(wm.cameras)))]  # fmt: skip
    unknown = [n for n in names if n not in wm.cameras]
    if unknown:
        raise InputError(
            f"--camera {unknown[0]!r}: not a camera of the dataset ({sorted(wm.cameras)})"
        )
    cams = [wm.cameras[n] for n in names]
    states = wm.rollout(wm.state, actions)
    renders = wm.render_rollout(states, actions, cams)
    out = Path(args.out)
    for t, r in enumerate(renders):
        for c, name in enumerate(names):
            rgb = (r.rgb[c].clamp(0, 1) * 255 + 0.5).byte().numpy()
            d = r.depth[c].numpy()
            hit = r.alpha[c].numpy() > 0.5
            lo, hi = np.percentile(d[hit], [2, 98]) if hit.any() else (0.0, 1.0)
            grey = (255 * (1 - np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1))).astype(np.uint8)
            depth = np.where(hit, grey, 0).astype(np.uint8)[..., None].repeat(3, -1)
            ids_rgb = colorize_instances(r.object_ids[c].numpy())
            write_png(out / name / f"step_{t:04d}.png", np.concatenate([rgb, depth, ids_rgb], 1))
    write_json(out / "poses.json", {
        "run": str(Path(args.run).resolve()), "dt": wm.dt, "frame": "dataset object frames",
        "steps": [{"step": t, "objects": {str(k): v for k, v in wm.object_poses(s).items()}}
                  for t, s in enumerate(states)],
    })  # fmt: skip
    print(f"wrote {len(states)} steps x {len(names)} camera(s) to {out}/ (poses.json, "
          f"{', '.join(names)}/step_*.png: RGB | depth | object ids)")  # fmt: skip
    return 0
