"""The observe / update loop: predict with the dynamics, associate what the cameras show with
the predicted objects, correct the seen ones by render-and-compare, keep the unseen ones at
their predicted pose with a growing uncertainty. Objects are never deleted for being unseen.

:func:`observe_step` is a pure function of (tracking state, observation) returning the new
tracking state and diagnostics; :func:`observe` returns the state only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spatialwm.data.actions import PushAction, step_actions
from spatialwm.dynamics.proxy import proxies_from_state
from spatialwm.dynamics.slides import along_ground, still_sliding
from spatialwm.errors import InputError
from spatialwm.scene.render import Camera
from spatialwm.scene.state import SceneState
from spatialwm.track.associate import Match, Prediction, associate, predictions
from spatialwm.track.clutter import off_clutter, record_clutter
from spatialwm.track.free_slide import free_slides
from spatialwm.track.friction import friction_belief, push_speed, update_friction
from spatialwm.track.inputs import check_observation
from spatialwm.track.refine import make_window, refine_poses
from spatialwm.track.reorient import reorient
from spatialwm.track.rest import keep_on_ground, settle
from spatialwm.track.segments import Segment, segments_from_masks, segments_from_residual
from spatialwm.track.state import TrackState, ground_gaps, track_state
from spatialwm.track.surprise import step_surprise
from spatialwm.track.views import (
    camera_tensors,
    projection_jacobian,
    render_alone,
    render_scene,
    render_static,
    seen_colours,
)

Predict = Callable[[SceneState], SceneState]
SLIDE_VZ = 0.05  # m/s: an object moving up or down faster than this is not sliding


@dataclass(frozen=True)
class StepInfo:
    """Diagnostics of one observe step (``M`` groups, ``C`` cameras).

    Attributes:
        visibility: ``[M, C]`` estimated visible fraction of each object's full silhouette.
        seen: ``[M]`` bool: corrected from the images this step.
        matched: ``{group: {camera: Segment}}`` the association chose (for evaluation: the
            segments' ``label`` is the input's anonymous label).
        surprise: the step's surprise in [0, 1]; object_surprise: per group.
        amodal: ``[M, C, H, W]`` bool full silhouettes at the new poses (group 0 empty).
        predicted: the dynamics' prediction before correction.
        seconds: wall time of the step.
    """

    visibility: Tensor
    seen: Tensor
    matched: dict[int, dict[int, Segment]]
    surprise: float
    object_surprise: dict[int, float]
    amodal: Tensor
    predicted: SceneState
    seconds: float


def _box_of(mask: Tensor) -> tuple[int, int, int, int] | None:
    ys, xs = mask.nonzero(as_tuple=True)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _centroid(mask: Tensor) -> tuple[float, float] | None:
    ys, xs = mask.nonzero(as_tuple=True)
    if len(xs) == 0:
        return None
    return float(xs.float().mean()) + 0.5, float(ys.float().mean()) + 0.5


def _cover(s0: float, s1: float, a0: float, a1: float) -> float:
    """Smallest shift of the interval ``[a0, a1)`` that covers ``[s0, s1)`` (one axis)."""
    if s0 < a0 and s1 > a1:
        return (s0 + s1 - a0 - a1) / 2
    if s0 < a0:
        return s0 - a0
    if s1 > a1:
        return s1 - a1
    return 0.0


def _coarse_shift(
    g: int,
    pos: Tensor,
    cams: Sequence[Camera],
    preds: dict[tuple[int, int], Prediction],
    matches: dict[tuple[int, int], Match],
    limit: float,
) -> Tensor:
    """Ground-plane translation ``[3]`` that moves the predicted silhouette onto the segments:
    centre onto centre where the segment is nearly whole, else the smallest shift that makes the
    silhouette's box cover the segment's box (it is the visible part of the object). Least
    squares over the cameras, at most ``limit`` metres."""
    rows, rhs, big = [], [], []
    for c, cam in enumerate(cams):
        m, p = matches.get((g, c)), preds.get((g, c))
        if m is None or p is None:
            continue
        s = m.segment
        box = _box_of(p.amodal)
        if box is None:
            r0 = p.radius
            box = (p.centre[0] - r0, p.centre[1] - r0, p.centre[0] + r0, p.centre[1] + r0)
        if s.area >= 0.6 * max(p.amodal_area, 1):
            centre = _centroid(p.amodal) or p.centre
            r = torch.tensor(s.centroid) - torch.tensor(centre)
        else:
            r = torch.tensor(
                [
                    _cover(s.box[0], s.box[2], box[0], box[2]),
                    _cover(s.box[1], s.box[3], box[1], box[3]),
                ],
                dtype=torch.float32,
            )
        big.append(float(r.norm()) >= max(0.5 * p.radius, 2.0))
        rows.append(projection_jacobian(pos, cam)[:, :2])
        rhs.append(r)
    if not any(big):  # every view agrees with the prediction (or none saw it)
        return torch.zeros(3)
    A, b = torch.cat(rows), torch.cat(rhs)
    d = torch.linalg.lstsq(A, b[:, None]).solution[:, 0]
    n = float(d.norm())
    if n > limit:
        d = d * (limit / n)
    return torch.cat([d, torch.zeros(1)])


def push_velocities(actions) -> dict[int, tuple[float, float, float]]:
    """``{object id: velocity}`` of a step's ``push`` actions (the last one per object)."""
    return {a.object: a.velocity for a in step_actions(actions) if isinstance(a, PushAction)}


