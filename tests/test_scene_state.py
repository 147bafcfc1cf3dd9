"""Scene state: canonical frames, world placement, quaternion algebra, non-mutation, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spatialwm.errors import DatasetError, InputError
from spatialwm.scene.io import load_state, save_state
from spatialwm.scene.state import (
    from_world_gaussians,
    group_slice,
    quat_conjugate,
    quat_from_rotvec,
    quat_multiply,
    quat_to_matrix,
    rotvec_from_quat,
    world_gaussians,
)


def _params(n: int = 300, seed: int = 0) -> tuple[dict, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    group = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[0.0, 0, 0], [1.0, 2.0, 0.5], [-1.0, 0.5, 0.2]])
    params = {
        "means": centres[group] + 0.1 * torch.randn(n, 3, generator=g),
        "quats": torch.randn(n, 4, generator=g),
        "scales": torch.randn(n, 3, generator=g) - 4,
        "opacities": torch.randn(n, generator=g),
        "sh0": torch.randn(n, 1, 3, generator=g),
        "shN": torch.randn(n, 3, 3, generator=g),
    }
    return params, group


def _state():
    params, group = _params()
    return params, group, from_world_gaussians(params, group, [0, 4, 7], ["bg", "a", "b"])


def test_round_trip_to_world():
    params, group, state = _state()
    world = world_gaussians(state)
    order = torch.argsort(group, stable=True)
    assert torch.allclose(world["means"], params["means"][order], atol=1e-6)
    q = params["quats"][order]
    q = q / q.norm(dim=-1, keepdim=True)
    assert torch.allclose(world["quats"], q, atol=1e-6)
    assert torch.equal(state.gaussians.group, group[order])
    for g in range(3):
        s = group_slice(state, g)
        assert (state.gaussians.group[s] == g).all()
    # objects are centred on themselves; the background keeps the world frame
    assert state.positions[0].abs().max() == 0
    assert torch.allclose(state.positions[1], torch.tensor([1.0, 2.0, 0.5]), atol=0.05)
    assert state.gaussians.sh.shape[1:] == (4, 3) and state.gaussians.sh_degree == 1


def test_pose_moves_only_its_object():
    _, _, state = _state()
    rot = torch.tensor([math.cos(0.3), 0, 0, math.sin(0.3)])  # 0.6 rad about z
    moved = state.replace(
        positions=state.positions + torch.tensor([[0, 0, 0], [0.5, 0, 0], [0, 0, 0]]),
        orientations=torch.stack([state.orientations[0], rot, state.orientations[2]]),
    )
    before, after = world_gaussians(state), world_gaussians(moved)
    a, b = group_slice(state, 1), group_slice(state, 2)
    assert torch.equal(before["means"][b], after["means"][b])
    R = quat_to_matrix(rot)
    expect = (state.gaussians.means[a] @ R.T) + state.positions[1] + torch.tensor([0.5, 0, 0])
    assert torch.allclose(after["means"][a], expect, atol=1e-6)
    # the original state is untouched (states are never mutated)
    assert torch.equal(world_gaussians(state)["means"], before["means"])


def test_quaternion_algebra():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    a, b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    lhs = quat_to_matrix(quat_multiply(a, b))
    rhs = quat_to_matrix(a) @ quat_to_matrix(b)
    assert torch.allclose(lhs, rhs, atol=1e-5)
    R = quat_to_matrix(a)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(10, 3, 3), atol=1e-5)


def test_quaternion_numpy_views_match_torch():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(7, 4, generator=g).double(), torch.randn(7, 4, generator=g).double()
    # the closed form of a rotation matrix (oracle for the basis both backends use)
    q = a / a.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    closed = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(7, 3, 3)  # fmt: skip
    assert torch.allclose(quat_to_matrix(a), closed, atol=1e-12)
    assert torch.allclose(torch.from_numpy(quat_to_matrix(a.numpy())), closed, atol=1e-12)
    prod = quat_multiply(a.numpy(), b.numpy())
    assert isinstance(prod, np.ndarray)
    assert torch.allclose(torch.from_numpy(prod), quat_multiply(a, b), atol=1e-12)
    assert quat_to_matrix(a[0]).shape == (3, 3) and quat_to_matrix(a.numpy()).shape == (7, 3, 3)
    conj = quat_conjugate(a.numpy())
    assert isinstance(conj, np.ndarray)
    assert torch.equal(torch.from_numpy(conj), quat_conjugate(a))
    # rotation vectors: both backends agree, invert quat_from_rotvec (up to the sign of q),
    # and the identity (and a quaternion with w < 0) are handled
    q = torch.cat([q, torch.tensor([[1.0, 0, 0, 0], [-0.6, 0.8, 0, 0]], dtype=torch.float64)])
    r = rotvec_from_quat(q)
    rn = rotvec_from_quat(q.numpy())
    assert isinstance(rn, np.ndarray) and torch.allclose(torch.from_numpy(rn), r, atol=1e-12)
    back = quat_from_rotvec(r)
    back_np = quat_from_rotvec(rn)
    assert isinstance(back_np, np.ndarray)
    assert torch.allclose(torch.from_numpy(back_np), back, atol=1e-12)
    assert torch.allclose(back, q * torch.sign(q[:, :1]), atol=1e-12)
    assert torch.equal(r[7], torch.zeros(3, dtype=torch.float64))
    assert float(r[8].norm()) == pytest.approx(2 * math.atan2(0.8, 0.6))


def test_group_of():
    _, _, state = _state()
    assert state.group_of(7) == 2
    with pytest.raises(InputError, match="unknown object id 5"):
        state.group_of(5)


def test_save_load(tmp_path):
    _, _, state = _state()
    path = tmp_path / "state.pt"
    save_state(path, state, meta={"k": 1})
    back, meta = load_state(path)
    assert meta == {"k": 1}
    assert back.object_names == state.object_names and back.step == state.step
    for k in ("means", "quats", "scales", "opacities", "sh", "group"):
        assert torch.equal(getattr(back.gaussians, k), getattr(state.gaussians, k))
    assert torch.equal(back.positions, state.positions)
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_state(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DatasetError, match=r"bad\.pt"):
        load_state(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "spatialwm.scene_state", "format_version": 999}, other)
    with pytest.raises(DatasetError, match="format_version 999"):
        load_state(other)
