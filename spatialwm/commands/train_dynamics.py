"""``spatialwm train-dynamics EPISODES... --runs DIR --out MODEL``: fit the dynamics model to
observed trajectories: the physics prior's friction and density (system identification),
then the residual network on the prior and the learned-only network (the ablation)."""

from __future__ import annotations

import argparse
import shlex
import sys

from spatialwm.dynamics.prior import GEOMS, MAX_FRICTION


def register(subparsers) -> None:
    """Add the ``train-dynamics`` sub-parser."""
    p = subparsers.add_parser(
        "train-dynamics",
        help="train the dynamics model on generator episodes",
        description="Reconstruct each training episode's step-0 capture (cached in --runs), "
        "fit the physics prior's friction and density to the episodes' true object "
        "trajectories (mean position error of rollouts from the true state), train the "
        "residual graph network that corrects the prior's steps (and, for the evaluation's "
        "ablation, one that corrects plain kinematic integration), and write a model file "
        "for WorldModel.load(run, dynamics=MODEL).",
    )
    p.add_argument("episodes", nargs="+", metavar="EPISODE", help="generated episode datasets")
    p.add_argument("--runs", metavar="DIR", help="folder for the reconstructions (required "
                   "unless --floor-only)")  # fmt: skip
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.json)")
    p.add_argument("--floor-only", action="store_true",
                   help="only read the floor's friction (where the sliding objects agree, with "
                   "the spread and share of the clean slides of the episodes' true "
                   "trajectories) and write it into the existing model file --out: no "
                   "reconstruction, no training")  # fmt: skip
    p.add_argument("--preset", default="fast", help="reconstruction preset (default: fast)")
    p.add_argument("--recon-steps", type=int, default=None, metavar="N",
                   help="reconstruction steps (default: the preset's)")  # fmt: skip
    p.add_argument("--horizon", type=int, default=5, help="rollout length of the fit's loss (5)")
    p.add_argument("--every", type=int, default=3, help="a rollout starts every N steps (3)")
    p.add_argument("--friction", type=float, default=None,
                   help="skip the parameter search: use this friction (and --density)")  # fmt: skip
    p.add_argument("--density", type=float, default=1000.0,
                   help="density with --friction (kg/m^3, default 1000)")  # fmt: skip
    p.add_argument("--pair-friction", type=float, default=None,
                   help="friction between two objects (default: --friction; with the search, "
                   "kept at this value)")  # fmt: skip
    p.add_argument("--com-drop", type=float, default=0.0,
                   help="centre of mass below the proxy centre, fraction of its half height "
                   "(0)")  # fmt: skip
    p.add_argument("--geom", choices=GEOMS, default="box",
                   help="proxy shape: box, or box on the ground and convex hull between "
                   "objects (box+hull), or hull (default: box)")  # fmt: skip
    p.add_argument("--iters", type=int, default=1500, help="network training iterations (1500)")
    p.add_argument("--hidden", type=int, default=32, help="network width (32)")
    p.add_argument("--seed", type=int, default=0, help="training seed (0)")
    p.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="train N networks of each kind (seeds --seed .. --seed + N - 1) and "
                   "average their corrections (1)")  # fmt: skip
    p.add_argument(
        "--rotations",
        type=int,
        default=8,
        metavar="N",
        help="copies of each training scene, randomly turned about +Z (8)",
    )
    p.add_argument(
        "--dagger",
        type=int,
        default=0,
        metavar="N",
        help="rounds of training on the model's own rollouts (--horizon steps from "
        "every --every-th true state) paired with the true next states (0)",
    )
    p.set_defaults(func=run)


def _floor(episodes):
    """The floor's friction read off the clean free slides of ``episodes``' true
    trajectories (:func:`~spatialwm.dynamics.slides.floor_friction`), printed."""
    import torch

    from spatialwm.dynamics.slides import floor_friction

    floor = floor_friction(
        [torch.tensor([s.objects[i].position[:2] for s in ep.steps], dtype=torch.float64)
         for ep in episodes for i in ep.object_ids],
        episodes[0].dt,
    )  # fmt: skip
    if floor is None:
        print("floor friction: no clean slide seen")
    else:
        extra = "" if floor.spread is None else (
            f", the sliders' spread {floor.spread:.3f}, {100 * floor.share:.0f}% of the slides "
            "within 3 spreads")  # fmt: skip
        print(f"floor friction from {floor.slides} clean slides: {floor.friction:.3f}{extra}")
    return floor


def _floor_fields(floor) -> dict:
    if floor is None:
        return {"slide_friction": None, "slide_friction_spread": None,
                "slide_friction_share": None}  # fmt: skip
    return {"slide_friction": floor.friction, "slide_friction_spread": floor.spread,
            "slide_friction_share": floor.share}  # fmt: skip


