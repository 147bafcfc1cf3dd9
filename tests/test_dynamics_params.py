"""Dynamics model files and the parameter search."""

from __future__ import annotations

import json

import pytest

from spatialwm.dynamics.params import (
    DEFAULT_MODEL,
    DynamicsParams,
    fit_params,
    load_params,
    save_params,
)
from spatialwm.errors import DatasetError


def test_round_trip(tmp_path):
    p = DynamicsParams(0.42, 800.0, {"episodes": ["a"]})
    save_params(tmp_path / "m.json", p)
    back = load_params(tmp_path / "m.json")
    assert back == p and back.info == {"episodes": ["a"]}


def test_shipped_default_model_loads():
    p = load_params()
    assert DEFAULT_MODEL.exists() and 0 < p.friction < 2
    assert "command" in p.info and p.info["episodes"]  # it says how it was made


def test_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_params(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 9}))
    with pytest.raises(DatasetError, match="version 9"):
        load_params(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 1,
                               "friction": -1, "density": 500}))  # fmt: skip
    with pytest.raises(DatasetError, match="out of range"):
        load_params(bad)
    bad.write_text("[]")
    with pytest.raises(DatasetError, match="not a spatialwm dynamics model"):
        load_params(bad)


def test_fit_finds_the_minimum():
    calls = []

    def error(p: DynamicsParams) -> float:
        calls.append(p)
        return (p.friction - 0.47) ** 2 + 0.01 * abs(p.density - 500) / 500

    best, fit = fit_params(error, log=lambda *_: None)
    assert abs(best.friction - 0.47) < 0.02 and best.density == 500
    assert fit["error"] == pytest.approx(error(best), abs=1e-9) and len(fit["grid"]) == 24