def _ground_pushes(
    state: SceneState, pushes: Mapping[int, Sequence[float]] | None, movable: Sequence[int]
) -> dict[int, Tensor]:
    """``{group: [2] ground velocity}`` of ``pushes`` along the ground
    (:func:`~spatialwm.dynamics.slides.along_ground`) on movable groups."""
    out = {}
    for oid, vel in (pushes or {}).items():
        v = torch.as_tensor(vel, dtype=torch.float64)
        if v.shape != (3,) or not bool(torch.isfinite(v).all()):
            raise InputError(f"observe: push velocity of object {oid} must be 3 finite numbers")
        g = state.group_of(int(oid))
        if g in movable and along_ground(v):
            out[g] = v[:2]
    return out


def _slide_starts(
    state: SceneState,
    pushes: Mapping[int, Sequence[float]] | None,
    ground_pushes: Mapping[int, Tensor],
    movable: Sequence[int],
) -> dict[int, Tensor]:
    """``{group: [2] ground velocity}`` each movable group starts the step with, for a free
    slide: a push's along the ground, else the velocity it carries if that is along the
    ground (vertical speed under :data:`SLIDE_VZ`); not for one pushed off the ground."""
    off_ground = {state.group_of(int(oid)) for oid in (pushes or {})} - set(ground_pushes)
    out = {}
    for g in movable:
        if g in ground_pushes:
            out[g] = ground_pushes[g]
        elif g not in off_ground and abs(float(state.linear_velocity[g, 2])) < SLIDE_VZ:
            out[g] = state.linear_velocity[g, :2].double()
    return out


def _with_velocity(state: SceneState, source: SceneState, groups: Sequence[int]) -> SceneState:
    """``state`` with the linear and angular velocities of ``groups`` taken from ``source``."""
    lin, ang = state.linear_velocity.clone(), state.angular_velocity.clone()
    lin[groups] = source.linear_velocity[groups].to(lin.dtype)
    ang[groups] = source.angular_velocity[groups].to(ang.dtype)
    return state.replace(linear_velocity=lin, angular_velocity=ang)


def _same_objects(pred, prev: SceneState, what: str) -> SceneState:
    """``pred`` if it is a SceneState of ``prev``'s objects; else an InputError naming
    ``what`` returned it."""
    if not isinstance(pred, SceneState) or not torch.equal(pred.object_ids, prev.object_ids):
        raise InputError(f"observe: {what} returned a state with other objects")
    return pred


def _with_rows(state: SceneState, source: SceneState, groups: Sequence[int]) -> SceneState:
    """``state`` with the poses and velocities of ``groups`` taken from ``source``."""
    idx = torch.as_tensor(list(groups), dtype=torch.long)
    fields = ("positions", "orientations", "linear_velocity", "angular_velocity")
    out = {}
    for name in fields:
        t = getattr(state, name).clone()
        t[idx] = getattr(source, name)[idx].to(t.dtype)
        out[name] = t
    return state.replace(**out)


