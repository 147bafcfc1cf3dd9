"""``spatialwm view RUN``: the interactive viser viewer of a reconstructed scene (code in the
``viewer`` package)."""

from __future__ import annotations

import argparse
import signal


def register(subparsers) -> None:
    """Add the ``view`` sub-parser."""
    p = subparsers.add_parser(
        "view",
        help="interactive web viewer: act on a reconstructed scene, play and branch rollouts",
        description="Serve a viser web viewer of a reconstruction run: one Gaussian-splat "
        "node per object, push / place objects, Step / Play / Pause / Reset, a timeline, "
        "branches, the model's render next to an episode's ground truth.",
    )
    p.add_argument("run", metavar="RUN", help="reconstruction run folder")
    p.add_argument(
        "--dynamics",
        metavar="MODEL",
        default=None,
        help="dynamics model file (default: the shipped model)",
    )
    p.add_argument(
        "--episode",
        metavar="DATASET",
        default=None,
        help="a generated dataset with episode.json: its actions are replayed and "
        "its frames shown as ground truth",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8080, help="port (default: %(default)s; 0: any free port)"
    )
    p.add_argument(
        "--max-states", type=int, default=1000, help="states kept per branch (default: %(default)s)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spatialwm.errors import InputError
    from viewer import ViewerApp, ViewerConfig, check_port

    if args.max_states < 2:
        raise InputError("--max-states must be >= 2")
    check_port(args.host, args.port)  # before the (slower) loading
    cfg = ViewerConfig(host=args.host, port=args.port, max_states=args.max_states)
    app = ViewerApp.load(args.run, dynamics=args.dynamics, episode=args.episode, config=cfg)
    _stop_on_signals()
    app.start()
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        print("viewer stopped")
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl+C (SIGINT) and SIGTERM stop the server cleanly, even in a process started with
    SIGINT ignored: a background job of a non-interactive shell (``cmd &`` in a script or CI)
    inherits that, and Python then installs no KeyboardInterrupt handler, so the viewer would
    ignore Ctrl+C and ``kill -INT`` for ever."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
