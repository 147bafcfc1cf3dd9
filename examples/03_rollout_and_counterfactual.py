"""03: reconstruct an episode's first frame, roll the world model out, and branch it.

    python examples/03_rollout_and_counterfactual.py                 # data/push, ~2 min
    python examples/03_rollout_and_counterfactual.py --preset debug  # seconds (a rough scene)

One idea: states are immutable, so a counterfactual is just another rollout from any state of
the first one. The episode's own pushes are replayed; at step 2 a second branch pushes the same
object the other way; both are compared with the ground truth.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from spatialwm.data import load_dataset
from spatialwm.data.actions import PushAction
from spatialwm.recon import preset, reconstruct
from spatialwm.world import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "push"))
    ap.add_argument("--preset", default="fast", help="debug, fast or default")
    ap.add_argument("--out", type=Path, help="run folder (default: a temporary one)")
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args(argv)

    run = args.out or Path(tempfile.mkdtemp()) / "run"
    # resume=True: a finished --out of the same data is reused, an interrupted one resumed
    reconstruct(args.data, run, preset(args.preset), resume=True, progress=False,
                log=lambda *a: None)  # fmt: skip
    wm = WorldModel.load(run)  # the shipped dynamics model, in its default mode
    episode = load_dataset(args.data).episode
    steps = min(args.steps, len(episode) - 1)
    actions = [list(episode.steps[t].actions) for t in range(steps)]
    states = wm.rollout(wm.state, actions)

    # the counterfactual: from step 2, push the first object the episode pushes, backwards
    pushes = [a for acts in actions for a in acts if isinstance(a, PushAction)]
    first = pushes[0] if pushes else PushAction(int(wm.state.object_ids[1]), (1.0, 0.0, 0.0))
    back = PushAction(first.object, (*tuple(-v for v in first.velocity[:2]), 0.0))
    branch = wm.rollout(states[2], [[back], *actions[3:]])

    oid = first.object
    truth = np.array(episode.steps[steps].objects[oid].position)
    seen = np.array(wm.object_poses(states[-1])[oid][:3])
    other = np.array(wm.object_poses(branch[-1])[oid][:3])
    print(f"object {oid} after {steps} steps ({wm.mode} dynamics):")
    print(f"  ground truth   {np.round(truth, 3)}")
    print(
        f"  rollout        {np.round(seen, 3)}  (error {100 * np.linalg.norm(seen - truth):.1f} cm)"
    )
    print(f"  counterfactual {np.round(other, 3)}  (pushed the other way at step 2)")
    assert states[0] is wm.state and len(states) == steps + 1  # nothing was modified in place
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
