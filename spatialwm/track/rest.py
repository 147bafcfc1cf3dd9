"""Rest poses: an object at rest on the ground lies on one of the six faces of its physical
proxy (the box :func:`~spatialwm.dynamics.proxy.proxies_from_state` fits to its Gaussians).

The observe loop keeps the objects it tracks in such poses. A pose between two faces (a fit
that tipped an object by 30 degrees) is not one the physics prior can hold: its box falls
back in the next step, and the lateral motion of that fall, repeated at every step, slid
tipped objects away by up to 30 cm while they were hidden. Faces are also the hypotheses
of :func:`face_candidates`, with which the loop finds an object that fell over on its side
(a 90-degree turn no local fit reaches).

Orientations are wxyz quaternions of the object's canonical frame in the world; ``box`` is
the rotation of its proxy box in that frame (a turn about the canonical +Z).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from spatialwm.dynamics.proxy import Proxies, proxies_from_state
from spatialwm.scene.state import (
    SceneState,
    quat_conjugate,
    quat_multiply,
    quat_to_matrix,
)
from spatialwm.track.state import lowest_offsets

__all__ = [
    "FACES",
    "box_rotations",
    "face_candidates",
    "grounded_height",
    "keep_on_ground",
    "lay_on_ground",
    "nearest_face",
    "on_face",
    "settle",
]

_H = math.sqrt(0.5)
# FACES[k]: the turn (box frame) that puts box axis DOWN[k] at -Z (the box on that face)
FACES = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],  # -z down: as fitted (upright)
        [0.0, 1.0, 0.0, 0.0],  # +z down: upside down
        [_H, 0.0, _H, 0.0],  # +x down: +90 degrees about y
        [_H, 0.0, -_H, 0.0],  # -x down
        [_H, -_H, 0.0, 0.0],  # +y down: -90 degrees about x
        [_H, _H, 0.0, 0.0],  # -y down
    ]
)
DOWN = torch.tensor(
    [[0, 0, -1], [0, 0, 1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=torch.float32
)


def box_rotations(state: SceneState, proxies: Proxies | None = None) -> Tensor:
    """``[M, 4]`` rotation of each object's proxy box in its canonical frame (identity for
    the background); ``proxies``: the state's, if already fitted."""
    out = torch.zeros(state.num_groups, 4)
    out[:, 0] = 1.0
    if state.num_groups > 1:
        proxies = proxies if proxies is not None else proxies_from_state(state)
        out[1:] = proxies.rotation.float()
    return out


def nearest_face(q: Tensor, box: Tensor) -> tuple[int, float]:
    """The face of the box (``q [4]`` the object's orientation, ``box [4]``) nearest to
    the ground: ``(index into FACES, angle in rad between that face's outward axis and
    straight down)``."""
    R = quat_to_matrix(quat_multiply(q.float(), box.float()))
    down_z = (DOWN @ R.T)[:, 2]  # world z of each candidate axis
    k = int(torch.argmin(down_z))
    return k, math.acos(max(-1.0, min(1.0, -float(down_z[k]))))


def _yaw(theta: float) -> Tensor:
    return torch.tensor([math.cos(theta / 2), 0.0, 0.0, math.sin(theta / 2)])


def on_face(q: Tensor, box: Tensor, face: int | None = None) -> Tensor:
    """The rest orientation ``[4]`` nearest to ``q`` with the box on ``face`` (default: its
    nearest face): the same heading about +Z, no tilt off that face."""
    face = nearest_face(q, box)[0] if face is None else face
    f = FACES[face]
    a = quat_multiply(quat_multiply(q.float(), box.float()), quat_conjugate(f))
    theta = 2.0 * math.atan2(float(a[3]), float(a[0]))  # its turn about +Z
    out = quat_multiply(quat_multiply(_yaw(theta), f), quat_conjugate(box.float()))
    return out / out.norm()


def face_candidates(q: Tensor, box: Tensor, yaws: int = 8) -> Tensor:
    """``[6 * yaws, 4]`` rest orientations: every face, at ``yaws`` headings evenly spaced
    from ``q``'s."""
    base = quat_multiply(q.float(), box.float())
    theta = 2.0 * math.atan2(float(base[3]), float(base[0]))
    out = []
    for f in FACES:
        for j in range(yaws):
            c = quat_multiply(_yaw(theta + 2 * math.pi * j / yaws), f)
            out.append(quat_multiply(c, quat_conjugate(box.float())))
    out = torch.stack(out)
    return out / out.norm(dim=-1, keepdim=True)


