"""Shared test helpers: seeded random Gaussian scenes and cameras; the synthetic tracking
scenes (ground, wall, small boxes, two cameras) of the object-permanence tests."""

from __future__ import annotations

import math

import pytest
import torch

from spatialwm.render.sh import rgb_to_sh
from spatialwm.scene.render import Camera, render_state
from spatialwm.scene.state import SceneState, from_world_gaussians
from spatialwm.synthetic import look_at, pinhole_K


def random_cameras(C: int, width: int, height: int, *, seed: int = 0, dtype=torch.float32):
    """``C`` cameras 2.5-4 m from the origin, looking at it: ``viewmats [C,4,4]``, ``Ks``."""
    g = torch.Generator().manual_seed(seed + 1000)
    views, Ks = [], []
    for _ in range(C):
        az = float(torch.rand(1, generator=g)) * 2 * math.pi
        el = 0.2 + float(torch.rand(1, generator=g)) * 0.8
        r = 2.5 + 1.5 * float(torch.rand(1, generator=g))
        eye = (r * math.cos(el) * math.cos(az), r * math.cos(el) * math.sin(az), r * math.sin(el))
        views.append(look_at(eye, (0.0, 0.0, 0.0), dtype=dtype))
        fov = 40 + 40 * float(torch.rand(1, generator=g))
        K = pinhole_K(width, height, fov, dtype=dtype)
        K[0, 2] += (float(torch.rand(1, generator=g)) - 0.5) * 4  # off-centre principal point
        K[1, 1] *= 1.0 + 0.1 * float(torch.rand(1, generator=g))  # non-square pixels
        Ks.append(K)
    return torch.stack(views), torch.stack(Ks)


def random_gaussians(N: int, D: int = 3, *, seed: int = 0, dtype=torch.float32, sh_degree=None):
    """``N`` Gaussians around the origin with mixed sizes and opacities (some culled: zero
    or tiny opacity, a few far away). Returns means, quats, scales, opacities, colors."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(N, 3, generator=g, dtype=dtype) * 2 - 1) * 1.2
    quats = torch.randn(N, 4, generator=g, dtype=dtype)
    log_s = torch.rand(N, 3, generator=g, dtype=dtype) * (math.log(0.25) - math.log(0.005))
    scales = torch.exp(log_s + math.log(0.005))
    opacities = torch.rand(N, generator=g, dtype=dtype)
    if N >= 10:
        opacities[:2] = 0.0
        opacities[2] = 0.5 / 255
        means[3] = torch.tensor([40.0, 0.0, 0.0], dtype=dtype)  # outside every image
    if sh_degree is None:
        colors = torch.rand(N, D, generator=g, dtype=dtype)
    else:
        K = (sh_degree + 1) ** 2
        colors = torch.randn(N, K, 3, generator=g, dtype=dtype) * 0.3
    return means, quats, scales, opacities, colors


def blob_state(k: int = 3):
    """A SceneState: background + ``k`` blobs of 50 Gaussians, 10 cm apart on the ground."""
    g = torch.Generator().manual_seed(0)
    n = 50 * (k + 1)
    means = torch.rand(n, 3, generator=g) * 0.04
    groups = torch.arange(k + 1).repeat_interleave(50)
    means[:, 0] += 0.1 * groups
    params = {
        "means": means,
        "quats": torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        "scales": torch.full((n, 3), -5.0),
        "opacities": torch.full((n,), 3.0),
        "sh0": torch.rand(n, 1, 3, generator=g),
    }
    ids = list(range(k + 1))
    from spatialwm.scene.state import from_world_gaussians

    return from_world_gaussians(params, groups, ids, ["background", *map(str, ids[1:])])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ------------------------------------------------ synthetic tracking scenes (spatialwm.track)
WALL = 9


def _box_surface(centre, half, n, rgb, g):
    c, h = torch.tensor(centre), torch.tensor(half)
    areas = torch.tensor([h[1] * h[2], h[1] * h[2], h[0] * h[2], h[0] * h[2], h[0] * h[1],
                          h[0] * h[1]])  # fmt: skip
    face = torch.multinomial(areas, n, replacement=True, generator=g)
    axis, sign = face // 2, (face % 2) * 2 - 1
    u = (torch.rand(n, 3, generator=g) * 2 - 1) * h
    u[torch.arange(n), axis] = sign.float() * h[axis]
    col = torch.tensor(rgb) * (0.75 + 0.25 * torch.rand(n, 1, generator=g))
    return c + u, col


def scene(
    cubes: list[tuple[float, float]],
    *,
    size: float = 0.04,
    seed: int = 0,
    half: tuple[float, float, float] | None = None,
) -> SceneState:
    """Ground + wall (id ``WALL``, x in [-0.01, 0.01], |y| <= 0.2, 0.16 m tall) + identical
    red cubes (ids 1, 2, ...) of side ``size`` at the given ``(x, y)`` (boxes of half
    extents ``half`` if given), standing on the ground."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = torch.meshgrid(torch.arange(-0.5, 0.5, 0.015), torch.arange(-0.5, 0.5, 0.015),
                            indexing="ij")  # fmt: skip
    ground = torch.stack([xs.flatten(), ys.flatten(), torch.zeros(xs.numel())], -1)
    check = ((torch.floor(ground[:, 0] / 0.06) + torch.floor(ground[:, 1] / 0.06)) % 2)[:, None]
    gcol = (0.3 + 0.4 * check).expand(-1, 3) * torch.tensor([1.0, 0.95, 0.85])
    pts, cols, grp = [ground], [gcol], [torch.zeros(len(ground), dtype=torch.int64)]
    wall, wcol = _box_surface((0.0, 0.0, 0.08), (0.01, 0.2, 0.08), 2500, (0.2, 0.4, 0.8), g)
    for k, (x, y) in enumerate(cubes):
        h = half or (size / 2,) * 3
        p, c = _box_surface((x, y, h[2]), h, 500, (0.9, 0.15, 0.1), g)
        pts.append(p)
        cols.append(c)
        grp.append(torch.full((500,), k + 1, dtype=torch.int64))
    pts.append(wall)
    cols.append(wcol)
    grp.append(torch.full((len(wall),), len(cubes) + 1, dtype=torch.int64))
    means = torch.cat(pts)
    n = len(means)
    params = {
        "means": means,
        "quats": torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4).clone(),
        "scales": torch.full((n, 3), math.log(0.006)),
        "opacities": torch.full((n,), 4.0),
        "sh0": rgb_to_sh(torch.cat(cols).clamp(0, 1))[:, None],
    }
    ids = [0, *range(1, len(cubes) + 1), WALL]
    names = ["background", *[f"cube{k + 1}" for k in range(len(cubes))], "wall"]
    return from_world_gaussians(params, torch.cat(grp), ids, names, torch.tensor([0.6, 0.7, 0.9]))


