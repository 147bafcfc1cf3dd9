"""Shared test helpers: seeded random Gaussian scenes and cameras."""

from __future__ import annotations

import math

import pytest
import torch

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
