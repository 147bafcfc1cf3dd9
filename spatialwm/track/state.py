"""The tracking state: a scene state plus what the observe loop remembers per object.

:class:`TrackState` is a frozen dataclass wrapping a :class:`~spatialwm.scene.state.SceneState`;
``observe`` returns a new one each step (no hidden mutable state). Per group ``g`` (index
into ``scene.object_ids``, background included so indices line up):

* ``sigma[g]``: position standard deviation in metres (isotropic); small when the object was
  just seen, growing while it stays hidden (see :class:`TrackConfig`).
* ``hidden_steps[g]``: consecutive steps no camera saw the object (0 when seen).
* ``visibility[g, c]``: estimated visible fraction of the full (amodal) silhouette in camera
  ``c`` at the last observed step (empty before the first observation).
* ``surprise``: the last step's prediction-error signal (see :mod:`spatialwm.track.surprise`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from spatialwm.dynamics.prior import MAX_FRICTION
from spatialwm.dynamics.proxy import Proxies, proxies_from_state
from spatialwm.dynamics.slides import FloorFriction
from spatialwm.errors import InputError
from spatialwm.scene.state import SceneState, group_slice, quat_to_matrix
from spatialwm.track.friction import FrictionBelief, friction_belief

FIT_GAUSSIANS = 800  # Gaussians per object that pose refinement renders (and that set heights)


@dataclass(frozen=True)
class TrackConfig:
    """Settings of the observe loop (metres, pixels, steps).

    Attributes:
        sigma_seen: position std of an object just corrected by render-and-compare.
        sigma_process: std added every step (unmodelled motion).
        sigma_motion: fraction of the predicted displacement added to the std (the dynamics
            is less sure of objects it moves).
        sigma_max: cap of the std.
        gate: Mahalanobis gate (in standard deviations) of an association.
        recovery_gate: an object no camera found may take a leftover segment within
            ``gate * recovery_gate`` stds (after the surprise is measured).
        colour_gate: a segment whose mean RGB is farther than this from the object's mean
            colour is not that object (only rules out other-looking objects; identity among
            look-alikes comes from geometry).
        min_pixels: smallest instance segment (pixels) that counts as a detection.
        iterations: Adam iterations of the pose refinement (early stop on small updates).
        min_refine_fraction: objects seen at less than this fraction of their predicted
            full silhouette (in their best view) get the coarse shift only.
        lr_translation, lr_rotation: Adam step sizes (metres, radians); the translation's
            is 0.3 std per object, at most ``lr_translation``.
        mask_weight: weight of the mask loss against the L1 photometric loss.
        window_pad: pixels added around an object's window.
        render_size: every window is rendered at this many pixels square (big objects at a
            lower resolution, small ones upsampled).
        max_gaussians: the refinement renders at most this many Gaussians of each fitted
            object (the most opaque and largest).
        residual_threshold: RGB-only mode: per-pixel max channel difference above which a pixel
            is not explained by the background.
        visible_fraction: an object counts as visible in a view above this fraction.
        velocity_gain: a seen object's velocity is corrected by this fraction of its
            position correction per ``dt`` (alpha-beta filter; 0: keep the dynamics').
        velocity_deadband: corrections below this (m) leave the velocity alone.
        dt: seconds per step (for the velocity correction).
        reorient_iou: in ``rotation="yaw"`` mode an object seen in two views whose rendered
            silhouette matches its segments by less than this IoU after the fit (pixels other
            objects hide left out) is tried on every face of its proxy box
            (:mod:`spatialwm.track.rest`): it may have fallen over while hidden, a turn no
            local fit reaches.
        reorient_yaws: headings tried per face.
        reorient_margin: a face is taken when its silhouette IoU beats the fit's by this
            much (and again after it is refined).
        estimate_friction: estimate the ground friction from the slides the cameras see
            (:mod:`spatialwm.track.friction`; needs a starting value, ``track_state(...,
            friction=)``).
        friction_std: std of the starting friction (of the hypothesis that an object has its
            own: :mod:`spatialwm.track.friction`).
        friction_noise: std (m) of a well-seen object's ground position.
        free_slide: objects sliding on the ground with nothing in their way move by Coulomb
            friction at their estimate rather than as the dynamics predicts (``rotation=
            "yaw"`` only: :mod:`spatialwm.track.free_slide`).
    """

    sigma_seen: float = 0.005
    sigma_process: float = 0.004
    sigma_motion: float = 0.25
    sigma_max: float = 0.5
    gate: float = 4.0
    recovery_gate: float = 4.0
    colour_gate: float = 0.2
    min_pixels: int = 6
    iterations: int = 12
    min_refine_fraction: float = 0.3
    lr_translation: float = 0.01
    lr_rotation: float = 0.04
    mask_weight: float = 2.0
    window_pad: int = 6
    render_size: int = 32
    max_gaussians: int = FIT_GAUSSIANS
    residual_threshold: float = 0.12
    visible_fraction: float = 0.05
    velocity_gain: float = 0.0
    velocity_deadband: float = 0.005
    dt: float = 0.1
    reorient_iou: float = 0.6
    reorient_yaws: int = 8
    reorient_margin: float = 0.1
    estimate_friction: bool = True
    friction_std: float = 0.2
    friction_noise: float = 0.004
    free_slide: bool = True


@dataclass(frozen=True)
class TrackState:
    """A scene state plus per-object tracking memory (see the module docstring).

    Attributes:
        scene: the current :class:`SceneState` (every object, seen or not).
        sigma: ``[M]`` position std (m), 0 for the background.
        hidden_steps: ``[M]`` int64 consecutive unseen steps.
        visibility: ``[M, C]`` visible fraction per camera of the last step (``[M, 0]`` at
            first).
        static: object ids that never move (occluders such as a wall): not refined.
        surprise: the last step's surprise (0 before any observation).
        config: the loop's settings.
        radii: ``[M]`` object radii (m) around their frames (computed once from the
            Gaussians by :func:`track_state`).
        colours: ``[M, 3]`` mean colour of each object's confident Gaussians (likewise).
        ground_gap: ``[M]`` height (m) of each object's lowest Gaussian centres above the
            ground plane ``z = 0`` in the starting state (:func:`ground_gaps`), at most
            :data:`MAX_GROUND_GAP`: where they are put when a fit turns the object onto another
            face of its proxy (the surface lies about a Gaussian's scale below its centres).
        proxies: the objects' proxy boxes (:func:`~spatialwm.dynamics.proxy.proxies_from_state`
            of the starting scene; what a free slide must keep clear of, and whose faces are
            the objects' rest poses: :attr:`boxes`).
        friction: ``[M]`` each object's ground friction estimate (also ``scene.friction``),
            or ``None``: not estimated; friction_belief: what it is estimated from
            (:class:`~spatialwm.track.friction.FrictionBelief`).
        history: ``[M, 3, 2]`` each object's ground position at the last three steps
            where it was seen well (NaN where not; :mod:`spatialwm.track.friction`).
        start: the scene tracking started from (where each object first stood: the ground
            it hid there was never seen, and RGB only, shows as a region once it has left).
        start_views: what the last step's cameras saw of ``start`` (RGB only:
            :func:`~spatialwm.track.loop.start_views`, rendered once while the cameras stay).
        clutter: RGB only: the residual regions no object explained at the first step with
            the last step's cameras, and the images they were seen in
            (:mod:`spatialwm.track.clutter`).
    """

    scene: SceneState
    sigma: Tensor
    hidden_steps: Tensor
    visibility: Tensor
    static: frozenset[int] = frozenset()
    surprise: float = 0.0
    config: TrackConfig = field(default_factory=TrackConfig)
    radii: Tensor | None = None
    colours: Tensor | None = None
    ground_gap: Tensor | None = None
    proxies: Proxies | None = None
    friction: Tensor | None = None
    friction_belief: FrictionBelief | None = None
    history: Tensor | None = None
    start: SceneState | None = None
    start_views: tuple[bytes, Tensor, Tensor] | None = None
    clutter: tuple[bytes, Tensor, Tensor] | None = None

    @property
    def boxes(self) -> Tensor | None:
        """``[M, 4]`` rotation of each object's proxy box in its canonical frame (its rest
        poses are the box's faces: :mod:`spatialwm.track.rest`), from :attr:`proxies`."""
        from spatialwm.track.rest import box_rotations

        return None if self.proxies is None else box_rotations(self.scene, self.proxies)

    @property
    def step(self) -> int:
        return self.scene.step

    def replace(self, **changes) -> TrackState:
        """A new tracking state with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def track_state(
    scene: SceneState | TrackState,
    *,
    static: Iterable[int] = (),
    config: TrackConfig | None = None,
    friction: float | FloorFriction | None = None,
) -> TrackState:
    """Start tracking from ``scene`` (objects known, uncertainty ``sigma_seen``); a
    :class:`TrackState` is returned as is (with ``config`` replaced if given).

    ``friction``: the floor's friction (e.g. ``wm.model.floor``, or a number), where every
    object's estimate from observed slides starts (``TrackConfig.estimate_friction``); with
    the spread and share of a :class:`~spatialwm.dynamics.slides.FloorFriction`, the
    estimate also weighs the hypothesis that the object slides like the floor
    (:mod:`spatialwm.track.friction`); ``None``: the scene's own estimates if it has them,
    else no estimate."""
    if isinstance(scene, TrackState):
        return scene if config is None else scene.replace(config=config)
    if not isinstance(scene, SceneState):
        raise InputError(f"observe: expected a SceneState or TrackState, got {type(scene)!r}")
    cfg = config or TrackConfig()
    m = scene.num_groups
    known = {int(i) for i in scene.object_ids[1:]}
    static = frozenset(int(i) for i in static)
    if not static <= known:
        raise InputError(f"static objects {sorted(static - known)} are not in the scene")
    sigma = torch.full((m,), cfg.sigma_seen)
    sigma[0] = 0.0
    if friction is not None and not isinstance(friction, FloorFriction):
        friction = FloorFriction(float(friction))  # a number: the floor's, no spread
    if friction is not None and not (0.0 <= friction.friction <= MAX_FRICTION):
        raise InputError(
            f"track_state: friction must be in [0, {MAX_FRICTION:g}], got {friction.friction}"
        )
    proxies = proxies_from_state(scene)
    start = belief = None
    if cfg.estimate_friction:
        if friction is not None:
            scene = scene.replace(friction=torch.full((m,), friction.friction))
        if scene.friction is not None:
            start = scene.friction.float().clone()
            belief = friction_belief(start, cfg.friction_std, friction)
    return TrackState(
        scene=scene,
        sigma=sigma,
        hidden_steps=torch.zeros(m, dtype=torch.int64),
        visibility=torch.zeros(m, 0),
        static=static,
        config=cfg,
        radii=object_radii(scene),
        colours=object_colours(scene),
        ground_gap=ground_gaps(scene),
        proxies=proxies,
        friction=start,
        friction_belief=belief,
        start=scene,
        history=torch.cat(  # the start is a position seen well
            [torch.full((m, 2, 2), math.nan), scene.positions[:, None, :2].float()], 1
        ),
    )


def object_radii(state: SceneState) -> Tensor:
    """``[M]`` radius (m) of each group's Gaussians around its frame (90th percentile of the
    confident ones), 0 for the background."""
    g = state.gaussians
    out = torch.zeros(state.num_groups)
    for k in range(1, state.num_groups):
        sl = group_slice(state, k)
        if sl.stop <= sl.start:
            continue
        pts = g.means[sl]
        solid = torch.sigmoid(g.opacities[sl]) > 0.5
        if int(solid.sum()) >= 10:
            pts = pts[solid]
        out[k] = float(torch.quantile(pts.norm(dim=-1).float(), 0.9))
    return out


MAX_GROUND_GAP = 0.01  # m: an object starting higher (on another one) is given this gap
LOWEST_FRACTION = 0.02  # the "lowest Gaussians": this fraction of the fitted ones, at least 3


def fitted_rows(state: SceneState, group: int, max_gaussians: int) -> Tensor:
    """Indices (into the packed Gaussians) of the at most ``max_gaussians`` of ``group`` that
    pose refinement renders: the most opaque and largest."""
    g = state.gaussians
    sl = group_slice(state, group)
    score = g.opacities[sl] + g.scales[sl].sum(-1)
    return sl.start + torch.argsort(score, descending=True)[:max_gaussians]


def lowest_height(z: Tensor) -> Tensor:
    """Mean of the lowest :data:`LOWEST_FRACTION` (at least 3) of heights ``z [n]``: a
    robust, differentiable lowest point of an object's Gaussian centres (``[]``)."""
    k = min(len(z), max(3, round(LOWEST_FRACTION * len(z))))
    return -torch.topk(-z, k).values.mean()