def _floor_only(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from spatialwm.data import load_dataset
    from spatialwm.dynamics.model import load_model, save_model
    from spatialwm.errors import InputError

    if not Path(args.out).exists():
        raise InputError(f"--floor-only: {args.out}: no model file to update")
    model = load_model(args.out)
    episodes = []
    for e in args.episodes:
        ep = load_dataset(e, check_files=False).episode
        if ep is None or len(ep) < 3:
            raise InputError(f"{e}: not an episode (no episode.json with at least 3 steps)")
        episodes.append(ep)
    save_model(args.out, replace(model, **_floor_fields(_floor(episodes))))
    print(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace
    from pathlib import Path

    from spatialwm.dynamics.model import DynamicsModel, save_model
    from spatialwm.dynamics.params import DynamicsParams, fit_params
    from spatialwm.dynamics.residual import NetEnsemble
    from spatialwm.dynamics.training import (
        collect_transitions,
        train_residual,
        validation_count,
    )
    from spatialwm.errors import InputError
    from spatialwm.world import WorldModel
    from spatialwm.world_eval import load_episodes, position_error

    if args.floor_only:
        return _floor_only(args)
    if args.runs is None:
        raise InputError("--runs DIR is required (unless --floor-only)")
    if min(args.horizon, args.every, args.iters, args.hidden, args.rotations, args.ensemble) < 1:
        raise InputError(
            "--horizon, --every, --iters, --hidden, --rotations and --ensemble must be positive"
        )
    if args.dagger < 0:
        raise InputError("--dagger must be >= 0")
    if args.recon_steps is not None and args.recon_steps < 1:
        raise InputError("--recon-steps must be positive")
    pairs = load_episodes(args.episodes, args.runs, args.preset, steps=args.recon_steps)
    t0 = time.perf_counter()
    if not 0.0 <= args.com_drop < 1.0:
        raise InputError("--com-drop must be in [0, 1)")
    if args.pair_friction is not None and not 0.0 <= args.pair_friction <= MAX_FRICTION:
        raise InputError(f"--pair-friction must be in [0, {MAX_FRICTION:g}]")
    base = [(WorldModel.load(r, dynamics=DynamicsParams(), mode="prior"), ds.episode)
            for ds, r in pairs]  # fmt: skip
    # the floor's friction as the clean free slides of the true trajectories show it
    floor = _floor([ep for _, ep in base])

    def error(
        p: DynamicsParams, mode: str = "prior", model: DynamicsModel | None = None, first: int = 0
    ) -> float:
        m = model if model is not None else DynamicsModel(p)
        return position_error([(wm.with_model(m).with_mode(mode), ep) for wm, ep in base[first:]],
                              horizon=args.horizon, every=args.every)  # fmt: skip

    fixed = DynamicsParams(com_drop=args.com_drop, pair_friction=args.pair_friction,
                           geom=args.geom)  # fmt: skip
    if args.friction is None:
        print(f"fitting friction and density on {len(base)} episode(s), horizon {args.horizon}")
        params, fit = fit_params(error, fixed=fixed)
    else:
        params = replace(fixed, friction=args.friction, density=args.density)
        fit = {"error": error(params), "grid": []}
    pair = "" if params.pair_friction is None else f", pair friction {params.pair_friction:.3f}"
    print(f"{params.geom} proxies, friction {params.friction:.3f}{pair}, density "
          f"{params.density:.0f} kg/m^3: "
          f"{fit['error']:.2f} cm at h={args.horizon} (prior only)")  # fmt: skip
    fitted = [(wm.with_model(params), ep) for wm, ep in base]
    nets, stats = {}, {}

    def train(transitions):
        runs = [train_residual(transitions, hidden=args.hidden, iters=args.iters,
                               rotations=args.rotations, seed=args.seed + m)
                for m in range(args.ensemble)]  # fmt: skip
        if args.ensemble == 1:
            return runs[0]
        return NetEnsemble([net for net, _ in runs]), [st for _, st in runs]

    for key, mode, own in (("residual", "prior", "prior+learned"),
                           ("learned_only", "learned", "learned")):  # fmt: skip
        many = f" ({args.ensemble} networks)" if args.ensemble > 1 else " network"
        print(f"training the {key.replace('_', ' ')}{many} ({mode} base)")
        trans = collect_transitions(fitted, base=mode)
        nets[key], stats[key] = train(trans)
        for r in range(args.dagger):  # the model's own drift, with the true next states
            current = DynamicsModel(params, **{key: nets[key]})
            own_pairs = [(wm.with_model(current).with_mode(own), ep) for wm, ep in fitted]
            trans = trans + collect_transitions(own_pairs, base=mode, rollout=args.horizon,
                                                every=args.every)  # fmt: skip
            print(f"  round {r + 1} on its own rollouts: {len(trans)} transitions")
            nets[key], stats[key] = train(trans)
    model = DynamicsModel(params, **nets)
    errors = {mode: error(params, mode, model) for mode in ("prior+learned", "learned")}
    # the default mode: whichever predicts better on the validation episodes
    first = len(base) - validation_count(len(base))
    val, mode = {}, "prior+learned"
    if first < len(base):  # at least two episodes: the last ones validate
        val = {m: error(params, m, model, first) for m in ("prior", "prior+learned")}
        mode = min(val, key=val.get)
        print(f"validation position error at h={args.horizon}: prior {val['prior']:.2f} cm, "
              f"prior + learned {val['prior+learned']:.2f} cm: default mode {mode}")  # fmt: skip
    info = {
        "episodes": [str(Path(e).resolve().name) for e in args.episodes],
        "horizon": args.horizon,
        "every": args.every,
        "dagger": args.dagger,
        "rotations": args.rotations,
        "ensemble": args.ensemble,
        "train_position_error_cm": {"prior": fit["error"], **errors},
        "validation_position_error_cm": val,
        "grid": fit["grid"],
        "networks": stats,
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "spatialwm " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    save_model(args.out, DynamicsModel(params, mode=mode, info=info, **_floor_fields(floor),
                                       **nets))  # fmt: skip
    print(f"training position error at h={args.horizon}: prior {fit['error']:.2f} cm, "
          f"prior + learned {errors['prior+learned']:.2f} cm, learned only "
          f"{errors['learned']:.2f} cm; wrote {args.out}")  # fmt: skip
    return 0
