"""``spatialwm track EPISODE --run RUN --out DIR``: object permanence over an episode's
observation frames (the observe / update loop of :mod:`spatialwm.track`) with a report."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``track`` sub-parser."""
    p = subparsers.add_parser(
        "track",
        help="track objects through occlusions over an episode; write poses and a report",
        description="Replay an episode's actions with the world model while correcting it "
        "from the observation frames (render-and-compare; anonymous instance masks unless "
        "--rgb-only); write per-step poses, visibility and surprise, and a report against "
        "the ground truth next to a baseline that keeps only what it sees.",
    )
    p.add_argument("episode", metavar="EPISODE", help="dataset folder with an episode.json")
    p.add_argument("--run", required=True, metavar="RUN",
                   help="reconstruction of the episode's step-0 capture")  # fmt: skip
    p.add_argument("--dynamics", default=None, metavar="MODEL",
                   help="dynamics model file (default: the shipped model)")  # fmt: skip
    p.add_argument("--mode", default=None,
                   help="dynamics: prior+learned, prior or learned "
                   "(default: the model's own)")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--rgb-only", action="store_true", help="do not use the instance masks")
    p.add_argument("--camera", action="append", default=None, metavar="NAME",
                   help="observation camera (repeatable; default: the episode's)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="only the first N steps")
    p.add_argument("--quiet", action="store_true", help="print only errors")
    p.set_defaults(func=run)


def _finite(obj):
    """``obj`` with NaN floats as None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spatialwm.data import load_dataset
    from spatialwm.data.io import write_json
    from spatialwm.errors import InputError
    from spatialwm.track.evaluate import summary, table, track_episode
    from spatialwm.world import WorldModel

    ds = load_dataset(args.episode)
    if ds.episode is None or len(ds.episode) < 2:
        raise InputError(f"{args.episode}: not an episode (no episode.json with 2+ steps)")
    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be >= 1")
    cams = args.camera or list(ds.episode.cameras)
    if not cams:
        raise InputError(f"{args.episode}: the episode has no observation cameras")
    unknown = [c for c in cams if c not in ds.episode.cameras]
    if unknown:
        raise InputError(
            f"--camera {unknown[0]!r}: not an observation camera ({list(ds.episode.cameras)})"
        )
    wm = WorldModel.load(args.run, dynamics=args.dynamics, mode=args.mode)
    state_ids = sorted(int(i) for i in wm.state.object_ids[1:])
    if state_ids != sorted(ds.episode.object_ids):
        raise InputError(
            f"{args.run}: the reconstruction has objects {state_ids} but the episode "
            f"{sorted(ds.episode.object_ids)}: not a reconstruction of this episode"
        )
    static = [o.id for o in ds.objects if o.static]
    log = (lambda s: None) if args.quiet else print
    res = track_episode(wm, ds, masks=not args.rgb_only, static=static, cameras=cams,
                        steps=args.steps, log=log)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "track.json", {"episode": str(args.episode), "run": str(args.run),
               "masks": not args.rgb_only, "cameras": cams, "steps": res.steps})  # fmt: skip
    summ = summary([res])
    report = {"episode": str(args.episode), "summary": summ, "surprise": res.surprise,
              "violation": res.violation}  # fmt: skip
    write_json(out / "report.json", _finite(report))
    md = table(summ)
    mean_s = [s["seconds"] for s in res.steps if "seconds" in s]
    tail = f"\n\nmean observe step: {sum(mean_s) / max(len(mean_s), 1):.2f} s\n"
    (out / "report.md").write_text(md + tail)
    if not args.quiet:
        print(md + tail.rstrip())
        print(f"wrote {out / 'track.json'}, {out / 'report.json'}, {out / 'report.md'}")
    return 0
