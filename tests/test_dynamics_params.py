"""The physical-parameter search."""

from __future__ import annotations

import pytest

from spatialwm.dynamics.params import DynamicsParams, fit_params


def test_fit_finds_the_minimum():
    calls = []

    def error(p: DynamicsParams) -> float:
        calls.append(p)
        return (p.friction - 0.47) ** 2 + 0.01 * abs(p.density - 500) / 500

    best, fit = fit_params(error, log=lambda *_: None)
    assert abs(best.friction - 0.47) < 0.02 and best.density == 500
    assert fit["error"] == pytest.approx(error(best), abs=1e-9) and len(fit["grid"]) == 24


def test_fit_keeps_the_fixed_parameters():
    fixed = DynamicsParams(com_drop=0.8, pair_friction=1.5, geom="box+hull")
    seen = set()

    def error(p: DynamicsParams) -> float:
        seen.add((p.com_drop, p.pair_friction, p.geom, p.rolling_friction))
        return (p.friction - 0.6) ** 2

    best, _ = fit_params(error, log=lambda *_: None, fixed=fixed)
    assert seen == {(0.8, 1.5, "box+hull", 0.0)}
    assert (best.com_drop, best.pair_friction, best.geom) == (0.8, 1.5, "box+hull")
