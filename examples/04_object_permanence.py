"""04: track an episode's objects from its observation cameras with the world model.

    python examples/04_object_permanence.py                 # data/push, ~2 min
    python examples/04_object_permanence.py --preset debug  # seconds (a rough scene)

One idea: ``WorldModel.observe`` predicts each step with the dynamics and corrects what the
cameras show by render-and-compare; what they do not show stays in the state with a growing
uncertainty, and the floor's friction is estimated from the slides seen. The instance masks'
labels are shuffled every frame (identity comes from where objects should be, not from the
labels); the tracked positions are compared with the ground truth.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from spatialwm.data import load_dataset
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
    wm = WorldModel.load(run)  # the shipped dynamics model
    ds = load_dataset(args.data)
    episode = ds.episode
    cams = list(episode.cameras)
    ids = [int(i) for i in wm.state.object_ids[1:]]
    rng = np.random.default_rng(0)
    state = wm.state  # a SceneState; observe returns TrackStates
    print(f"{len(ids)} objects, cameras {cams}; floor friction starts at "
          f"{wm.model.floor_friction:.2f}")  # fmt: skip
    for t in range(1, min(args.steps, len(episode) - 1) + 1):
        frames = [ds.frame_index(c, t) for c in cams]
        images = torch.stack([ds.image(i) for i in frames])
        masks = []
        for i in frames:  # anonymous segments: labels shuffled every frame
            m = ds.mask(i).long()
            perm = torch.from_numpy(rng.permutation(1000) + 1)  # label k -> perm[k]
            masks.append(torch.where(m > 0, perm[m], 0))
        state = wm.observe(state, images, cams, torch.stack(masks),
                           actions=episode.steps[t - 1].actions)  # fmt: skip
        poses = wm.object_poses(state.scene)
        err = [100 * float(np.linalg.norm(np.subtract(poses[i][:3],
                                                      episode.steps[t].objects[i].position)))
               for i in ids]  # fmt: skip
        hidden = [i for i in ids if int(state.hidden_steps[state.scene.group_of(i)]) > 0]
        mu = [round(float(state.friction[state.scene.group_of(i)]), 2) for i in ids]
        print(f"step {t:2d}: mean error {np.mean(err):5.2f} cm, max {max(err):5.2f}; "
              f"hidden {hidden or '-'}; surprise {state.surprise:.2f}; friction {mu}")  # fmt: skip
    print(f"kept {state.scene.num_groups - 1} of {len(ids)} objects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
