"""spatialwm.track.smooth: hidden runs revised from where the object is seen again."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialwm.data.actions import PlaceAction, PushAction, WaitAction
from spatialwm.dynamics.slides import coulomb_slide
from spatialwm.track.smooth import SmoothConfig, smooth_object, smooth_track

DT = 0.1
UPRIGHT = np.array([1.0, 0.0, 0.0, 0.0])
TIPPED = np.array([math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0])  # 90 deg about +X


def slide(speed: float, mu: float, steps: int) -> float:
    d = 0.0
    for _ in range(steps):
        dd, speed = coulomb_slide(speed, mu, DT)
        d += dd
    return d


def episode(mu_true: float = 0.6, speed: float = 2.0, T: int = 16, push: int = 9):
    """A runner resting hidden (steps 1..push+1), pushed along -y at ``push``, seen again
    from ``push + 2`` on while it slides out and rests. The truth lies tipped at y = 0; the
    loop's forward estimate put it upright 5 cm further (+y) with a growing sigma."""
    rest = np.array([0.1, 0.0, 0.02])
    truth = np.zeros((T, 7))
    for t in range(T):
        p = rest.copy()
        if t > push:
            p[1] -= slide(speed, mu_true, t - push)
        truth[t, :3], truth[t, 3:] = p, TIPPED
    poses = truth.copy()
    seen = np.ones(T, dtype=bool)
    seen[1 : push + 2] = False
    sigma = np.full(T, 0.005)
    for t in range(1, push + 2):
        poses[t, :3] = rest + np.array([0.0, 0.05, 0.015])
        poses[t, 3:] = UPRIGHT
        sigma[t] = 0.05 + 0.01 * t  # the loop's std grows while hidden
    vis = np.where(seen, 1.0, 0.0)
    return truth, poses, sigma, seen, vis, {push: (0.0, -speed)}


def test_hidden_rest_recovered_from_the_push_out():
    truth, poses, sigma, seen, vis, pushes = episode()
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 0.6), pushes, DT)
    hidden = ~seen
    err = np.linalg.norm(out[hidden, :3] - truth[hidden, :3], axis=1)
    assert err.max() < 0.01, err  # forward: 5.2-22 cm off
    assert np.allclose(np.abs(out[hidden, 3:] @ TIPPED), 1.0)  # the face it reappeared on
    assert np.array_equal(out[seen], poses[seen])  # seen steps are the loop's


def test_friction_is_measured_from_the_reappearance():
    # the loop thinks the object grips (1.1); its slide out, seen sliding, says 0.6
    truth, poses, sigma, seen, vis, pushes = episode(mu_true=0.6)
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 1.1), pushes, DT)
    err = np.linalg.norm(out[~seen, :3] - truth[~seen, :3], axis=1)
    assert err.max() < 0.01, err
    # not seen while sliding: the loop's friction, trusted little (the forward wins)
    vis2 = vis.copy()
    vis2[11:13] = 0.1
    out2 = smooth_object(poses, sigma, seen, vis2, np.full(len(poses), 1.1), pushes, DT)
    moved = np.linalg.norm(out2[~seen, :2] - poses[~seen, :2], axis=1)
    assert moved.max() < 0.02


def test_left_alone_without_a_resting_anchor():
    _, poses, sigma, seen, vis, pushes = episode(T=13)  # ends while still sliding
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 0.6), pushes, DT)
    assert np.array_equal(out, poses)
    seen_end = seen.copy()
    seen_end[10:] = False  # hidden to the end: nothing after
    out = smooth_object(poses, sigma, seen_end, vis, np.full(len(poses), 0.6), pushes, DT)
    assert np.array_equal(out, poses)


def test_seen_again_without_a_push_rested_there():
    T = 8
    poses = np.tile(np.r_[0.0, 0.0, 0.02, UPRIGHT], (T, 1))
    poses[2:5, 0] = 0.03  # forward drifted 3 cm while hidden
    seen = np.array([True, True, False, False, False, True, True, True])
    sigma = np.where(seen, 0.005, 0.05)
    out = smooth_object(poses, sigma, seen, seen.astype(float), np.full(T, 0.6), {}, DT)
    assert np.abs(out[2:5, 0]).max() < 0.002  # fused with the anchor (std 1 cm vs 5 cm)


def test_bad_shapes():
    with pytest.raises(ValueError, match="poses"):
        smooth_object(np.zeros((4, 6)), np.zeros(4), np.ones(4), np.ones(4), np.ones(4), {}, DT)


def test_smooth_track_reads_the_loop_records():
    truth, poses, sigma, seen, vis, pushes = episode()
    steps = [
        {
            "poses": {"1": poses[t].tolist(), "2": [0.3, 0.0, 0.02, *UPRIGHT]},
            "sigma": {"1": float(sigma[t]), "2": 0.005},
            "friction": {"1": 0.6, "2": 0.6},
            "seen": ([1] if seen[t] else []) + [2],
            "visibility": {"1": {"cam0": float(vis[t])}, "2": {"cam0": 1.0}},
        }
        for t in range(len(poses))
    ]
    acts = [[PushAction(1, (*pushes[t], 0.0))] if t in pushes else [] for t in range(len(poses))]
    out = smooth_track(steps, acts, DT, SmoothConfig())
    assert set(out) == {1, 2}
    assert np.linalg.norm(out[1][~seen, :3] - truth[~seen, :3], axis=1).max() < 0.01
    assert np.allclose(out[2], steps[0]["poses"]["2"])
    # placed (or thrown) while hidden at step 5: the way back ends there
    for other in (PlaceAction(1, (0.5, 0.5, 0.02, 1.0, 0.0, 0.0, 0.0)), PushAction(1, (0, 1, 2))):
        acts[5] = [WaitAction(), other]
        out = smooth_track(steps, acts, DT)
        assert np.array_equal(out[1][:6], poses[:6])
        assert np.linalg.norm(out[1][7:10, :3] - truth[7:10, :3], axis=1).max() < 0.01


def test_smooth_track_bad_records():
    steps = [{"poses": {"1": [0, 0, 0, 1, 0, 0, 0]}, "sigma": {"1": 0.01}}]
    with pytest.raises(ValueError, match="step 0 has no 'friction'"):
        smooth_track(steps, [], DT)
    steps = [*steps, dict(steps[0], friction={"1": 0.6})]
    with pytest.raises(ValueError, match="actions"):
        smooth_track(steps, [], DT)


def test_steps_the_loop_had_on_another_face_measure_nothing():
    # the loop saw the runner slide out but still upright (3 cm higher) and 4 cm off: those
    # steps say nothing of the slide, and nothing else measures it
    _, poses, sigma, seen, vis, pushes = episode()
    poses[10:13, 2] += 0.03
    poses[10:13, 1] += 0.04
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 0.6), pushes, DT)
    assert np.array_equal(out, poses)
    poses[10:13, 2] -= 0.03  # at the anchor's height they are taken, errors and all
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 0.6), pushes, DT)
    assert not np.array_equal(out, poses)


def test_the_way_back_ends_at_a_push_nothing_measured():
    # pushed once more while hidden (step 3): before it the object was somewhere nothing says
    truth, poses, sigma, seen, vis, pushes = episode()
    pushes = {**pushes, 3: (0.0, 1.0)}
    out = smooth_object(poses, sigma, seen, vis, np.full(len(poses), 0.6), pushes, DT)
    assert np.array_equal(out[:4], poses[:4])  # up to that push: the loop's
    err = np.linalg.norm(out[5:10, :3] - truth[5:10, :3], axis=1)
    assert err.max() < 0.01, err  # after it: back from the reappearance
