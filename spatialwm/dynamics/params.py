"""Physical parameters the prior cannot know from appearance (friction, density), estimated
from observed trajectories (the model file that holds them: :mod:`spatialwm.dynamics.model`).

:func:`fit_params` is system identification: a search over the parameters that minimises the
prior's position error on training episodes (rollouts of ``horizon`` steps from the true state
every ``every`` steps, the episodes' own actions). The default model shipped with the package
(``default_model.json``) was fitted this way; its file records the command that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DynamicsParams:
    """Estimated physical parameters, shared by all objects.

    Attributes:
        friction: sliding friction coefficient (object-ground and object-object).
        density: kg/m^3 of the box proxies (sets masses, which matter in collisions).
        rolling_friction: resistance to rolling and tipping (m; 0 = none).
        com_drop: centre of mass below the proxy's centre, as a fraction of its half height
            (real objects are bottom-heavy more often than not; a box's centre is not).
        pair_friction: sliding friction between two objects; ``None``: ``friction`` (which
            is then also the objects' friction on the ground).
        geom: the proxies' shape (:data:`~spatialwm.dynamics.prior.GEOMS`): ``"box"``, or
            ``"box+hull"``: the box stands on the ground and the convex hull of the object's
            Gaussians collides with other objects (a box around an irregular object touches
            its neighbours long before the object does), or ``"hull"`` for both (hulls of
            reconstructed objects are rounded underneath and roll).
    """

    friction: float = 0.5
    density: float = 500.0
    rolling_friction: float = 0.0
    com_drop: float = 0.0
    pair_friction: float | None = None
    geom: str = "box"


def fit_params(
    error: Callable[[DynamicsParams], float],
    *,
    frictions: Sequence[float] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    densities: Sequence[float] = (250.0, 500.0, 1000.0),
    log: Callable[[str], None] = print,
    fixed: DynamicsParams | None = None,
) -> tuple[DynamicsParams, dict]:
    """Grid search, then a golden-section refinement of the friction at the best density.

    Args:
        error: the training error of a parameter set (e.g. mean position error, cm).
        fixed: the parameters that are not searched (all but friction and density) are kept
            at its values (default: :class:`DynamicsParams`'s).
    Returns:
        ``(best params, {"grid": [...], "error": best error})``.
    """
    fixed = fixed if fixed is not None else DynamicsParams()

    def make(f: float, d: float) -> DynamicsParams:
        return replace(fixed, friction=f, density=d)

    grid = []
    for d in densities:
        for f in frictions:
            e = error(make(f, d))
            grid.append((f, d, e))
            log(f"  friction {f:.3f} density {d:.0f}: {e:.3f}")
    f0, d0, e0 = min(grid, key=lambda r: r[2])
    fs = sorted(frictions)
    i = fs.index(f0)
    lo, hi = fs[max(i - 1, 0)], fs[min(i + 1, len(fs) - 1)]
    g = (5**0.5 - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    ec, ed = error(make(c, d0)), error(make(d, d0))
    for _ in range(6):
        if ec < ed:
            b, d, ed = d, c, ec
            c = b - g * (b - a)
            ec = error(make(c, d0))
        else:
            a, c, ec = c, d, ed
            d = a + g * (b - a)
            ed = error(make(d, d0))
    best = min([(f0, e0), (c, ec), (d, ed)], key=lambda r: r[1])
    log(f"  refined friction {best[0]:.3f}: {best[1]:.3f}")
    return make(best[0], d0), {
        "grid": [list(r) for r in grid],
        "error": best[1],
    }


__all__ = ["DynamicsParams", "fit_params"]