def grounded_height(state: SceneState, group: int, orientations: Tensor, gap: float) -> Tensor:
    """``[P]`` heights of ``group``'s frame that put its lowest Gaussians
    (:func:`~spatialwm.track.state.lowest_offsets`) ``gap`` above the ground at each of
    ``orientations [P, 4]``."""
    return gap - lowest_offsets(state, group, orientations)


def keep_on_ground(
    pred: SceneState, prev: SceneState, groups: Sequence[int], *, settle_down: bool = False
) -> SceneState:
    """Objects resting on the ground: keep the previous height, tilt and vertical motion and
    take only the predicted ground-plane motion and turn about +Z (a box proxy that hops or
    tips over in the dynamics does not carry the object with it). ``settle_down``: take the
    predicted height where it is lower (a proxy that hovered, e.g. the box of an object
    lying on its side, whose faces other than the bottom one stop short of the surface,
    comes to rest on the ground instead of falling through every step, where it slid with
    too little friction: 6 cm further than the truth in one hidden slide of ``occ_301``)."""
    pos, quat = pred.positions.clone(), pred.orientations.clone()
    lin, ang = pred.linear_velocity.clone(), pred.angular_velocity.clone()
    for g in groups:
        rel = quat_multiply(pred.orientations[g], quat_conjugate(prev.orientations[g]))
        q = quat_multiply(
            _yaw(2.0 * math.atan2(float(rel[3]), float(rel[0]))), prev.orientations[g]
        )
        pos[g, 2] = prev.positions[g, 2]
        if settle_down:
            pos[g, 2] = torch.minimum(pos[g, 2], pred.positions[g, 2])
        quat[g] = q / q.norm()
        lin[g, 2] = 0.0
        ang[g, :2] = 0.0
    return pred.replace(positions=pos, orientations=quat, linear_velocity=lin, angular_velocity=ang)


def lay_on_ground(state: SceneState, groups: Sequence[int], gap: Tensor) -> SceneState:
    """``groups`` moved vertically so that their lowest Gaussians are ``gap[g]`` above the
    ground (:attr:`~spatialwm.track.state.TrackState.ground_gap`)."""
    pos = state.positions.clone()
    for g in groups:
        pos[g, 2] = grounded_height(state, g, state.orientations[g][None], float(gap[g]))[0]
    return state.replace(positions=pos)


def settle(
    fit: SceneState,
    start: SceneState,
    groups: Sequence[int],
    boxes: Tensor,
    gap: Tensor,
) -> SceneState:
    """6-DoF fits of objects resting on the ground, moved to the nearest rest pose.

    A fit whose nearest face is the one the object rested on at ``start`` keeps the start's
    height and tilt and takes the fit's position along the ground and heading (a tilt of a
    few degrees is fitting noise: a cube fitted from 1 cm away came out tipped by 14
    degrees, and a runner fitted 2 mm low and held there through a 2 m/s slide veered 4 cm
    off its path in the physics' ground contact). A fit that tipped the object over to
    another face (by more than 45 degrees) puts it on that face at the fit's heading, with
    its lowest Gaussians ``gap[g]`` above the ground: from cameras above, moving down and
    tipping away look alike, and unconstrained fits left tipped runners 6 cm in the ground.

    Args:
        fit: the refined state; start: the state the fit started from.
        groups: the 6-DoF fitted groups; boxes: ``[M, 4]`` proxy box rotations
            (:func:`box_rotations`); gap: ``[M]`` ground gaps.
    """
    same, turned = [], []
    for g in groups:
        face = nearest_face(fit.orientations[g], boxes[g])[0]
        (same if face == nearest_face(start.orientations[g], boxes[g])[0] else turned).append(g)
    out = keep_on_ground(fit, start, same)
    if not turned:
        return out
    quat = out.orientations.clone()
    lin, ang = out.linear_velocity.clone(), out.angular_velocity.clone()
    for g in turned:
        quat[g] = on_face(fit.orientations[g], boxes[g])
        lin[g, 2] = 0.0
        ang[g, :2] = 0.0
    out = out.replace(orientations=quat, linear_velocity=lin, angular_velocity=ang)
    return lay_on_ground(out, turned, gap)
