"""Helpers shared by the viewer's tests, benchmark and screenshot: a synthetic run folder and
a headless Chromium (Debian's ``/usr/bin/chromium`` driven by playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

#: Chromium flags that work headless with no GPU (software WebGL through SwiftShader).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def find_chromium() -> str | None:
    """Path of a Chromium binary (``SPATIALWM_CHROMIUM``, then the usual names), or None."""
    env = os.environ.get("SPATIALWM_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def browser_problem() -> str | None:
    """Why a headless browser cannot run here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if find_chromium() is None:
        return "no chromium binary (Debian: apt-get install chromium)"
    return None


def launch_chromium(playwright, **kwargs):
    """``playwright.chromium.launch`` on the system Chromium with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(
        executable_path=find_chromium(), args=list(CHROMIUM_ARGS), **kwargs
    )


def synthetic_state(n: int, *, seed: int = 0, sixth: bool = False):
    """The built-in table-top scene (``spatialwm.synthetic.surface_scene``: a ground disc and 5
    objects, ids 1..5) with about ``n`` Gaussians, as a
    :class:`~spatialwm.scene.state.SceneState`. ``sixth``: add a 6th object (a copy of the
    last sphere, elsewhere on the ground), keeping the total at ``n``."""
    from spatialwm.scene.state import from_world_gaussians
    from spatialwm.synthetic import surface_scene

    sc = surface_scene(round(n / 1.12) if sixth else n, seed=seed)
    means, quats, scales, opac, sh0, ids = (
        sc.means, sc.quats, sc.scales, sc.opacities, sc.sh0(), sc.object_ids
    )  # fmt: skip
    names = ["background", "box_a", "box_b", "box_c", "sphere_a", "sphere_b"]
    if sixth:
        sel = ids == 5
        extra = int(min(int(sel.sum()), n - len(means)))
        idx = sel.nonzero()[:extra, 0]
        shift = torch.tensor([0.0, -0.45, 0.0])
        means = torch.cat([means, means[idx] + shift])
        quats, scales, opac = (torch.cat([t, t[idx]]) for t in (quats, scales, opac))
        sh0 = torch.cat([sh0, sh0[idx].flip(-1)])
        ids = torch.cat([ids, torch.full((extra,), 6)])
        names.append("sphere_c")
    params = {
        "means": means,
        "quats": quats,
        "scales": scales.log(),
        "opacities": torch.logit(opac.clamp(1e-4, 1 - 1e-4)),
        "sh0": sh0,
    }
    return from_world_gaussians(params, ids, list(range(len(names))), names, torch.ones(3))


def write_run(path: str | os.PathLike, state) -> Path:
    """A minimal run folder (``state.pt`` only) that ``WorldModel.load`` and the viewer read."""
    from spatialwm.scene.io import save_state

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_state(path / "state.pt", state)
    return path


__all__ = [
    "CHROMIUM_ARGS",
    "browser_problem",
    "find_chromium",
    "launch_chromium",
    "synthetic_state",
    "write_run",
]
