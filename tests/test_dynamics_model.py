"""Dynamics model files (parameters + networks) and the step's modes."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import blob_state

from spatialwm.data.actions import PushAction
from spatialwm.dynamics import PhysicsPrior, proxies_from_state
from spatialwm.dynamics.model import (
    DEFAULT_MODEL,
    REACH_SHIFT,
    REACH_TURN,
    DynamicsModel,
    DynamicsParams,
    load_model,
    save_model,
    step_dynamics,
)
from spatialwm.dynamics.residual import ResidualNet
from spatialwm.dynamics.slides import FloorFriction
from spatialwm.errors import DatasetError, InputError
from spatialwm.scene.state import quat_conjugate, quat_multiply, rotvec_from_quat


def _net(seed: int) -> ResidualNet:
    torch.manual_seed(seed)
    net = ResidualNet(hidden=8)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return net.eval()


def test_round_trip(tmp_path):
    m = DynamicsModel(
        DynamicsParams(0.42, 800.0, 0.01, 0.5), _net(0), _net(1), info={"episodes": ["a"]}
    )
    save_model(tmp_path / "m.json", m)
    back = load_model(tmp_path / "m.json")
    assert back.params == m.params and back.info == {"episodes": ["a"]}
    assert back.mode == "prior+learned"
    save_model(tmp_path / "p.json", DynamicsModel(m.params, mode="prior"))
    assert load_model(tmp_path / "p.json").mode == "prior"
    split = DynamicsModel(DynamicsParams(0.6, 900.0, pair_friction=1.2, geom="box+hull"))
    save_model(tmp_path / "s.json", split)
    assert load_model(tmp_path / "s.json").params == split.params
    # the floor's slide friction: optional, where a tracker's estimate starts
    assert back.slide_friction is None and back.floor_friction == 0.42
    save_model(tmp_path / "f.json", DynamicsModel(m.params, slide_friction=0.61))
    floor = load_model(tmp_path / "f.json")
    assert floor.slide_friction == 0.61 and floor.floor_friction == 0.61
    assert floor.floor == FloorFriction(0.61) and back.floor == FloorFriction(0.42)
    both = DynamicsModel(m.params, slide_friction=0.61, slide_friction_spread=0.02,
                         slide_friction_share=0.5)  # fmt: skip
    save_model(tmp_path / "g.json", both)
    assert load_model(tmp_path / "g.json").floor == FloorFriction(0.61, 0.02, 0.5)
    for a, b in ((m.residual, back.residual), (m.learned_only, back.learned_only)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k])


def test_version_1_files_still_load(tmp_path):
    f = tmp_path / "v1.json"
    f.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 1,
                             "friction": 0.7, "density": 900, "info": {}}))  # fmt: skip
    m = load_model(f)
    assert m.params == DynamicsParams(0.7, 900.0) and m.residual is None


def test_shipped_default_model_loads():
    m = load_model()
    assert DEFAULT_MODEL.exists() and 0 < m.params.friction < 2
    assert "command" in m.info and m.info["episodes"]  # it says how it was made
    assert m.residual is not None and m.learned_only is not None
    assert m.slide_friction is not None and 0.3 < m.slide_friction < 1.0
    assert 0 < m.slide_friction_spread < 0.1 and 0 < m.slide_friction_share < 1


def test_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_model(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 9}))
    with pytest.raises(DatasetError, match="version 9"):
        load_model(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                               "friction": -1, "density": 500}))  # fmt: skip
    with pytest.raises(DatasetError, match="out of range"):
        load_model(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                               "friction": 0.5, "density": 500, "pair_friction": -2}))  # fmt: skip
    with pytest.raises(DatasetError, match="pair_friction -2"):
        load_model(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                               "friction": 0.5, "density": 500, "slide_friction": 9}))  # fmt: skip
    with pytest.raises(DatasetError, match="slide_friction 9"):
        load_model(bad)
    for key, value in (("slide_friction_spread", 0), ("slide_friction_share", 1.5)):
        bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                                   "friction": 0.5, "density": 500, key: value}))  # fmt: skip
        with pytest.raises(DatasetError, match=f"{key} {value}"):
            load_model(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                               "friction": 0.5, "density": 500, "geom": "sphere"}))  # fmt: skip
    with pytest.raises(DatasetError, match=r"bad\.json: geom must be one of .*'sphere'"):
        load_model(bad)
    bad.write_text(json.dumps({"format": "spatialwm.dynamics_model", "version": 2,
                               "friction": 0.5, "density": 500,
                               "residual": {"hidden": 8}}))  # fmt: skip
    with pytest.raises(DatasetError, match=r"bad\.json: residual"):
        load_model(bad)
    bad.write_text("[]")
    with pytest.raises(DatasetError, match="not a spatialwm dynamics model"):
        load_model(bad)


def test_modes_are_pure_and_deterministic(tmp_path):
    s = blob_state(3)
    prior = PhysicsPrior(proxies_from_state(s, density=1000, friction=0.6))
    model = DynamicsModel(DynamicsParams(0.6, 1000.0), _net(0), _net(1))
    before = s.positions.clone()
    acts = [PushAction(1, (1.0, 0.0, 0.0))]
    outs = {}
    for mode in ("prior", "prior+learned", "learned"):
        a = step_dynamics(model, prior, s, acts, mode=mode)
        b = step_dynamics(model, prior, s, acts, mode=mode)
        assert torch.equal(a.positions, b.positions) and a.step == s.step + 1
        assert torch.isfinite(a.positions).all() and torch.isfinite(a.orientations).all()
        outs[mode] = a
    assert torch.equal(s.positions, before)
    assert not torch.equal(outs["prior"].positions, outs["prior+learned"].positions)
    # a model without networks: prior+learned is the prior
    bare = step_dynamics(DynamicsModel(model.params), prior, s, acts, mode="prior+learned")
    assert torch.equal(bare.positions, outs["prior"].positions)
    with pytest.raises(InputError, match="mode"):
        step_dynamics(model, prior, s, acts, mode="magic")


def test_the_network_cannot_add_speed():
    # a network that adds 1.5 m/s along +y and 8 rad/s about +z to every object: the step
    # keeps each object no faster than the base step left it
    s = blob_state(3)
    prior = PhysicsPrior(proxies_from_state(s, density=1000, friction=0.6))
    net = ResidualNet(hidden=8).eval()
    with torch.no_grad():
        net.out[-1].bias.copy_(torch.tensor([0.0] * 6 + [0.0, 1.5, 0.0] + [0.0, 0.0, 8.0]))
    acts = [PushAction(1, (1.0, 0.0, 0.0))]
    for mode, key in (("prior+learned", "residual"), ("learned", "learned_only")):
        model = DynamicsModel(DynamicsParams(0.6, 1000.0), **{key: net})
        base = step_dynamics(DynamicsModel(model.params), prior, s, acts,
                             mode="prior" if mode == "prior+learned" else mode)  # fmt: skip
        out = step_dynamics(model, prior, s, acts, mode=mode)
        for field, kick in (("linear_velocity", 1.5), ("angular_velocity", 8.0)):
            speed = {name: getattr(x, field)[1:].norm(dim=-1)
                     for name, x in (("new", out), ("base", base))}  # fmt: skip
            assert (speed["new"] <= speed["base"] + 1e-5).all(), (mode, field, speed)
            assert float(speed["new"].max()) < kick  # the kick itself did not get through


def test_corrections_stay_within_reach_of_the_step():
    # a network that shifts every object by 30 cm along +y and turns it by 3 rad about +z:
    # the step moves each object no farther from the base step than it could travel in one
    # (dt * speed + REACH_SHIFT) and turns it no more than dt * spin + REACH_TURN
    s = blob_state(3)
    prior = PhysicsPrior(proxies_from_state(s, density=1000, friction=0.6))
    net = ResidualNet(hidden=8).eval()
    with torch.no_grad():
        net.out[-1].bias.copy_(torch.tensor([0.0, 0.3, 0.0, 0.0, 0.0, 3.0] + [0.0] * 6))
    model = DynamicsModel(DynamicsParams(0.6, 1000.0), residual=net)
    acts = [PushAction(1, (1.0, 0.0, 0.0))]
    dt = 0.1
    base = step_dynamics(DynamicsModel(model.params), prior, s, acts, mode="prior", dt=dt)
    out = step_dynamics(model, prior, s, acts, mode="prior+learned", dt=dt)
    after_speed = torch.tensor([1.0, 0.0, 0.0])  # the push set object 1's speed; others rest
    speed = torch.maximum(base.linear_velocity[1:].norm(dim=-1), after_speed)
    shift = (out.positions[1:, :2] - base.positions[1:, :2]).norm(dim=-1)
    assert (shift <= dt * speed + REACH_SHIFT + 1e-5).all(), (shift, speed)
    assert float(shift[0]) > 0.05  # the pushed object was shifted, as far as it may be
    rel = quat_multiply(
        out.orientations[1:].double(), quat_conjugate(base.orientations[1:].double())
    )
    turn = rotvec_from_quat(rel).norm(dim=-1)
    spin = base.angular_velocity[1:].norm(dim=-1).double()
    assert (turn <= dt * spin + REACH_TURN + 1e-4).all(), (turn, spin)
