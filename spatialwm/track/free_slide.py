"""Free slides in the observe loop: an object sliding on the ground that nothing is in the
way of goes where Coulomb friction takes it (:func:`~spatialwm.dynamics.slides.coulomb_slide`
with the object's friction estimate), instead of where the dynamics puts it.

Why: the dynamics' slides are soft. The physics prior's contacts let a pushed box hop and
slide a few percent further; its learned part bends and shortens free slides (it was trained
where pushed objects soon meet others); and the velocity it hands on to the next step is not
the one friction leaves, so a slide seen for a step or two and then hidden drifts further
with every unseen step. The straight Coulomb slide is the structural prior for the case the
loop meets most: an object pushed along the ground, then hidden.

Which objects: those the caller lists with a ground velocity at the start of the step (a
push's, or the one carried from the last step) whose proxy box, moved along the slide, meets
no other object's box moving through the step as the dynamics predicts it (static occluders
included; the start counts too, so one resting against another does not slide freely). Boxes
overlapping by less than :data:`TOLERANCE` do not meet. Anything else (a
collision, an object resting against another) keeps the dynamics' prediction. The slide
changes the ground position and velocity only; height, tilt and the turn about +Z stay
the dynamics' (or :func:`~spatialwm.track.rest.keep_on_ground`'s), and the object stops
spinning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from spatialwm.dynamics.proxy import Proxies, box_frames, boxes_overlap
from spatialwm.dynamics.slides import TIMESTEP, coulomb_slide
from spatialwm.scene.state import SceneState

__all__ = ["free_slides"]

MIN_SPEED = 1e-3  # m/s: slower is at rest
# m: proxy boxes may overlap this much without meeting. A box reaches beyond a rounded or
# irregular object at its corners: two runners of the held-out occlusion episodes that slide
# past each other 11 cm apart (centres) without touching have boxes overlapping by < 5 mm.
TOLERANCE = 0.005


def free_slides(
    prev: SceneState,
    pred: SceneState,
    velocities: Mapping[int, Tensor],
    friction: Tensor,
    proxies: Proxies,
    dt: float,
    *,
    timestep: float = TIMESTEP,
    spacing: float = 0.01,
    tolerance: float = TOLERANCE,
) -> tuple[SceneState, list[int]]:
    """``pred`` with the groups of ``velocities`` (``{group: [2] ground velocity at the start
    of the step}``) that slide freely moved by Coulomb friction from their ``prev`` position.

    Args:
        prev, pred: the state before the step and the dynamics' prediction (same objects).
        friction: ``[M]`` each group's friction on the ground.
        proxies: the objects' proxies (groups ``1..M-1`` in order).
        dt: the step (s); timestep: the integration substep (the physics prior's).
        spacing: the boxes are tested at instants between which none moves more than
            ``spacing`` metres.
        tolerance: boxes overlapping by less than this (m) do not count as meeting
            (:data:`TOLERANCE`).

    Returns:
        ``(state, groups slid)``: pure; rows of the other groups are ``pred``'s.
    """
    m = prev.num_groups
    if len(proxies) != m - 1:
        raise ValueError(f"free_slides: {len(proxies)} proxies for {m - 1} objects")
    slid: list[int] = []
    if not velocities:
        return pred, slid
    half = proxies.half_extents
    c0, a0 = box_frames(proxies, prev.positions[1:], prev.orientations[1:])
    c1, a1 = box_frames(proxies, pred.positions[1:], pred.orientations[1:])
    pos, lin = pred.positions.clone(), pred.linear_velocity.clone()
    ang = pred.angular_velocity.clone()
    for g, v in velocities.items():
        v = torch.as_tensor(v, dtype=torch.float64)
        u = float(v.norm())
        if not 0 < g < m or not math.isfinite(u) or u < MIN_SPEED:
            continue
        distance, speed = coulomb_slide(u, max(float(friction[g]), 0.0), dt, timestep=timestep)
        along = v / u
        start = prev.positions[g].double()
        if not _clear(g - 1, along, distance, c0, a0, c1, a1, half, spacing, -tolerance):
            continue
        pos[g, :2] = (start[:2] + distance * along).to(pos.dtype)
        lin[g, :2] = (speed * along).to(lin.dtype)
        lin[g, 2] = 0.0
        ang[g] = 0.0
        slid.append(g)
    if not slid:
        return pred, slid
    return pred.replace(positions=pos, linear_velocity=lin, angular_velocity=ang), slid


def _clear(
    k: int,
    along: Tensor,
    distance: float,
    c0: Tensor,
    a0: Tensor,
    c1: Tensor,
    a1: Tensor,
    half: Tensor,
    spacing: float,
    margin: float,
) -> bool:
    """Whether box ``k`` slid from its ``prev`` frame ``distance`` along ``along`` (ground
    direction ``[2]``) meets no other box on the way. Both move through the step: at ``S``
    instants each box is where a straight, even motion between its two frames puts it (the
    others keep their ``prev`` axes for the first half, their predicted ones after), ``S``
    such that no box moves more than ``spacing`` between two of them."""
    others = [j for j in range(len(half)) if j != k]
    if not others:
        return True
    c0, c1 = c0.double(), c1.double()
    moves = torch.cat([(c1[others] - c0[others]).norm(dim=-1), torch.tensor([distance])])
    n = max(1, math.ceil(float(moves.max()) / spacing))
    tau = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)[:, None]  # [S, 1]
    centre = c0[k].clone()
    centre = centre + torch.cat([along * distance, torch.zeros(1, dtype=torch.float64)]) * tau
    oc = c0[others] + (c1[others] - c0[others]) * tau[:, :, None]  # [S, J, 3]
    oa = torch.where(tau[:, :, None, None] < 0.5, a0[others], a1[others])  # [S, J, 3, 3]
    hit = boxes_overlap(centre[:, None], a0[k], half[k], oc, oa, half[others], margin=margin)
    return not bool(hit.any())
