"""The ``spatialwm`` command line: one subcommand per verb.

Each verb lives in its own module that exposes ``register(subparsers)``; that function adds
an ``argparse`` sub-parser and sets ``func`` to a callable taking the parsed namespace and
returning an exit code. Heavy imports (torch extensions, pybullet) happen inside ``func``,
so ``spatialwm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from spatialwm.errors import SpatialWMError

# Modules that register subcommands, in the order ``--help`` lists them.
_COMMAND_MODULES = (
    "spatialwm.commands.demo",
    "spatialwm.generate.cli",
    "spatialwm.commands.reconstruct",
    "spatialwm.commands.rollout",
    "spatialwm.commands.train_dynamics",
    "spatialwm.commands.eval_dynamics",
    "spatialwm.commands.track",
    "spatialwm.commands.view",
    "spatialwm.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spatialwm",
        description="spatialwm: a 3D Gaussian-splat world model.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpatialWMError as exc:
        print(f"spatialwm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spatialwm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