def start_views(
    start: SceneState, movable: Sequence[int], cams: Sequence[Camera]
) -> tuple[bytes, Tensor, Tensor]:
    """What the cameras ``cams`` saw when tracking started from ``start``: ``(cameras' key,
    [C, H, W] where one of ``movable`` stood, [C, H, W, 3] the whole scene's colour)``. The
    key (their poses, intrinsics and sizes) tells whether a later step has the same cameras
    (:attr:`~spatialwm.track.state.TrackState.start_views` carries them from step to step)."""
    everything = list(range(1, start.num_groups))
    footprints = render_alone(start, movable, cams).gt(0.5).any(0)
    return _camera_key(cams), footprints, render_static(start, everything, cams)


def _camera_key(cams: Sequence[Camera]) -> bytes:
    viewmats, Ks = camera_tensors(cams)
    sizes = torch.tensor([[c.width, c.height] for c in cams], dtype=torch.float32)
    return torch.cat([viewmats.flatten(), Ks.flatten(), sizes.flatten()]).numpy().tobytes()


def _off_uncovered_ground(
    segments: Sequence[Sequence[Segment]],
    images: Tensor,
    footprints: Tensor,
    start_rgb: Tensor,
    amodal: Tensor,
    threshold: float,
) -> list[list[Segment]]:
    """RGB only: ``segments`` (per camera) less the regions that are mostly (over half their
    pixels) uncovered ground: where an object stood when tracking started (``footprints [C,
    H, W]``), where none is predicted now (``amodal [G, C, H, W]``, the movable objects'
    predicted full silhouettes), and where ``images [C, H, W, 3]`` differ from what stood
    there (``start_rgb``, by more than ``threshold``, as a residual). The reconstruction
    never saw that ground, so once the object has left it differs from the render of the
    static scene and looks like an object; an object back on its start spot looks like it
    did there and stays."""
    changed = (images - start_rgb).abs().amax(-1) > threshold
    uncovered = footprints & ~amodal.any(0) & changed
    return [
        [s for s in segs if int((s.mask & uncovered[c]).sum()) * 2 <= s.area]
        for c, segs in enumerate(segments)
    ]


