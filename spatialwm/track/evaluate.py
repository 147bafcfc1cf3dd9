"""Replay an episode's observation frames through the observe loop and score it against the
generator's ground truth, next to a frame-by-frame baseline.

Per step the loop gets the observation cameras' images and (unless RGB only) the instance
masks **relabelled at random** (anonymous segments: the mask id is never used to decide
identity; the true id is looked up afterwards, for scoring only).

Step categories per object (from the episode's visibility): *fully occluded* (0 in every
observation camera), *partly occluded* (seen, at most 95 % in its best camera), *visible*;
*reappeared* = the first 3 steps after a fully occluded run. Amodal IoU is per object and
camera (the object's full silhouette rendered alone at the tracked pose against the
generator's ``amodal/`` masks), split by that camera's visibility of the object.

Baseline ("keeps only what it sees"): each step, the objects the loop saw carry their
corrected pose; the unseen are dropped; a detection takes the identity of the nearest track of
the previous step (10 cm gate) or starts a new one. It is generous (its poses are the loop's
corrections) but has no memory: hidden objects are lost and come back under new identities.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from spatialwm.scene.render import Camera
from spatialwm.track.loop import StepInfo, observe_step, push_velocities
from spatialwm.track.smooth import smooth_track
from spatialwm.track.state import TrackConfig, track_state
from spatialwm.track.views import render_alone

VISIBLE = 0.95  # visibility at or above which an object counts as fully visible
REAPPEAR = 3  # steps after a fully occluded run that count as "after reappearance"
CATEGORIES = ("visible", "partly occluded", "fully occluded", "reappeared")


@dataclass
class EpisodeResult:
    """One episode's per-step records and pooled samples.

    Attributes:
        steps: per step ``{"step", "poses", "visibility", "seen", "sigma", "surprise",
            "object_surprise", "seconds"}`` (JSON-able).
        samples: ``samples[method][metric]`` lists (method ``ours`` / ``smoothed`` (``ours``
            revised after the fact, :mod:`spatialwm.track.smooth`) / ``baseline``; metrics
            ``pos <category>`` in cm, ``iou <category>``, plus counters).
        surprise: per-step surprise (step 0: 0).
        violation: the impossible event's ``{"step", "object", "type"}`` or None.
    """

    name: str
    steps: list[dict] = field(default_factory=list)
    samples: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    surprise: list[float] = field(default_factory=list)
    violation: dict | None = None
    objects: int = 0


def visibility_category(v: float) -> str:
    """``"visible"``, ``"partly occluded"`` or ``"fully occluded"`` for a visible fraction."""
    if v <= 0.0:
        return "fully occluded"
    return "visible" if v >= VISIBLE else "partly occluded"


def _category(vis: dict[str, float], cams: Sequence[str]) -> str:
    return visibility_category(max(vis.get(c, 0.0) for c in cams))


def _relabel(mask: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, dict[int, int]]:
    ids = [int(i) for i in mask.unique() if int(i) != 0]
    labels = rng.permutation(np.arange(1, 256))[: len(ids)]
    out = torch.zeros_like(mask)
    truth = {}
    for i, lab in zip(ids, labels, strict=True):
        out[mask == i] = int(lab)
        truth[int(lab)] = i
    return out, truth


def _true_id(segment, gt_mask: torch.Tensor) -> int:
    vals = gt_mask[segment.mask]
    vals = vals[vals != 0]
    if len(vals) == 0:
        return 0
    return int(torch.mode(vals).values)


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def _add_position(samples: dict, cat: str, err: float, since_hidden: int) -> None:
    """File one position error (cm) under its step category, and under ``reappeared`` too
    within :data:`REAPPEAR` steps of a fully occluded run."""
    samples[f"pos {cat}"].append(err)
    if cat != "fully occluded" and since_hidden <= REAPPEAR:
        samples["pos reappeared"].append(err)


def _amodal_truths(amodal_gt, truth, cams: Sequence[str], obj_index: dict, i: int):
    """``(camera index, visibility category, [H, W] bool true full silhouette)`` of object
    ``i`` in each camera whose amodal mask shows it."""
    for k, c in enumerate(cams):
        if amodal_gt[k] is None or i not in obj_index:
            continue
        gt = amodal_gt[k][obj_index[i]]
        if int(gt.sum()) > 0:
            yield k, visibility_category(truth.visibility.get(c, {}).get(i, 0.0)), gt


def track_episode(
    wm,
    dataset,
    *,
    masks: bool = True,
    static: Sequence[int] = (),
    cameras: Sequence[str] | None = None,
    steps: int | None = None,
    config: TrackConfig | None = None,
    seed: int = 0,
    log: Callable[[str], None] = lambda s: None,
) -> EpisodeResult:
    """Run the observe loop over ``dataset``'s episode (``wm``: a WorldModel of its step-0
    reconstruction) and score it (see the module docstring)."""
    ep = dataset.episode
    cams = list(cameras or ep.cameras)
    T = len(ep) if steps is None else min(len(ep), steps + 1)
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in wm.state.object_ids[1:]]
    movable = [i for i in ids if i not in set(static)]
    obj_index = {o.id: k for k, o in enumerate(dataset.objects)}
    res = EpisodeResult(name=str(dataset.root.name), objects=len(movable))
    res.violation = (ep.metadata.get("violation") or {}).get("events", [None])[0]
    ts = track_state(wm.state, static=static, config=config or TrackConfig(dt=ep.dt),
                     friction=wm.model.floor)  # fmt: skip
    hidden_run = {i: 0 for i in movable}
    since_hidden = {i: 10**6 for i in movable}
    base_tracks: dict[int, tuple[np.ndarray, int]] = {}  # track id -> (position, true id)
    base_ids: dict[int, int] = {}  # true id -> its last baseline track id
    next_track = 1 + max(ids)
    ours_last: dict[int, int] = {}
    amodal_gts: dict[int, list] = {}  # step -> the cameras' true full silhouettes
    for t in range(T):
        frames = [dataset.frame_index(c, t) for c in cams]
        gt_masks = [dataset.mask(i) for i in frames]
        info: StepInfo | None = None
        if t > 0:
            images = torch.stack([dataset.image(i) for i in frames])
            cam_objs = [Camera.from_dataset(dataset, i) for i in frames]
            obs_masks = None
            if masks:
                obs_masks = torch.stack([_relabel(m, rng)[0] for m in gt_masks])
            acts = list(ep.steps[t - 1].actions)
            predict, hidden = wm.observe_dynamics(acts)
            ts, info = observe_step(
                predict, ts, images, cam_objs, obs_masks,
                pushes=push_velocities(acts), predict_hidden=hidden,
            )  # fmt: skip
        poses = wm.object_poses(ts.scene)
        truth = ep.steps[t]
        rec = {
            "step": t,
            "poses": {str(i): poses[i] for i in ids},
            "sigma": {str(i): float(ts.sigma[ts.scene.group_of(i)]) for i in ids},
            "friction": {str(i): float(ts.friction[ts.scene.group_of(i)]) for i in ids},
            "surprise": info.surprise if info else 0.0,
        }
        if info is not None:
            rec["visibility"] = {
                str(i): {c: float(info.visibility[ts.scene.group_of(i), k]) for k, c in
                    enumerate(cams)} for i in ids
            }  # fmt: skip
            rec["seen"] = [i for i in ids if bool(info.seen[ts.scene.group_of(i)])]
            rec["object_surprise"] = {
                str(int(ts.scene.object_ids[g])): v for g, v in info.object_surprise.items()
            }
            rec["seconds"] = info.seconds
        res.steps.append(rec)
        res.surprise.append(rec["surprise"])
        if info is None:
            continue
        # ---- ours
        amodal_gt = [dataset.amodal(i) for i in frames]
        amodal_gts[t] = amodal_gt
        detections = []  # (true id, position) of what was seen, for the baseline
        for i in movable:
            g = ts.scene.group_of(i)
            vis = truth.visibility
            cat = _category({c: vis.get(c, {}).get(i, 0.0) for c in cams}, cams)
            if cat == "fully occluded":
                hidden_run[i] += 1
                since_hidden[i] = 0
            else:
                since_hidden[i] += 1
            err = 100 * float(np.linalg.norm(np.subtract(poses[i][:3], truth.objects[i].position)))
            _add_position(res.samples["ours"], cat, err, since_hidden[i])
            for k, ccat, gt in _amodal_truths(amodal_gt, truth, cams, obj_index, i):
                res.samples["ours"][f"iou {ccat}"].append(_iou(info.amodal[g, k], gt))
                res.samples["baseline"][f"iou {ccat}"].append(
                    _iou(info.amodal[g, k], gt) if bool(info.seen[g]) else 0.0
                )
            if cat == "fully occluded":
                res.samples["ours"]["kept while hidden"].append(1.0)  # never dropped
                res.samples["baseline"]["kept while hidden"].append(float(bool(info.seen[g])))
            # identity: the true ids of the segments the loop gave this object
            got = {_true_id(seg, gt_masks[c]) for c, seg in info.matched.get(g, {}).items()} - {0}
            if got:
                if got != {i}:
                    res.samples["ours"]["wrong associations"].append(1.0)
                tid = i if got == {i} else min(got - {i})
                if ours_last.get(i, i) != tid:
                    res.samples["ours"]["identity switches"].append(1.0)
                ours_last[i] = tid
            if bool(info.seen[g]):
                true = min(got) if len(got) == 1 else i
                detections.append((true, np.array(poses[i][:3]), err, cat, since_hidden[i]))
        # ---- baseline: keep only what is seen, nearest previous track
        prev = list(base_tracks.items())
        new_tracks: dict[int, tuple[np.ndarray, int]] = {}
        if detections and prev:
            cost = np.array([[np.linalg.norm(p - d[1]) for _, (p, _) in prev] for d in detections])
            cost = np.where(cost <= 0.1, cost, 1e6)
            rows, cols = linear_sum_assignment(cost)
            pairs = {r: c for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6}
        else:
            pairs = {}
        for r, (true, pos, err, cat, since) in enumerate(detections):
            if r in pairs:
                tid = prev[pairs[r]][0]
            else:
                tid, next_track = next_track, next_track + 1
            new_tracks[tid] = (pos, true)
            if true in base_ids and base_ids[true] != tid:
                res.samples["baseline"]["identity switches"].append(1.0)
            base_ids[true] = tid
            _add_position(res.samples["baseline"], cat, err, since)
        base_tracks = new_tracks
        seen_true = {d[0] for d in detections}
        res.samples["baseline"]["lost"].extend(1.0 for i in movable if i not in seen_true)
        if t % 5 == 0:
            log(f"step {t}/{T - 1}: surprise {rec['surprise']:.2f}, {info.seconds:.2f} s")
    res.samples["ours"]["objects at the end"].append(float(ts.scene.num_groups - 1 - len(static)))
    res.samples["baseline"]["objects at the end"].append(float(len(base_tracks)))
    _score_smoothed(res, wm, dataset, cams, movable, amodal_gts)
    return res


def _score_smoothed(
    res: EpisodeResult, wm, dataset, cams: Sequence[str], movable, amodal_gts: dict
) -> None:
    """Add each step's smoothed poses (:func:`~spatialwm.track.smooth.smooth_track`) to
    ``res.steps`` (``"smoothed"``) and score them as method ``smoothed``: positions and amodal
    IoU (against ``amodal_gts``: per step, the cameras' true full silhouettes) as for
    ``ours``, the counters (kept, switches) ``ours``'."""
    ep = dataset.episode
    T = len(res.steps)
    smoothed = smooth_track(res.steps, [ep.steps[t].actions for t in range(T - 1)], ep.dt)
    obj_index = {o.id: k for k, o in enumerate(dataset.objects)}
    out = res.samples["smoothed"]
    for key, v in res.samples["ours"].items():
        if not key.startswith(("pos ", "iou ")):
            out[key] = list(v)
    since_hidden = {i: 10**6 for i in movable}
    for t, rec in enumerate(res.steps):
        rec["smoothed"] = {str(i): smoothed[i][t].tolist() for i in movable}
        if t == 0:
            continue
        truth = ep.steps[t]
        frames = [dataset.frame_index(c, t) for c in cams]
        still = (0.0, 0.0, 0.0)
        objs = {
            i: SimpleNamespace(position=smoothed[i][t][:3], quaternion=smoothed[i][t][3:],
                               linear_velocity=still, angular_velocity=still)
            for i in movable
        }  # fmt: skip
        state = wm.with_object_states(wm.state, objs)
        groups = [state.group_of(i) for i in movable]
        alone = render_alone(state, groups, [Camera.from_dataset(dataset, f) for f in frames]) > 0.5
        amodal_gt = amodal_gts[t]
        for n, i in enumerate(movable):
            cat = _category({c: truth.visibility.get(c, {}).get(i, 0.0) for c in cams}, cams)
            since_hidden[i] = 0 if cat == "fully occluded" else since_hidden[i] + 1
            true_pos = np.asarray(truth.objects[i].position)
            err = 100 * float(np.linalg.norm(smoothed[i][t][:3] - true_pos))
            _add_position(out, cat, err, since_hidden[i])
            for k, ccat, gt in _amodal_truths(amodal_gt, truth, cams, obj_index, i):
                out[f"iou {ccat}"].append(_iou(alone[n, k], gt))


def summary(results: Sequence[EpisodeResult]) -> dict:
    """Pooled numbers per method: means of the samples, counts of the counters."""
    out: dict = {}
    for method in ("ours", "smoothed", "baseline"):
        if not any(method in r.samples for r in results):
            continue
        pooled: dict[str, list] = defaultdict(list)
        for r in results:
            for k, v in r.samples[method].items():
                pooled[k].extend(v)
        objs = sum(r.objects for r in results)
        hidden = pooled.get("kept while hidden", [])
        row = {
            "objects": objs,
            "objects kept at the end": sum(pooled.get("objects at the end", [])),
            "kept while hidden (%)": 100 * float(np.mean(hidden)) if hidden else float("nan"),
            "identity switches": int(sum(pooled.get("identity switches", []))),
            "wrong associations": int(sum(pooled.get("wrong associations", []))),
        }
        for cat in CATEGORIES:
            v = pooled.get(f"pos {cat}", [])
            row[f"position error {cat} (cm)"] = float(np.mean(v)) if v else float("nan")
            row[f"n {cat}"] = len(v)
        for cat in CATEGORIES[:3]:
            v = pooled.get(f"iou {cat}", [])
            row[f"amodal IoU {cat}"] = float(np.mean(v)) if v else float("nan")
        out[method] = row
    return out


def table(summ: dict) -> str:
    """A markdown table of :func:`summary`."""
    cols = [
        ("kept while hidden (%)", "objects kept while hidden", "{:.0f}%"),
        ("identity switches", "identity switches", "{}"),
        ("position error visible (cm)", "pos. err. visible (cm)", "{:.2f}"),
        ("position error partly occluded (cm)", "partly occluded", "{:.2f}"),
        ("position error fully occluded (cm)", "fully occluded", "{:.2f}"),
        ("position error reappeared (cm)", "<= 3 steps after reappearance", "{:.2f}"),
        ("amodal IoU visible", "amodal IoU visible", "{:.3f}"),
        ("amodal IoU partly occluded", "partly occluded", "{:.3f}"),
        ("amodal IoU fully occluded", "fully occluded", "{:.3f}"),
    ]
    lines = ["| method | " + " | ".join(c[1] for c in cols) + " |"]
    lines.append("|---|" + "---|" * len(cols))
    for method, row in summ.items():
        cells = []
        for key, _, fmt in cols:
            v = row.get(key, float("nan"))
            cells.append("lost" if isinstance(v, float) and np.isnan(v) else fmt.format(v))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "CATEGORIES",
    "EpisodeResult",
    "summary",
    "table",
    "track_episode",
    "visibility_category",
]
