"""01: generate a tiny ground-truth episode, load it, look at cameras, objects and actions.

    python examples/01_generate_and_load.py
    python examples/01_generate_and_load.py --preset occlusion --preview frame.png

One idea: the generator writes a nerfstudio-format folder (transforms.json + episode.json);
``load_dataset`` turns it into OpenCV cameras (``viewmats``, ``Ks``) for the rasterizer,
lazily loaded images / instance masks / depth, and the ground-truth episode.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from spatialwm.data import load_dataset
from spatialwm.data.preview import save_frame_preview
from spatialwm.generate import GenerateConfig, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="push", help="tabletop, push, occlusion or camera")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preview", type=Path, help="save image | instance mask of one frame here")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        # 1. Generate: 4 capture views at step 0, 2 fixed cameras, 8 steps, 160x120 pixels.
        steps = 0 if args.preset == "tabletop" else 8
        cfg = GenerateConfig(
            args.preset, seed=args.seed, views=4, cameras=2, steps=steps, width=160, height=120
        )
        result = generate(Path(tmp) / "episode", cfg)
        print(f"generated {result.frames} frames in {result.seconds:.1f} s -> {result.path.name}/")

        # 2. Load: cameras in the rasterizer's convention, everything else lazily.
        ds = load_dataset(result.path)
        print(f"{len(ds)} frames, {ds.num_steps} steps, cameras {', '.join(ds.camera_names)}")
        print(
            f"viewmats {tuple(ds.viewmats.shape)} (OpenCV world-to-camera), Ks {tuple(ds.Ks.shape)}"
        )
        print(f"K of frame 0:\n{ds.Ks[0].numpy().round(2)}")
        for o in ds.objects:
            p = ds.episode.steps[0].objects[o.id].position
            kind = "static" if o.static else "movable"
            where = ", ".join(f"{x:+.3f}" for x in p)
            print(f"  object {o.id}: {o.name:12s} {kind:8s} at ({where}) m")

        # 3. The episode: actions per step and what the first camera saw of each object.
        cam = ds.episode.cameras[0]
        for s in ds.episode.steps:
            acts = ", ".join(a.type for a in s.actions) or "-"
            vis = " ".join(f"{s.visibility[cam][i]:.2f}" for i in ds.object_ids)
            print(f"  step {s.index:2d}: actions [{acts}]  visible in {cam}: {vis}")

        # 4. One frame: image, instance mask, depth (metres, 0 = unknown).
        i = ds.frame_index(cam, 0)
        img, mask, depth = ds.image(i), ds.mask(i), ds.depth(i)
        ids = np.unique(mask.numpy()).tolist()
        valid = depth[depth > 0]
        print(f"frame {i}: image {tuple(img.shape)}, mask ids {ids}")
        print(f"  depth {valid.min():.2f}-{valid.max():.2f} m")
        if args.preview:
            save_frame_preview(ds, i, args.preview)
            print(f"saved {args.preview}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