def cameras(width: int = 96, height: int = 72) -> list[Camera]:
    """Two cameras on the -x side of the wall, 20 degrees apart, looking at it."""
    out = []
    for j, az in enumerate((160.0, 200.0)):
        a = math.radians(az)
        eye = (0.8 * math.cos(a), 0.8 * math.sin(a), 0.3)
        out.append(Camera(look_at(eye, (0.05, 0.0, 0.03)), pinhole_K(width, height, 55.0),
                          width, height, f"cam{j}"))  # fmt: skip
    return out


def with_positions(state: SceneState, xy: dict[int, tuple[float, float]]) -> SceneState:
    """``state`` with objects moved to ``{object_id: (x, y)}`` (z kept)."""
    pos = state.positions.clone()
    for oid, (x, y) in xy.items():
        g = state.group_of(oid)
        pos[g, 0], pos[g, 1] = x, y
    return state.replace(positions=pos)


def observe_truth(state: SceneState, cams: list[Camera], *, seed: int = 0):
    """``(images [C,H,W,3], shuffled masks [C,H,W], {label: object id} per camera)``."""
    viewmats = torch.stack([c.viewmat for c in cams])
    Ks = torch.stack([c.K for c in cams])
    r = render_state(state, viewmats, Ks, cams[0].width, cams[0].height)
    ids = torch.where(r.alpha > 0.5, r.object_ids, torch.zeros_like(r.object_ids))
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros_like(ids)
    truth = []
    for c in range(len(cams)):
        perm = torch.randperm(50, generator=g)[: len(state.object_ids)] + 1
        lab = {}
        for k, oid in enumerate(state.object_ids[1:].tolist()):
            masks[c][ids[c] == oid] = int(perm[k])
            lab[int(perm[k])] = oid
        truth.append(lab)
    return r.rgb, masks, truth


def coulomb_slide(
    mu: float, v0: float, steps: int, direction=(0.6, 0.8), start=(0.0, 0.0), dt: float = 0.1
) -> torch.Tensor:
    """``[steps + 1, 2]`` ground positions, ``dt`` apart, of an object pushed at ``v0`` m/s
    that slides decelerating by ``mu g`` until it stops (friction tests)."""
    from spatialwm.dynamics.slides import GRAVITY

    a = mu * GRAVITY
    stop = v0 / a
    out = []
    for k in range(steps + 1):
        t = min(k * dt, stop)
        s = v0 * t - 0.5 * a * t * t
        out.append([start[0] + s * direction[0], start[1] + s * direction[1]])
    return torch.tensor(out, dtype=torch.float64)