def lowest_offsets(state: SceneState, group: int, orientations: Tensor) -> Tensor:
    """``[P]`` height of ``group``'s lowest Gaussian centres (:func:`lowest_height` of the
    :data:`FIT_GAUSSIANS` refinement fits) relative to its frame's origin, at each of
    ``orientations [P, 4]``."""
    means = state.gaussians.means[fitted_rows(state, group, FIT_GAUSSIANS)].float()
    R = quat_to_matrix(orientations.float())  # [P, 3, 3]
    z = torch.einsum("pj,nj->pn", R[:, 2, :], means)  # [P, n] world z offsets
    return torch.stack([lowest_height(row) for row in z])


def ground_gaps(state: SceneState) -> Tensor:
    """``[M]`` height (m) of each object's lowest Gaussian centres (:func:`lowest_offsets`)
    above ``z = 0`` in ``state``, clamped to ``[0,`` :data:`MAX_GROUND_GAP` ``]``; 0 for the
    background and empty objects."""
    out = torch.zeros(state.num_groups)
    for k in range(1, state.num_groups):
        if state.offsets[k + 1] > state.offsets[k]:
            low = lowest_offsets(state, k, state.orientations[k][None])[0]
            out[k] = float(state.positions[k, 2] + low)
    return out.clamp(0.0, MAX_GROUND_GAP)


def object_colours(state: SceneState) -> Tensor:
    """``[M, 3]`` opacity-weighted mean base colour (SH degree 0) of each group."""
    from spatialwm.render.sh import sh_to_rgb

    g = state.gaussians
    out = torch.zeros(state.num_groups, 3)
    for k in range(1, state.num_groups):
        sl = group_slice(state, k)
        if sl.stop <= sl.start:
            continue
        w = torch.sigmoid(g.opacities[sl])[:, None]
        rgb = sh_to_rgb(g.sh[sl, 0]).clamp(0, 1)
        out[k] = (w * rgb).sum(0) / w.sum().clamp_min(1e-8)
    return out


__all__ = [
    "FIT_GAUSSIANS",
    "MAX_GROUND_GAP",
    "TrackConfig",
    "TrackState",
    "fitted_rows",
    "ground_gaps",
    "lowest_height",
    "lowest_offsets",
    "object_colours",
    "object_radii",
    "track_state",
]
