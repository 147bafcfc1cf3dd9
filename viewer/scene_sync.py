"""Scene state -> viser scene nodes.

Made once per scene: for each group ``g`` a frame ``/scene/g<g>`` placed at the group's pose,
holding the group's Gaussian splats (``.../splats``, in the group's canonical frame; see
:mod:`viewer.splats`), and, for objects, a selection box and a ghost box (wireframes, hidden
until needed). The background (group 0) has the identity pose, as in ``world_gaussians``.

After that only poses (``position``, ``wxyz`` of the frames) and ``visible`` flags change: a
step sends a few bytes per moved object, never splats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spatialwm.scene.state import SceneState
from viewer.geometry import Box, object_box
from viewer.splats import group_splats

#: Per-object colours (RGB 0-255) for boxes and plots; object ``i`` (1-based group) gets
#: ``PALETTE[(i - 1) % len(PALETTE)]``.
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (128, 128, 0),
    (0, 0, 128),
)
GHOST_COLOR = (120, 120, 255)


def group_color(g: int) -> tuple[int, int, int]:
    return PALETTE[(g - 1) % len(PALETTE)]


class SceneSync:
    """Keeps a viser scene in step with a :class:`SceneState` of a fixed scene.

    Args:
        scene: ``server.scene`` (a viser ``SceneApi``).
        state: any state of the scene (its Gaussians are sent once).
        root: node name prefix.
    """

    def __init__(self, scene: Any, state: SceneState, root: str = "/scene") -> None:
        self.scene = scene
        self.root = root
        self.num_groups = state.num_groups
        self.num_gaussians = len(state.gaussians)
        self.boxes: dict[int, Box] = {g: object_box(state, g) for g in range(1, state.num_groups)}
        self.frames: list[Any] = []
        self.splats: list[Any] = []
        self.select_boxes: dict[int, Any] = {}
        self.ghost_boxes: dict[int, Any] = {}
        self._sent: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self._selected: int | None = None
        self._ghosts: set[int] = set()
        self.pose_updates = 0
        for g in range(state.num_groups):
            name = f"{root}/g{g}"
            pos, q = self._pose(state, g)
            frame = scene.add_frame(name, show_axes=False, position=pos, wxyz=q)
            self.frames.append(frame)
            self._sent[g] = (pos, q)
            sp = group_splats(state, g)
            self.splats.append(
                scene.add_gaussian_splats(
                    f"{name}/splats",
                    sp.centers,
                    sp.covariances,
                    sp.rgbs,
                    sp.opacities,
                    scale=1.0 / sp.magnify,
                )
            )
            if g == 0:
                continue
            box = self.boxes[g]
            self.select_boxes[g] = scene.add_box(
                f"{name}/selected",
                color=group_color(g),
                dimensions=tuple(box.size * 1.1),
                wireframe=True,
                position=tuple(box.center),
                visible=False,
            )
            self.ghost_boxes[g] = scene.add_box(
                f"{name}/ghost",
                color=GHOST_COLOR,
                dimensions=tuple(box.size),
                opacity=0.35,
                position=tuple(box.center),
                visible=False,
                cast_shadow=False,
                receive_shadow=False,
            )

    @staticmethod
    def _pose(state: SceneState, g: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        p = state.positions[g].double().numpy()
        q = state.orientations[g].double().numpy()
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        return tuple(p.tolist()), tuple(q.tolist())

    def update(self, state: SceneState) -> int:
        """Move the nodes to ``state``'s poses; only groups whose pose changed are sent.
        Returns the number of nodes moved."""
        moved = 0
        for g in range(1, self.num_groups):
            pose = self._pose(state, g)
            if pose == self._sent.get(g):
                continue
            self.frames[g].position, self.frames[g].wxyz = pose
            self._sent[g] = pose
            moved += 1
        self.pose_updates += moved
        return moved

    def select(self, g: int | None) -> None:
        """Show the selection box of group ``g`` (``None``: none)."""
        if g == self._selected:
            return
        if self._selected in self.select_boxes:
            self.select_boxes[self._selected].visible = False
        if g in self.select_boxes:
            self.select_boxes[g].visible = True
        self._selected = g

    def set_ghosts(self, groups: set[int]) -> None:
        """Show ghost boxes for exactly ``groups`` (hidden objects)."""
        for g in self._ghosts - groups:
            self.ghost_boxes[g].visible = False
        for g in groups - self._ghosts:
            if g in self.ghost_boxes:
                self.ghost_boxes[g].visible = True
        self._ghosts = set(groups) & set(self.ghost_boxes)

    @property
    def ghosts(self) -> set[int]:
        return set(self._ghosts)


__all__ = ["GHOST_COLOR", "PALETTE", "SceneSync", "group_color"]
