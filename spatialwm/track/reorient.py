"""Finding an object that fell over: an object seen in two views whose fitted silhouette
still does not match its segments is tried on every face of its proxy box, at several headings
(:func:`~spatialwm.track.rest.face_candidates`); the face whose silhouette matches best is
refined by render-and-compare and kept if it beats the fit.

A runner that tumbles onto its side while hidden comes back turned by 90 degrees; the pose
refinement (a dozen small gradient steps from the prediction) cannot reach that, and left
it upright or leaning between two faces, 5-7 cm off and with the wrong silhouette.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from spatialwm.render import rasterization
from spatialwm.scene.render import Camera
from spatialwm.scene.state import SceneState, group_slice, quat_multiply, quat_to_matrix
from spatialwm.track.refine import make_window, refine_poses
from spatialwm.track.rest import face_candidates, grounded_height, settle
from spatialwm.track.state import TrackState
from spatialwm.track.views import SceneView, camera_tensors, projection_jacobian

__all__ = ["render_poses", "reorient", "silhouette_iou"]


@torch.no_grad()
def render_poses(
    state: SceneState,
    group: int,
    positions: Tensor,
    orientations: Tensor,
    cams: Sequence[Camera],
) -> Tensor:
    """``group``'s Gaussians alone at each pose ``(positions [P, 3], orientations [P, 4])``
    (the group's frame in the world): ``[P, C, H, W]`` alpha."""
    viewmats, Ks = camera_tensors(cams)
    w, h = cams[0].width, cams[0].height
    sl = group_slice(state, group)
    gs = state.gaussians
    means, quats = gs.means[sl].float(), gs.quats[sl].float()
    scales, opac = gs.scales[sl].exp(), torch.sigmoid(gs.opacities[sl])
    ones = torch.ones(len(means), 1)
    out = torch.zeros(len(positions), len(cams), h, w)
    for k in range(len(positions)):
        R = quat_to_matrix(orientations[k].float())
        _, alpha, _ = rasterization(
            means @ R.T + positions[k].float(), quat_multiply(orientations[k].float(), quats),
            scales, opac, ones, viewmats, Ks, w, h,
        )  # fmt: skip
        out[k] = alpha[..., 0]
    return out


def silhouette_iou(
    alpha: Tensor, segments: Mapping[int, Tensor], hidden: Mapping[int, Tensor] | None = None
) -> Tensor:
    """Mean IoU over the views in ``segments`` (``{camera: [H, W] bool}``) of the
    silhouettes ``alpha [P, C, H, W] > 0.5`` with the segments: ``[P]``. Pixels in
    ``hidden`` (``{camera: [H, W] bool}``: other objects in front) do not count."""
    ious = []
    for c, seg in segments.items():
        sil = alpha[:, c] > 0.5
        if hidden is not None and c in hidden:
            sil = sil & ~hidden[c]
            seg = seg & ~hidden[c]
        inter = (sil & seg).sum((1, 2)).float()
        union = (sil | seg).sum((1, 2)).float().clamp_min(1.0)
        ious.append(inter / union)
    return torch.stack(ious).mean(0)


def _ground_shift(
    alpha: Tensor, centres: Mapping[int, tuple[float, float]], pos: Tensor, cams
) -> Tensor:
    """``[2]`` ground-plane translation that moves the silhouettes ``alpha [C, H, W]`` of an
    object at ``pos`` onto the segment centres ``{camera: (x, y)}`` (least squares through
    the projection's derivative; zero if no view shows the silhouette)."""
    rows, rhs = [], []
    for c, (x, y) in centres.items():
        ys, xs = (alpha[c] > 0.5).nonzero(as_tuple=True)
        if len(xs) == 0:
            continue
        rows.append(projection_jacobian(pos, cams[c])[:, :2])
        rhs.append(torch.tensor([x - float(xs.float().mean()) - 0.5,
                                 y - float(ys.float().mean()) - 0.5]))  # fmt: skip
    if not rows:
        return torch.zeros(2)
    return torch.linalg.lstsq(torch.cat(rows), torch.cat(rhs)[:, None]).solution[:, 0]


def reorient(
    state: SceneState,
    groups: Sequence[int],
    matches: Mapping,
    images: Tensor,
    cams: Sequence[Camera],
    view: SceneView,
    sigma: Tensor,
    ts: TrackState,
    *,
    use_masks: bool,
    occluders: Mapping[tuple[int, int], Tensor] | None = None,
) -> SceneState:
    """``state`` with each object of ``groups`` (seen in two views, fitted and settled on a
    face) whose silhouette matches its segments (``matches[(g, c)].segment``) by less than
    ``reorient_iou`` moved to the face and heading that match them best, when that one,
    refined and settled, beats its IoU by ``reorient_margin``. ``occluders``: ``{(group,
    camera): [H, W] bool}`` pixels where other objects hide it (not counted: a partly
    hidden object is not a fallen one)."""
    cfg = ts.config
    for g in groups:
        segs = {c: matches[(g, c)].segment.mask for c in range(len(cams)) if (g, c) in matches}
        if not segs:
            continue
        hidden = {c: occluders[(g, c)] for c in segs if (g, c) in occluders} if occluders else {}

        def iou(alpha: Tensor, segs=segs, hidden=hidden) -> Tensor:
            return silhouette_iou(alpha, segs, hidden)

        here = iou(
            render_poses(state, g, state.positions[g][None], state.orientations[g][None], cams)
        )[0]
        if float(here) >= cfg.reorient_iou:
            continue
        quats = face_candidates(state.orientations[g], ts.boxes[g], cfg.reorient_yaws)
        pos = state.positions[g].expand(len(quats), 3).clone()
        pos[:, 2] = grounded_height(state, g, quats, float(ts.ground_gap[g]))
        alpha = render_poses(state, g, pos, quats, cams)
        centres = {c: matches[(g, c)].segment.centroid for c in segs}
        for k in range(len(quats)):  # each candidate's silhouette centred on the segments
            pos[k, :2] += _ground_shift(alpha[k], centres, pos[k], cams)
        scores = iou(render_poses(state, g, pos, quats, cams))
        best = int(torch.argmax(scores))
        if float(scores[best]) < float(here) + cfg.reorient_margin:
            continue
        p, q = state.positions.clone(), state.orientations.clone()
        p[g], q[g] = pos[best], quats[best]
        lin, ang = state.linear_velocity.clone(), state.angular_velocity.clone()
        lin[g, 2] = 0.0
        ang[g, :2] = 0.0
        cand = state.replace(positions=p, orientations=q, linear_velocity=lin, angular_velocity=ang)
        alone = render_poses(cand, g, p[g][None], q[g][None], cams)[0]
        wins = []
        for c in segs:
            ys, xs = (alone[c] > 0.5).nonzero(as_tuple=True)
            boxes = [matches[(g, c)].segment.box]
            if len(xs):
                boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
            wins.append(make_window(g, c, boxes, cfg.window_pad, matches[(g, c)].segment))
        refined, _ = refine_poses(cand, wins, images, cams, view, sigma, cfg,
                                  use_masks=use_masks, rotation="yaw", full=[g])  # fmt: skip
        refined = settle(refined, cand, [g], ts.boxes, ts.ground_gap)
        after = iou(
            render_poses(refined, g, refined.positions[g][None], refined.orientations[g][None],
                         cams)
        )[0]  # fmt: skip
        if float(after) >= float(here) + cfg.reorient_margin:
            state = refined
    return state
