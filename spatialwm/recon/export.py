"""From trained parameters to the run's outputs: the object-centric scene state, the scene PLY
(standard 3DGS layout + an ``object_id`` property) and one PLY per object in its canonical
frame."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from spatialwm.scene.ply import write_splat_ply
from spatialwm.scene.state import SceneState, from_world_gaussians, group_slice

_MIN_ALPHA = 1.0 / 255.0  # a Gaussian this faint is never composited


def assign_groups(params: dict[str, Tensor]) -> Tensor:
    """``[N]`` group index per Gaussian: the argmax of its learned object logits."""
    return params["objects"].detach().cpu().argmax(-1)


def build_state(
    params: dict[str, Tensor],
    object_ids: tuple[int, ...],
    object_names: tuple[str, ...],
    background: Tensor,
) -> SceneState:
    """The object-centric state of a trained scene (Gaussians too faint to ever be drawn are
    left out)."""
    keep = torch.sigmoid(params["opacities"].detach().cpu()) >= _MIN_ALPHA
    world = {k: v.detach().cpu()[keep] for k, v in params.items()}
    return from_world_gaussians(
        world, assign_groups(world), list(object_ids), list(object_names), background
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "object"


def write_scene_ply(path: Path, state: SceneState) -> None:
    """All Gaussians in the world frame, standard 3DGS layout, plus ``object_id``."""
    from spatialwm.scene.state import world_gaussians

    g = world_gaussians(state)
    ids = state.object_ids[state.gaussians.group]
    write_splat_ply(path, g, extra={"object_id": ids.int()})


def write_object_plys(folder: Path, state: SceneState) -> list[Path]:
    """``folder/<id>_<name>.ply`` per group (background included, id 0) in its canonical
    frame. Returns the paths written."""
    paths = []
    g = state.gaussians
    for i in range(state.num_groups):
        s = group_slice(state, i)
        oid = int(state.object_ids[i])
        path = folder / f"{oid}_{_safe(state.object_names[i])}.ply"
        write_splat_ply(
            path,
            {
                "means": g.means[s],
                "quats": g.quats[s],
                "scales": g.scales[s],
                "opacities": g.opacities[s],
                "sh0": g.sh[s, :1],
                "shN": g.sh[s, 1:],
            },
        )
        paths.append(path)
    return paths


__all__ = ["assign_groups", "build_state", "write_object_plys", "write_scene_ply"]
