"""Object permanence: the held-out occlusion table, the surprise AUC and the observe speed.

    python benchmarks/track.py speed [--run RUN]          # one observe step, 6 objects
    python benchmarks/track.py eval EP... --runs RUNS     # the README table and AUC
    python benchmarks/track.py bound EP... --runs RUNS    # what amodal IoU a pose error allows
    python benchmarks/track.py colours EP... --runs RUNS  # what the colour gate separates
    python benchmarks/track.py pushes EP...               # friction from a push's first step

``eval``: every ``EP`` is a possible ``occlusion`` episode reconstructed in ``RUNS/<name>``;
its impossible variants ``EP_remove`` / ``EP_teleport`` (``spatialwm generate --violation``,
same seed) are found beside it and use the same reconstruction (same step-0 scene). Each is
tracked with anonymous instance masks and RGB only. Surprise score of an episode: the
maximum per-step surprise over the ``--window`` steps after the violation step of the seed
(the step its impossible variants record; the possible episode is scored on the same steps).

``bound``: every movable object of every step rendered alone at its *true* pose, then moved
sideways by ``--shifts`` (cm, each object in a random horizontal direction), against the
generator's amodal masks: the amodal IoU the reconstruction allows at each position error,
per camera visibility category (the ``eval`` table's split).

``colours``: every third step, every object at its *true* pose; each instance segment's
colour (``segments.py``: its interior, or all of a sliver) against the colour
each object should show in that camera (rendered alone, ``views.seen_colours``) and against
the object's base colour (SH degree 0, ``state.object_colours``), for the segment's own
object and for the others: the distances the association's colour gate must tell apart.
``RUNS/<name>`` as in ``eval``; an episode whose reconstruction is not there uses ``--run``.

``pushes``: every push along the ground in the episodes' true trajectories: the friction its
first step gives (``slides.friction_of_push``, the object's positions at the push and one
step later) and the object's true slide along the push (until its next action, at most 6
steps) against the slide at constant deceleration predicted from that friction and from
``--friction`` (the floor's, 0.6 by default): what the observe loop gains by measuring it.
No reconstruction needed.

``speed``: a 6-object reconstruction (default ``outputs/demo/run``, the demo's tabletop), two
of its cameras at 320x240, objects displaced by 1-2 cm from the prediction, masks given;
median wall time of ``observe_step`` (target: <= 1 s on the CPU).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

ROOT = Path(__file__).resolve().parents[1]


def speed(args) -> int:
    from spatialwm.scene.render import Camera, render_state
    from spatialwm.track import observe_step, track_state
    from spatialwm.world import WorldModel

    wm = WorldModel.load(args.run)
    s = wm.state
    cams = []
    for cam in list(wm.cameras.values())[: 2 * 4 : 4]:
        K = cam.K.clone()
        K[:2] *= torch.tensor([320 / cam.width, 240 / cam.height])[:, None]
        cams.append(Camera(cam.viewmat, K, 320, 240, cam.name))
    g = torch.Generator().manual_seed(0)
    truth = s.positions.clone()
    ang = torch.rand(len(truth), generator=g) * 2 * math.pi
    shift = 0.01 + 0.01 * torch.rand(len(truth), generator=g)
    truth[1:, 0] += (shift * torch.cos(ang))[1:]
    truth[1:, 1] += (shift * torch.sin(ang))[1:]
    true_state = s.replace(positions=truth)
    r = render_state(true_state, torch.stack([c.viewmat for c in cams]),
                     torch.stack([c.K for c in cams]), 320, 240)  # fmt: skip
    masks = torch.where(r.alpha > 0.5, r.object_ids, torch.zeros_like(r.object_ids))
    ts = track_state(s)
    times, errs = [], []
    for _ in range(args.repeats):
        out, info = observe_step(lambda x: wm.step(x, None), ts, r.rgb, cams, masks)
        times.append(info.seconds)
        errs.append(float((out.scene.positions[1:] - truth[1:]).norm(dim=-1).mean()))
    print(f"observe step: {s.num_groups - 1} objects, {len(s.gaussians):,} Gaussians, "
          f"2 cameras 320x240, torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"median {statistics.median(times):.3f} s, best {min(times):.3f} s (target 1 s); "
          f"mean position error after correction {100 * statistics.mean(errs):.2f} cm "
          f"(displaced 1-2 cm)")  # fmt: skip
    return 0 if statistics.median(times) <= 1.0 else 1


def _config_overrides(items: list[str]) -> dict:
    """``["velocity_gain=1", ...]`` -> TrackConfig keyword arguments of the fields' types."""
    import dataclasses

    from spatialwm.track import TrackConfig

    fields = {f.name: f for f in dataclasses.fields(TrackConfig)}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(sorted(fields))}")  # fmt: skip
        kind = type(getattr(TrackConfig(), name))
        out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def evaluate(args) -> int:
    from spatialwm.data import load_dataset
    from spatialwm.track import TrackConfig, auc
    from spatialwm.track.evaluate import summary, table, track_episode
    from spatialwm.world import WorldModel

    runs = Path(args.runs)
    overrides = _config_overrides(args.set)
    missing = [e for e in args.episodes if not (runs / Path(e).name / "state.pt").exists()]
    if missing:  # every run checked before hours of tracking start
        print(f"no finished reconstruction in {runs} for: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = {"masks": [], "rgb only": []}
    scores = {"masks": ([], []), "rgb only": ([], [])}
    timing = []
    for ep in args.episodes:
        ep = Path(ep)
        wm = WorldModel.load(runs / ep.name, dynamics=args.dynamics, mode=args.mode)
        variants = [ep] + [p for k in ("remove", "teleport")
                           if (p := ep.parent / f"{ep.name}_{k}").exists()]  # fmt: skip
        window = None
        for v in variants[1:]:
            ev = load_dataset(v, check_files=False).episode.metadata["violation"]["events"]
            if ev:
                window = range(ev[0]["step"] + 1, ev[0]["step"] + 1 + args.window)
        for v in variants:
            ds = load_dataset(v)
            static = [o.id for o in ds.objects if o.static]
            for mode in ("masks", "rgb only"):
                t0 = time.perf_counter()
                cfg = TrackConfig(dt=ds.episode.dt, **overrides)
                res = track_episode(wm, ds, masks=mode == "masks", static=static, config=cfg)
                steps = [s["seconds"] for s in res.steps if "seconds" in s]
                timing.extend(steps)
                s = res.surprise
                score = max(s[t] for t in window if t < len(s)) if window else max(s)
                impossible = v != ep
                scores[mode][int(impossible)].append(score)
                if not impossible:
                    results[mode].append(res)
                print(f"{v.name} [{mode}]: surprise score {score:.3f}, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    for mode in ("masks", "rgb only"):
        print(f"\n### {mode}\n")
        print(table(summary(results[mode])))
        neg, pos = scores[mode]
        print(f"\nsurprise AUC ({len(neg)} possible, {len(pos)} impossible episodes): "
              f"{auc(neg, pos):.3f}")  # fmt: skip
        print("possible:", " ".join(f"{x:.2f}" for x in neg))
        print("impossible:", " ".join(f"{x:.2f}" for x in pos))
    print(f"\nobserve step: median {statistics.median(timing):.2f} s over {len(timing)} steps")
    return 0


def bound(args) -> int:
    from collections import defaultdict

    from spatialwm.data import load_dataset
    from spatialwm.scene.render import Camera
    from spatialwm.track.evaluate import _iou, visibility_category
    from spatialwm.track.views import render_alone
    from spatialwm.world import WorldModel

    shifts = [float(x) / 100 for x in args.shifts.split(",")]
    gen = torch.Generator().manual_seed(0)
    iou = defaultdict(list)  # (category, shift) -> IoUs
    for ep in args.episodes:
        ds = load_dataset(ep)
        wm = WorldModel.load(Path(args.runs) / Path(ep).name)
        e, cams = ds.episode, list(ds.episode.cameras)
        index = {o.id: k for k, o in enumerate(ds.objects)}
        ids = [o.id for o in ds.objects if not o.static and o.id in wm.offsets]
        for t in range(1, len(e.steps)):
            frames = [ds.frame_index(c, t) for c in cams]
            cameras = [Camera.from_dataset(ds, i) for i in frames]
            truth = wm.with_object_states(wm.state, dict(e.steps[t].objects))
            groups = [truth.group_of(i) for i in ids]
            gts = [ds.amodal(i) for i in frames]
            for d in shifts:
                angle = torch.rand(truth.num_groups, generator=gen) * 2 * math.pi
                pos = truth.positions.clone()
                pos[1:, 0] += d * torch.cos(angle[1:])
                pos[1:, 1] += d * torch.sin(angle[1:])
                alone = render_alone(truth.replace(positions=pos), groups, cameras) > 0.5
                for k, i in enumerate(ids):
                    for c, cam in enumerate(cams):
                        if gts[c] is None or not bool(gts[c][index[i]].any()):
                            continue
                        cat = visibility_category(e.steps[t].visibility.get(cam, {}).get(i, 0.0))
                        iou[(cat, d)].append(_iou(alone[k, c], gts[c][index[i]]))
        print(f"{Path(ep).name}: done", flush=True)
    cats = ("visible", "partly occluded", "fully occluded")
    print("\n| pose error (cm) | " + " | ".join(f"amodal IoU {c}" for c in cats) + " |")
    print("|---|" + "---|" * len(cats))
    for d in shifts:
        row = [f"{sum(v) / len(v):.3f} (n={len(v)})" if (v := iou[(c, d)]) else "-" for c in cats]
        print(f"| {100 * d:g} | " + " | ".join(row) + " |")
    return 0


def colours(args) -> int:
    import numpy as np

    from spatialwm.data import load_dataset
    from spatialwm.scene.render import Camera
    from spatialwm.track.segments import segments_from_masks
    from spatialwm.track.state import object_colours
    from spatialwm.track.views import render_alone, render_scene, seen_colours
    from spatialwm.world import WorldModel

    dist = {(own, kind): [] for own in (True, False) for kind in ("rendered", "base")}
    for ep in args.episodes:
        ds = load_dataset(ep)
        run = Path(args.runs) / Path(ep).name
        wm = WorldModel.load(run if run.exists() else args.run)
        e, cams = ds.episode, list(ds.episode.cameras)
        ids = [int(i) for i in wm.state.object_ids]
        base = object_colours(wm.state)
        groups = list(range(1, len(ids)))
        for t in range(1, len(e.steps), 3):
            frames = [ds.frame_index(c, t) for c in cams]
            images = torch.stack([ds.image(i) for i in frames])
            masks = torch.stack([ds.mask(i).long() for i in frames])
            cameras = [Camera.from_dataset(ds, i) for i in frames]
            truth = wm.with_object_states(wm.state, {i: e.steps[t].objects[i] for i in ids[1:]})
            view = render_scene(truth, cameras)
            seen, _ = seen_colours(render_alone(truth, groups, cameras, colours=view.colors))
            for c, segs in enumerate(segments_from_masks(masks, images, 6)):
                for s in segs:
                    if s.label not in ids[1:]:
                        continue
                    for k, g in enumerate(groups):
                        own = ids[g] == s.label
                        dist[(own, "rendered")].append(math.dist(s.colour, seen[k, c].tolist()))
                        dist[(own, "base")].append(math.dist(s.colour, base[g].tolist()))
        print(f"{Path(ep).name}: done", flush=True)
    print("\n| segment against | own object: median / 90th / 99th pct | others: 1st / 5th pct |")
    print("|---|---|---|")
    for kind, name in (("rendered", "rendered colour"), ("base", "base colour")):
        own, other = dist[(True, kind)], dist[(False, kind)]
        a = " / ".join(f"{v:.3f}" for v in np.percentile(own, [50, 90, 99]))
        b = " / ".join(f"{v:.3f}" for v in np.percentile(other, [1, 5]))
        print(f"| {name} | {a} (n={len(own)}) | {b} (n={len(other)}) |")
    return 0


def pushes(args) -> int:
    import numpy as np

    from spatialwm.data import load_dataset
    from spatialwm.data.actions import PushAction
    from spatialwm.dynamics.slides import GRAVITY, along_ground, friction_of_push

    def slide(u: float, mu: float) -> float:  # from speed u to rest at deceleration mu g
        return u * u / (2.0 * mu * GRAVITY)

    rows = []
    print("| episode | step | object | speed m/s | first-step friction | true slide cm | "
          "predicted with it | with the floor's |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for ep in args.episodes:
        steps = load_dataset(ep, check_files=False).episode.steps
        for t, s in enumerate(steps[:-1]):
            for a in s.actions:
                if not isinstance(a, PushAction) or not along_ground(a.velocity):
                    continue
                o, v = a.object, torch.tensor(a.velocity[:2], dtype=torch.float64)
                end = t + 1
                while end < min(len(steps) - 1, t + 6) and not any(
                    getattr(b, "object", None) == o for b in steps[end].actions
                ):
                    end += 1
                xy = torch.tensor([steps[k].objects[o].position[:2] for k in (t, t + 1)],
                                  dtype=torch.float64)  # fmt: skip
                mu = friction_of_push(xy, v, args.dt)
                if mu is None:
                    continue
                u = float(v.norm())
                along = v / u
                true = float((torch.tensor(steps[end].objects[o].position[:2],
                                           dtype=torch.float64) - xy[0]) @ along)  # fmt: skip
                rows.append((true, slide(u, mu), slide(u, args.friction)))
                print(f"| {Path(ep).name} | {t} | {o} | {u:.2f} | {mu:.2f} | {100 * true:.1f} | "
                      f"{100 * rows[-1][1]:.1f} | {100 * rows[-1][2]:.1f} |")  # fmt: skip
    if not rows:
        print("no push along the ground with a clean first step")
        return 1
    a = np.array(rows)
    print(f"\n{len(a)} pushes: mean |slide error| {100 * np.abs(a[:, 1] - a[:, 0]).mean():.2f} cm "
          f"with the first step's friction, {100 * np.abs(a[:, 2] - a[:, 0]).mean():.2f} cm with "
          f"{args.friction}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--run", default=str(ROOT / "outputs" / "demo" / "run"))
    sp.add_argument("--repeats", type=int, default=5)
    ev = sub.add_parser("eval")
    ev.add_argument("episodes", nargs="+")
    ev.add_argument("--runs", required=True)
    ev.add_argument("--window", type=int, default=6)
    ev.add_argument("--dynamics", default=None, help="dynamics model file (default: shipped)")
    ev.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a TrackConfig field to change, e.g. velocity_gain=1 (repeatable)",
    )
    ev.add_argument("--mode", default=None,
                    help="prior+learned, prior or learned (default: the model's own)")  # fmt: skip
    bd = sub.add_parser("bound")
    bd.add_argument("episodes", nargs="+")
    bd.add_argument("--runs", required=True)
    bd.add_argument("--shifts", default="0,1,2,4", help="pose errors to try, cm (0,1,2,4)")
    co = sub.add_parser("colours")
    co.add_argument("episodes", nargs="+")
    co.add_argument("--runs", required=True)
    co.add_argument("--run", default=None, help="reconstruction of episodes not in --runs")
    pu = sub.add_parser("pushes")
    pu.add_argument("episodes", nargs="+")
    pu.add_argument("--friction", type=float, default=0.6, help="the floor's friction (0.6)")
    pu.add_argument("--dt", type=float, default=0.1, help="seconds per step (0.1)")
    args = ap.parse_args(argv)
    run = {"speed": speed, "eval": evaluate, "bound": bound, "colours": colours, "pushes": pushes}
    return run[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