def observe_step(
    predict: Predict,
    state: SceneState | TrackState,
    images,
    cameras,
    masks=None,
    *,
    known_cameras: Mapping[str, Camera] | None = None,
    rotation: str = "yaw",
    pushes: Mapping[int, Sequence[float]] | None = None,
    predict_hidden: Predict | None = None,
) -> tuple[TrackState, StepInfo]:
    """One predict / associate / correct step.

    Args:
        predict: the dynamics, ``SceneState -> SceneState`` (e.g. ``lambda s: wm.step(s, a)``).
        state: the previous tracking state (a plain ``SceneState`` starts tracking).
        images: ``[C, H, W, 3]`` RGB in [0, 1]; cameras: ``C`` cameras (or names of
            ``known_cameras``).
        masks: optional ``[C, H, W]`` anonymous instance segments (0 = background).
        rotation: ``"yaw"``: objects rest on the ground (the prediction's height and tilt
            are replaced by the previous ones; refinement along the ground and about +Z);
            ``"full"``: 6-DoF prediction and refinement.
        pushes: ``{object id: (vx, vy, vz)}`` the world velocities that pushes set at the
            start of this step (the step's ``push`` actions, :func:`push_velocities`): an
            object seen well before and after its push along the ground measures its
            friction from that first step (:mod:`spatialwm.track.friction`).
        predict_hidden: optional dynamics for the objects no camera saw at the last step
            (``hidden_steps > 0``): their predicted poses and velocities are taken from it
            (:meth:`~spatialwm.world.WorldModel.observe` passes the physics prior alone,
            whose free slides bend and stop short less than with the learned part, which
            no view corrects while they are hidden).

    Returns:
        ``(new tracking state, StepInfo)``.
    """
    t0 = time.perf_counter()
    ts = track_state(state)
    images, cams, masks = check_observation(images, cameras, masks, known_cameras=known_cameras)
    if ts.ground_gap is None or ts.proxies is None:  # a TrackState built by hand
        ts = ts.replace(ground_gap=ground_gaps(ts.scene), proxies=proxies_from_state(ts.scene))
    cfg = ts.config
    prev = ts.scene
    pred = _same_objects(predict(prev), prev, "the dynamics")
    m = prev.num_groups
    static = [prev.group_of(i) for i in sorted(ts.static)]
    if predict_hidden is not None:
        hid = [g for g in range(1, m) if int(ts.hidden_steps[g]) > 0 and g not in static]
        if hid:
            alt = _same_objects(predict_hidden(prev), prev, "predict_hidden")
            pred = _with_rows(pred, alt, hid)
    if static:
        still = prev.replace(
            linear_velocity=torch.zeros_like(prev.linear_velocity),
            angular_velocity=torch.zeros_like(prev.angular_velocity),
        )
        pred = _with_rows(pred, still, static)
    movable = [g for g in range(1, m) if g not in static]
    pushed = _ground_pushes(prev, pushes, movable)
    starts: dict[int, Tensor] = {}
    glided: list[int] = []  # groups the free slide moved
    if rotation == "yaw":
        pred = keep_on_ground(pred, prev, movable, settle_down=True)
        mu = ts.friction if ts.friction is not None else prev.friction
        if cfg.free_slide and mu is not None:
            starts = _slide_starts(prev, pushes, pushed, movable)
            dynamics = pred  # the dynamics' prediction, before the free slides
            pred, glided = free_slides(prev, pred, starts, mu, ts.proxies, cfg.dt)
    disp = (pred.positions - prev.positions).norm(dim=-1)
    sigma = (ts.sigma + cfg.sigma_process + cfg.sigma_motion * disp).clamp(max=cfg.sigma_max)
    sigma[0] = 0.0
    for g in static:
        sigma[g] = cfg.sigma_seen
    groups = list(range(1, m))
    C = len(cams)
    radii = ts.radii if ts.radii is not None else torch.full((m,), 0.03)

    view = render_scene(pred, cams)
    alone = render_alone(pred, groups, cams, colours=view.colors)  # [G, C, H, W, 4]
    amodal = alone[..., 3] > 0.5  # [G, C, H, W]
    modal = (view.groups[..., 1:] > 0.5).permute(3, 0, 1, 2)  # [G, C, H, W]
    seen_at_start = ts.start_views
    clutter = ts.clutter
    key = _camera_key(cams)
    if masks is not None:
        segments = segments_from_masks(masks, images, cfg.min_pixels)
    else:
        background = render_static(pred, static, cams)
        segments = segments_from_residual(
            images, background, cfg.residual_threshold, cfg.min_pixels
        )
        if ts.start is not None and movable:
            if seen_at_start is None or seen_at_start[0] != key:
                seen_at_start = start_views(ts.start, movable, cams)
            segments = _off_uncovered_ground(
                segments, images, seen_at_start[1], seen_at_start[2],
                amodal[[g - 1 for g in movable]], cfg.residual_threshold,
            )  # fmt: skip
        if clutter is not None and clutter[0] == key:
            segments = off_clutter(segments, images, clutter, cfg.residual_threshold)
    colours, cover = seen_colours(alone)  # [G, C, 3]: what each camera should see of each
    if ts.colours is not None:  # ... or, where it renders next to nothing, the base colour
        few = cover < 1.0
        colours[few] = ts.colours[groups][:, None].expand_as(colours)[few]
    preds = predictions(pred.positions, radii, sigma, groups, cams, amodal, modal, colours)
    matches, unmatched = associate(preds, segments, groups, cfg.gate, cfg.colour_gate)
    # what hides each object in the prediction: pixels where another group is in front
    front = view.groups[..., 1:].argmax(-1) + 1  # [C, H, W] strongest object group
    solid = view.groups[..., 1:].amax(-1) > 0.5
    occluders = {
        (g, c): solid[c] & (front[c] != g) for g in movable for c in range(C) if (g, c) in preds
    }
    surprise, per_object = step_surprise(
        preds, matches, unmatched, movable, C,
        gate=cfg.gate, min_pixels=cfg.min_pixels, use_unmatched=masks is not None,
        occluders=occluders,
    )  # fmt: skip

    if masks is None and (clutter is None or clutter[0] != key):  # first step with these cameras
        clutter = record_clutter(key, unmatched, amodal[[g - 1 for g in movable]], images)

    # recovery (after the surprise is measured): objects found in no camera may take a
    # leftover segment under a much wider gate, so that a track lost to a bad prediction (or an
    # impossible event) is picked up again instead of staying lost
    lost = [g for g in movable if not any((g, c) in matches for c in range(C))]
    if lost and unmatched:
        preds_wide = {k: p for k, p in preds.items() if k[0] in lost}
        by_cam = [[s for s in unmatched if s.camera == c] for c in range(C)]
        extra, _ = associate(
            preds_wide, by_cam, lost, cfg.gate * cfg.recovery_gate, cfg.colour_gate
        )
        matches = {**matches, **extra}

    # correct the seen movable objects
    fit = [g for g in movable if any((g, c) in matches for c in range(C))]
    pos = pred.positions.clone()
    shifts: dict[int, Tensor] = {}
    for g in fit:
        limit = cfg.gate * cfg.recovery_gate * float(sigma[g])
        shifts[g] = _coarse_shift(g, pos[g], cams, preds, matches, limit)
        pos[g] = pos[g] + shifts[g]
    start = pred.replace(positions=pos)
    windows, boxes, full = [], [], []
    for g in fit:
        # a sliver (an object going behind or coming out from an occluder) constrains the pose
        # poorly: only the coarse shift then, no render-and-compare
        seen_part = max(
            matches[(g, c)].segment.area / max(preds[(g, c)].amodal_area, 1)
            for c in range(C)
            if (g, c) in matches
        )
        if seen_part < cfg.min_refine_fraction:
            continue
        well = [
            c
            for c in range(C)
            if (g, c) in matches
            and matches[(g, c)].segment.area >= 0.6 * max(preds[(g, c)].amodal_area, 1)
        ]
        if len(well) >= 2:
            full.append(g)
        for c in range(C):
            mt = matches.get((g, c))
            if mt is None:
                continue
            p = preds[(g, c)]
            off = (projection_jacobian(pred.positions[g], cams[c]) @ shifts[g]).tolist()
            bx = [mt.segment.box]
            ab = _box_of(p.amodal)
            if ab is not None:
                bx.append((ab[0] + off[0], ab[1] + off[1], ab[2] + off[0], ab[3] + off[1]))
            boxes.append(bx)
            windows.append((g, c, mt.segment))
    new = start
    if windows:
        wins = [
            make_window(g, c, bx, cfg.window_pad, seg)
            for (g, c, seg), bx in zip(windows, boxes, strict=True)
        ]
        new, _ = refine_poses(
            start, wins, images, cams, view, sigma, cfg,
            use_masks=masks is not None, rotation=rotation, full=full,
        )  # fmt: skip
        if rotation == "yaw":
            new = settle(new, start, full, ts.boxes, ts.ground_gap)
            # objects seen in two views may have fallen over (a lying object's silhouette is
            # no longer 60 % of the standing one's, so it need not be among the 6-DoF fits)
            twice = [g for g in fit if sum((g, c) in matches for c in range(C)) >= 2]
            new = reorient(new, twice, matches, images, cams, view, sigma, ts,
                           use_masks=masks is not None, occluders=occluders)  # fmt: skip

    # visibility and memory
    final_amodal = torch.zeros(m, C, *images.shape[1:3], dtype=torch.bool)
    final_amodal[1:] = amodal
    if fit:
        final_amodal[fit] = render_alone(new, fit, cams) > 0.5
    vis = torch.zeros(m, C)
    matched: dict[int, dict[int, Segment]] = {}
    for (g, c), mt in matches.items():
        area = int(final_amodal[g, c].sum())
        vis[g, c] = min(1.0, mt.segment.area / max(area, 1))
        matched.setdefault(g, {})[c] = mt.segment
    seen = torch.zeros(m, dtype=torch.bool)
    for g in fit:
        seen[g] = bool((vis[g] > cfg.visible_fraction).any())
    for g in static:
        seen[g] = bool((vis[g] > cfg.visible_fraction).any())
    seen_sigma = cfg.sigma_seen + 0.02 * (1.0 - vis.amax(1).clamp(0, 1)) if C else sigma
    new_sigma = torch.where(seen, torch.minimum(seen_sigma, sigma), sigma)
    new_sigma[0] = 0.0
    hidden = torch.where(seen, torch.zeros_like(ts.hidden_steps), ts.hidden_steps + 1)
    hidden[0] = 0
    # the ground friction from the slides seen (three consecutive well-seen positions)
    well = torch.zeros(m, dtype=torch.bool)
    for g in fit:
        well[g] = bool(seen[g]) and float(vis[g].max()) > 0.5
    history = ts.history if ts.history is not None else torch.full((m, 3, 2), math.nan)
    latest = torch.where(well[:, None], new.positions[:, :2], torch.full((m, 2), math.nan))
    history = torch.cat([history[:, 1:], latest[:, None]], 1)
    friction, belief = ts.friction, ts.friction_belief
    slid: list[int] = []  # pushes whose velocity the friction estimate sets
    if friction is not None:
        if belief is None:  # a TrackState built by hand
            belief = friction_belief(friction, cfg.friction_std)
        belief, used = update_friction(
            belief, history, movable, cfg.dt, noise=cfg.friction_noise, pushes=pushed
        )
        if used:
            friction = belief.estimate
            new = new.replace(friction=friction.clone())
        # a push set the object's velocity, so one step of sliding later it goes at what its
        # friction leaves of the push: the dynamics' own velocity is slower (its learned part
        # may slow an object, never speed it up; 1.28 m/s after one step of a 2.1 m/s push
        # whose truth goes on at 1.5). For a push measured from that step; and for one not
        # seen well at both ends of the step (nothing measured it) whose step, as the loop
        # ends it (a sliver's shift or the prediction), was a free slide still going at its
        # end. Not for one that hit something within the step, nor for one seen well whose
        # measurement the filter rejected (it grips far harder than the estimate).
        seen_both = torch.isfinite(history[:, 1:]).all(dim=(1, 2))
        slid = [
            g
            for g in pushed
            if g in used  # measured by the push (update_friction's pushes=)
            or (
                not bool(seen_both[g])
                and still_sliding(
                    torch.stack([prev.positions[g, :2], new.positions[g, :2]]), pushed[g], cfg.dt
                )
            )
        ]
        if slid:
            lin = new.linear_velocity.clone()
            for g in slid:
                u = float(pushed[g].norm())
                speed = push_speed(u, float(friction[g]), cfg.dt)
                lin[g, :2] = (pushed[g] * (speed / u)).to(lin.dtype)
            new = new.replace(linear_velocity=lin)
    # a free slide seen well, that went elsewhere than friction at its estimate takes it (it
    # met something, or grips otherwise), hands on the dynamics' velocity, not the slide's
    off = 3.0 * math.sqrt(2.0) * cfg.friction_noise  # two positions' noise, 3 std
    strayed = [
        g
        for g in glided
        if g not in slid
        and bool(well[g])
        and float((new.positions[g, :2] - pred.positions[g, :2]).norm()) > off
    ]
    if strayed:
        new = _with_velocity(new, dynamics, strayed)
    if cfg.velocity_gain > 0 and fit:
        # alpha-beta filter: a correction of the predicted position also corrects the
        # velocity the dynamics carries on with (along the ground)
        dt = max(cfg.dt, 1e-6)
        lin = new.linear_velocity.clone()
        for g in fit:
            if not bool(seen[g]):
                continue
            d = new.positions[g, :2] - pred.positions[g, :2]
            if float(d.norm()) > cfg.velocity_deadband:
                lin[g, :2] = lin[g, :2] + cfg.velocity_gain * d / dt
        new = new.replace(linear_velocity=lin)
    out = ts.replace(
        scene=new, sigma=new_sigma, hidden_steps=hidden, visibility=vis, surprise=surprise,
        friction=friction, friction_belief=belief, history=history, start_views=seen_at_start,
        clutter=clutter,
    )  # fmt: skip
    info = StepInfo(
        visibility=vis,
        seen=seen,
        matched=matched,
        surprise=surprise,
        object_surprise=per_object,
        amodal=final_amodal,
        predicted=pred,
        seconds=time.perf_counter() - t0,
    )
    return out, info


def observe(
    predict: Predict,
    state: SceneState | TrackState,
    images,
    cameras,
    masks=None,
    **kwargs,
) -> TrackState:
    """:func:`observe_step` without the diagnostics: the new :class:`TrackState`."""
    return observe_step(predict, state, images, cameras, masks, **kwargs)[0]


__all__ = [
    "Predict",
    "Segment",
    "StepInfo",
    "observe",
    "observe_step",
    "push_velocities",
    "start_views",
]
