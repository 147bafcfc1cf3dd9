"""``spatialwm bench raster``: performance tables (see ``benchmarks/README.md``)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``bench`` sub-parser (one sub-command per benchmark)."""
    p = subparsers.add_parser("bench", help="run a benchmark and print a table")
    sub = p.add_subparsers(dest="bench", metavar="WHAT")
    sub.required = True
    raster = sub.add_parser(
        "raster",
        help="rasterizer forward / backward time, pairs evaluated, memory",
        description="Time the rasterizer on a table-top surface scene for each N x image size x "
        "thread count and print a table.",
    )
    raster.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated N (default: %(default)s)"
    )
    raster.add_argument(
        "--resolutions", default="320x240,640x480,1280x720",
        help="comma-separated WxH (default: %(default)s)",
    )  # fmt: skip
    raster.add_argument(
        "--threads", default=None, help="comma-separated thread counts (default: 1 and all cores)"
    )
    raster.add_argument("--repeats", type=int, default=3, help="timed runs per cell (default: 3)")
    raster.set_defaults(func=_run_raster)


def _run_raster(args: argparse.Namespace) -> int:
    from spatialwm.bench import raster as bench_raster

    return bench_raster.run(args)
