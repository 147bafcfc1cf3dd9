"""The observe loop's rendering helpers: objects rendered alone, with the colour each camera
should see of them; and the loop matching an object whose lit faces look brighter than its
Gaussians' base colour (data/push's cam0)."""

from __future__ import annotations

import dataclasses
import math

import torch
from conftest import cameras, observe_truth, scene

from spatialwm.render.sh import _C1 as C1  # SH degree-1 constant
from spatialwm.track import observe_step, track_state
from spatialwm.track.state import object_colours
from spatialwm.track.views import render_alone, render_scene, seen_colours


def _lit(state, brighter: float):
    """``state`` whose cube (group 1) looks ``brighter`` (RGB) when seen along +x: a degree-1
    SH term, so its base (degree-0) colour is unchanged."""
    g = state.gaussians
    sh = torch.cat([g.sh, torch.zeros(len(g.sh), 3, 3)], 1)  # degree 0 -> 1
    cube = g.group == 1
    sh[cube, 3] = -brighter / C1  # the -C1 x basis function (gsplat's SH convention)
    return state.replace(gaussians=dataclasses.replace(g, sh=sh))


def test_rendered_alone_with_colours_keeps_the_alpha_and_gives_the_mean_colour():
    s = scene([(-0.1, 0.0), (-0.15, 0.1)])
    cams = cameras()
    alpha = render_alone(s, [1, 2], cams)
    rgba = render_alone(s, [1, 2], cams, colours=render_scene(s, cams).colors)
    assert rgba.shape == (*alpha.shape, 4)
    torch.testing.assert_close(rgba[..., 3], alpha)
    colour, cover = seen_colours(rgba)
    assert colour.shape == (2, len(cams), 3) and cover.shape == (2, len(cams))
    torch.testing.assert_close(cover, alpha.sum((2, 3)))
    base = object_colours(s)[1:3]  # flat colours: what is seen is the base colour
    assert (colour - base[:, None]).abs().max() < 0.05


def test_a_lit_object_is_seen_brighter_than_its_base_colour_and_still_matched():
    s = _lit(scene([(-0.1, 0.0)]), brighter=0.3)
    cams = cameras()
    colour, _ = seen_colours(render_alone(s, [1], cams, colours=render_scene(s, cams).colors))
    base = object_colours(s)[1]
    lift = (colour[0] - base).mean(-1)
    assert (lift > 0.2).all(), lift  # the cameras look along +x
    assert math.dist(colour[0, 0].tolist(), base.tolist()) > 0.3  # beyond the colour gate
    images, masks, _ = observe_truth(s, cams)
    ts = track_state(s, static=[9])
    for _ in range(2):
        ts, info = observe_step(lambda st: st, ts, images, cams, masks)
        assert bool(info.seen[1]) and ts.surprise < 0.1
        assert int(ts.hidden_steps[1]) == 0
