"""The learned residual: rotation helpers, pure corrections, the graph network, its file
round trip and training on a tiny synthetic problem."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import blob_state

from spatialwm.dynamics.proxy import Proxies, box_corners
from spatialwm.dynamics.residual import (
    EDGE_FEATURES,
    NODE_FEATURES,
    NetEnsemble,
    Poses,
    ResidualNet,
    correct,
    integrate,
    net_from_json,
    net_to_json,
    scene_graph,
)
from spatialwm.dynamics.training import Transition, targets, train_residual
from spatialwm.errors import DatasetError
from spatialwm.scene.state import quat_from_rotvec, quat_multiply, quat_to_matrix, rotvec_from_quat


def _random_quats(n: int, gen: torch.Generator) -> torch.Tensor:
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def test_rotvec_round_trip_and_small_angles():
    gen = torch.Generator().manual_seed(1)
    q = _random_quats(200, gen)
    q = torch.where(q[:, :1] < 0, -q, q)
    back = quat_from_rotvec(rotvec_from_quat(q))
    assert torch.allclose(back, q, atol=1e-10)
    r = torch.tensor([[1e-12, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, math.pi, 0.0]])
    out = quat_from_rotvec(r.double())
    assert torch.isfinite(out).all() and torch.allclose(out.norm(dim=-1), torch.ones(3).double())
    assert torch.allclose(rotvec_from_quat(out)[:2], r[:2].double(), atol=1e-12)


def test_correct_zero_is_identity_and_pure():
    s = blob_state()
    k = s.num_groups - 1
    before = s.positions.clone()
    out = correct(s, torch.zeros(k, 12))
    assert torch.equal(s.positions, before)
    for name in ("positions", "linear_velocity", "angular_velocity"):
        assert torch.allclose(getattr(out, name), getattr(s, name))
    assert torch.allclose(out.orientations.abs(), s.orientations.abs(), atol=1e-6)
    c = torch.zeros(k, 12)
    c[0, 0] = 0.1
    c[0, 5] = math.pi / 2  # +90 deg about z
    moved = correct(s, c)
    assert torch.allclose(moved.positions[1], s.positions[1] + torch.tensor([0.1, 0, 0]))
    assert torch.equal(moved.positions[0], s.positions[0])  # background never moves
    expect = quat_multiply(quat_from_rotvec(torch.tensor([0, 0, math.pi / 2]).double()),
                           s.orientations[1].double())  # fmt: skip
    assert abs(abs(float(moved.orientations[1].double() @ expect)) - 1) < 1e-6


def test_integrate_moves_with_velocity():
    s = blob_state()
    lin = s.linear_velocity.clone()
    lin[1] = torch.tensor([1.0, 0.0, 0.0])
    ang = s.angular_velocity.clone()
    ang[1] = torch.tensor([0.0, 0.0, math.pi])
    s = s.replace(linear_velocity=lin, angular_velocity=ang)
    n = integrate(s, 0.5)
    assert torch.allclose(n.positions[1], s.positions[1] + torch.tensor([0.5, 0, 0]))
    assert n.step == s.step + 1 and torch.equal(n.positions[0], s.positions[0])


def _proxies(k: int) -> Proxies:
    return Proxies(
        object_ids=torch.arange(1, k + 1),
        centre=torch.zeros(k, 3),
        rotation=torch.tensor([[1.0, 0, 0, 0]]).repeat(k, 1),
        half_extents=torch.full((k, 3), 0.03),
        mass=torch.full((k,), 0.1),
        friction=torch.full((k,), 0.5),
    )


def _poses(k: int, gen: torch.Generator) -> Poses:
    return Poses(
        torch.randn(k, 3, generator=gen, dtype=torch.float64) * 0.1,
        _random_quats(k, gen),
        torch.randn(k, 3, generator=gen, dtype=torch.float64),
        torch.randn(k, 3, generator=gen, dtype=torch.float64),
    )


def test_scene_graph_shapes_and_untrained_net_is_zero():
    gen = torch.Generator().manual_seed(2)
    a, b = _poses(4, gen), _poses(4, gen)
    nodes, edges, dist = scene_graph(a, b, _proxies(4), torch.tensor([1.0, 0, 0, 0]))
    assert nodes.shape == (4, NODE_FEATURES) and edges.shape == (4, 4, EDGE_FEATURES)
    assert torch.allclose(dist, dist.T) and torch.isfinite(nodes).all()
    out = ResidualNet().predict(a, b, _proxies(4), torch.zeros(4))
    assert out.shape == (4, 12) and torch.equal(out, torch.zeros_like(out))


def test_scene_graph_features_match_their_definitions():
    # an obviously-right torch reference of every feature, element by element (scene_graph
    # computes them in numpy), on random proxies and poses
    gen = torch.Generator().manual_seed(5)
    k = 5
    a, b = _poses(k, gen), _poses(k, gen)
    rot = _random_quats(k, gen).float()
    proxies = Proxies(
        object_ids=torch.arange(1, k + 1),
        centre=torch.randn(k, 3, generator=gen) * 0.02,
        rotation=rot,
        half_extents=torch.rand(k, 3, generator=gen) * 0.05 + 0.01,
        mass=torch.full((k,), 0.1),
        friction=torch.full((k,), 0.5),
    )
    acted = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0])
    nodes, edges, dist = scene_graph(a, b, proxies, acted)

    def up(q):
        return torch.stack([quat_to_matrix(x)[:, 2] for x in q])  # third column, per object

    def low(p):
        return torch.stack([c[:, 2].min() for c in box_corners(proxies, p.p.float(), p.q.float())])

    half = torch.stack([h.sort(descending=True).values for h in proxies.half_extents]).double()
    drot = torch.stack([rotvec_from_quat(quat_multiply(qb, torch.cat([qa[:1], -qa[1:]])))
                        for qa, qb in zip(a.q, b.q, strict=True)])  # fmt: skip
    want = torch.cat([
        a.v, a.w, up(a.q), b.p - a.p, drot, b.v, b.w, up(b.q), half,
        low(a).double()[:, None], low(b).double()[:, None], acted.double()[:, None],
    ], dim=1)  # fmt: skip
    assert torch.allclose(nodes, want, atol=1e-5), (nodes - want).abs().amax(0)
    for i in range(k):
        for j in range(k):
            rel = a.p[j] - a.p[i]
            e = torch.cat([rel, rel.norm()[None], a.v[j] - a.v[i],
                           (b.p[j] - a.p[j]) - (b.p[i] - a.p[i]), half[j]])  # fmt: skip
            assert torch.allclose(edges[i, j], e, atol=1e-9), (i, j)
            assert float(dist[i, j]) == pytest.approx(float(rel.norm()), abs=1e-12)


def test_json_round_trip_is_exact_and_bad_records_are_named():
    torch.manual_seed(0)
    net = ResidualNet(hidden=16, radius=0.25)
    for p in net.parameters():
        torch.nn.init.normal_(p)
    back = net_from_json(net_to_json(net))
    for k, v in net.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    gen = torch.Generator().manual_seed(3)
    a, b = _poses(3, gen), _poses(3, gen)
    assert torch.equal(net.eval().predict(a, b, _proxies(3), torch.zeros(3)),
                       back.predict(a, b, _proxies(3), torch.zeros(3)))  # fmt: skip
    rec = net_to_json(net)
    del rec["state"]["out.0.weight"]
    with pytest.raises(DatasetError, match=r"model\.json: residual"):
        net_from_json(rec, "model.json: residual")


def test_ensemble_is_the_mean_of_its_members_and_round_trips():
    """Equally wide members run batched (stacked weights), others one by one: either way
    the prediction is the members' mean."""
    members = []
    for seed, hidden, radius in ((0, 8, 0.3), (1, 8, 0.2), (2, 8, 0.3), (3, 16, 0.3)):
        torch.manual_seed(seed)
        net = ResidualNet(hidden=hidden, radius=radius)
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.3)
        for name, buf in net.named_buffers():  # standardisation differs between members too
            if name != "bounds":
                buf.copy_(torch.rand(buf.shape) + 0.5)
        members.append(net.eval())
    gen = torch.Generator().manual_seed(5)
    a, b = _poses(4, gen), _poses(4, gen)
    a.p[1] = a.p[0] + torch.tensor([0.25, 0.0, 0.0], dtype=a.p.dtype)  # between the radii
    acted = torch.tensor([1.0, 0.0, 0.0, 0.0])
    for group, batched in ((members[:3], True), (members, False)):
        ens = NetEnsemble(group)
        assert (ens._stacked is not None) == batched
        each = torch.stack([m.predict(a, b, _proxies(4), acted) for m in group])
        got = ens.predict(a, b, _proxies(4), acted)
        assert got.dtype == torch.float64 and got.shape == (4, 12)
        assert torch.allclose(got, each.mean(0), rtol=1e-5, atol=1e-6), got - each.mean(0)
        assert not torch.allclose(each[0], each[1])  # the members differ: the mean is not one
    ens = NetEnsemble(members[:3])
    got = ens.predict(a, b, _proxies(4), acted)
    back = net_from_json(net_to_json(ens))
    assert isinstance(back, NetEnsemble) and len(back) == 3
    assert torch.equal(back.predict(a, b, _proxies(4), acted), got)
    for bad, match in (({"members": []}, "non-empty"),
                       ({"members": [net_to_json(members[0]), {"hidden": 8}]},
                        r"residual: members\[1\]: malformed"),
                       ({"members": [net_to_json(NetEnsemble(members[:2]))]},  # no nesting
                        r"residual: members\[0\]: malformed")):  # fmt: skip
        with pytest.raises(DatasetError, match=match):
            net_from_json(bad, "model.json: residual")


def test_training_learns_a_simple_correction():
    """The truth is the base moved by 5 cm per m/s of each object's velocity: learnable from
    the node features alone; the held-out episode's error must drop well below the base's."""
    gen = torch.Generator().manual_seed(4)
    trans = []
    for e in range(3):
        for _ in range(30):
            a, b = _poses(3, gen), _poses(3, gen)
            t = Poses(b.p + 0.05 * a.v, b.q, b.v, b.w)
            trans.append(Transition(a, b, t, _proxies(3), torch.zeros(3), torch.ones(3), e))
    net, stats = train_residual(trans, iters=300, rotations=2, lr=1e-2, log=lambda *_: None)
    assert stats["val_loss"] is not None and stats["best_iter"] > 0
    val = [t for t in trans if t.episode == 2]
    err_base = torch.stack([targets(t.base, t.truth)[:, :3].norm(dim=-1) for t in val]).mean()
    err_net = torch.stack([
        (targets(t.base, t.truth)[:, :3] - net.predict(t.after, t.base, t.proxies, t.acted)[:, :3])
        .norm(dim=-1) for t in val
    ]).mean()  # fmt: skip
    assert err_net < 0.5 * err_base, (float(err_net), float(err_base))
