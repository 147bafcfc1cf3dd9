"""``spatialwm generate``: write a ground-truth dataset with the pybullet generator.

pybullet is imported inside the command, not when this module is imported.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]

_PRESETS = ("tabletop", "push", "occlusion", "camera")


def register(subparsers) -> None:
    """Add the ``generate`` sub-parser to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "generate",
        help="generate a ground-truth dataset (pybullet)",
        description=(
            "Generate a deterministic ground-truth dataset: nerfstudio transforms.json with "
            "images, instance masks and depth, plus episode.json (actions, object poses, "
            "visibility). Same arguments and seed, same bytes."
        ),
    )
    p.add_argument("out", metavar="OUT", help="output folder (must not exist or be empty)")
    p.add_argument(
        "--preset", default="tabletop", help=f"one of: {', '.join(_PRESETS)} (default: tabletop)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--views", type=int, default=None,
        help="capture views at step 0 (default: 32 for tabletop, 16 otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--cameras", type=int, default=None,
        help="fixed observation cameras rendering every step (default: 0 for tabletop, "
        "1 for camera, 2 otherwise)",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=int, default=None,
        help="steps after the initial state (default: 0 for tabletop, 24 for camera, 40 otherwise)",
    )  # fmt: skip
    p.add_argument("--width", type=int, default=320, help="image width in pixels (default: 320)")
    p.add_argument("--height", type=int, default=240, help="image height in pixels (default: 240)")
    p.add_argument(
        "--objects", type=int, default=None,
        help="movable objects (default: random 3-6; 3-4 for occlusion)",
    )  # fmt: skip
    p.add_argument(
        "--pool", default="default",
        help="object pool: default, builtin, random, heldout (random_urdfs 900-999, reserved "
        "for held-out evaluation), or a comma-separated list such as duck,lego,random_042 "
        "(default: default)",
    )  # fmt: skip
    p.add_argument(
        "--amodal", action="store_true",
        help="also write full per-object silhouettes (amodal/, 16-bit bit masks)",
    )  # fmt: skip
    p.add_argument(
        "--points",
        type=int,
        default=8000,
        help="points in sparse_pc.ply, 0 for none (default: 8000)",
    )
    p.add_argument(
        "--supersample", type=int, default=2,
        help="samples per pixel along each axis, averaged (anti-aliasing; 1: raw "
        "TinyRenderer output) (default: 2)",
    )  # fmt: skip
    p.add_argument(
        "--dt", type=float, default=0.1, help="seconds per step, a multiple of 1/240 (default: 0.1)"
    )
    p.add_argument(
        "--violation", choices=("remove", "teleport"), default=None,
        help="occlusion only: an impossible event while the first runner is fully hidden "
        "(removed, or teleported to come out on the wrong side), recorded in no action; "
        "same step-0 scene as the possible episode of the seed",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an existing dataset in OUT")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the ``generate`` command; returns the exit code."""
    from spatialwm.generate.generator import GenerateConfig, generate

    config = GenerateConfig(
        preset=args.preset,
        seed=args.seed,
        views=args.views,
        cameras=args.cameras,
        steps=args.steps,
        width=args.width,
        height=args.height,
        objects=args.objects,
        pool=args.pool,
        amodal=args.amodal,
        points=args.points,
        dt=args.dt,
        supersample=args.supersample,
        violation=args.violation,
    )
    result = generate(args.out, config, overwrite=args.force)
    if not args.quiet:
        names = ", ".join(f"{o.id}:{o.name}" for o in result.objects)
        print(
            f"wrote {result.path}: {result.frames} frames, {result.steps} state(s), "
            f"objects [{names}] in {result.seconds:.1f} s"
        )
        if result.hidden_runs:
            runs = ", ".join(f"object {i} steps {s}-{s + n - 1}" for i, s, n in result.hidden_runs)
            print(f"fully hidden from every observation camera: {runs}")
    return 0
