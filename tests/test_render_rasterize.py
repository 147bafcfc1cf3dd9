"""The native CPU rasterizer against the dense torch oracle, forward and backward."""

from __future__ import annotations

import zlib

import pytest
import torch
from conftest import random_cameras, random_gaussians

from spatialwm.errors import InputError
from spatialwm.render import _reference, rasterization, select_backend
from spatialwm.render._native import poisoned_outputs

PARAM_NAMES = ("means", "quats", "scales", "opacities", "colors")


def well_conditioned(params, viewmats, Ks, W, H):
    """``[C, H, W]`` bool: pixels whose every discrete decision is far from its threshold."""
    means, quats, scales, opacities, _ = (p.double() for p in params)
    vm, K = viewmats.double(), Ks.double()
    radii, means2d, depths, conics = _reference.project(
        means, quats, scales, opacities, vm, K, W, H, 0.3, 0.01, 1e10, 0.0
    )
    op = opacities[None].expand(vm.shape[0], -1)
    # Pixels with a decision this close to its threshold are left out of the comparison:
    # float32 rounding of the projection (~1e-5 relative in alpha, more in the transmittance
    # after many nearly opaque Gaussians) may legitimately decide them either way.
    mask = _reference.well_conditioned_pixels(means2d, conics, op, radii, depths, W, H)
    assert mask.float().mean() > 0.98, f"{(~mask).sum()} ill-conditioned pixels: too many"
    return mask


def seed_of(*case) -> int:
    return zlib.crc32(repr(case).encode()) % 10_000


def run(backend, params, viewmats, Ks, W, H, *, dtype, backgrounds=None, seed=0, mask=None, **kw):
    """Render, back-propagate a fixed random loss (zero on pixels outside ``mask``); return
    outputs and every gradient."""
    leaves = [p.detach().to(dtype).clone().requires_grad_(True) for p in params]
    bg = None
    if backgrounds is not None:
        bg = backgrounds.detach().to(dtype).clone().requires_grad_(True)
    rc, ra, meta = rasterization(
        *leaves, viewmats.to(dtype), Ks.to(dtype), W, H, backgrounds=bg, backend=backend, **kw
    )
    meta["means2d"].retain_grad()
    g = torch.Generator().manual_seed(seed)
    w_c = torch.randn(rc.shape, generator=g, dtype=torch.float64).to(dtype)
    w_a = torch.randn(ra.shape, generator=g, dtype=torch.float64).to(dtype)
    if mask is not None:
        w_c = w_c * mask[..., None].to(dtype)
        w_a = w_a * mask[..., None].to(dtype)
    ((rc * w_c).sum() + (ra * w_a).sum()).backward()
    grads = {n: p.grad for n, p in zip(PARAM_NAMES, leaves, strict=True)}
    grads["means2d"] = meta["means2d"].grad
    if bg is not None:
        grads["backgrounds"] = bg.grad
    if kw.get("absgrad"):
        grads["means2d_abs"] = meta["means2d"].absgrad
    if mask is not None:
        keep = mask[..., None].to(dtype)
        return rc.detach() * keep, ra.detach() * keep, meta, grads
    return rc.detach(), ra.detach(), meta, grads


def assert_matches(native, reference, fwd_tol=1e-4, bwd_rel=1e-3):
    """Forward: max abs error <= fwd_tol; backward: relative error (norm) <= bwd_rel."""
    rc_n, ra_n, meta_n, g_n = native
    rc_r, ra_r, meta_r, g_r = reference
    assert torch.equal(meta_n["radii"], meta_r["radii"])
    assert rc_n.shape == rc_r.shape and ra_n.shape == ra_r.shape
    assert torch.isfinite(rc_n).all() and torch.isfinite(ra_n).all()
    err_c = (rc_n.double() - rc_r).abs().max().item()
    err_a = (ra_n.double() - ra_r).abs().max().item()
    assert err_c <= fwd_tol, f"colours differ by {err_c}"
    assert err_a <= fwd_tol, f"alphas differ by {err_a}"
    assert g_n.keys() == g_r.keys()
    for name in g_r:
        a, b = g_n[name], g_r[name]
        if a is None and b is None and name in ("colors", "backgrounds"):
            continue  # depth-only render modes use neither colours nor backgrounds
        assert a is not None and b is not None, name
        assert torch.isfinite(a).all(), f"{name} gradient has non-finite values"
        ref_norm = b.norm().item()
        rel = (a.double() - b).norm().item() / max(ref_norm, 1e-12)
        assert ref_norm > 0, f"{name}: reference gradient is zero, the test would prove nothing"
        assert rel <= bwd_rel, f"{name} gradient relative error {rel:.2e}"


CASES = [
    # N, C, W, H, D, sh_degree, render_mode, backgrounds
    (2000, 2, 64, 48, 3, None, "RGB", True),
    (1500, 3, 50, 37, 1, None, "RGB", False),
    (1000, 2, 33, 70, 4, None, "RGB+D", True),
    (800, 2, 40, 40, 16, None, "RGB", True),
    (1200, 2, 48, 32, 3, 0, "RGB", True),
    (1200, 2, 48, 32, 3, 1, "RGB+ED", False),
    (1200, 2, 48, 32, 3, 2, "ED", False),
    (1200, 2, 48, 32, 3, 3, "D", True),
]


@pytest.mark.parametrize(("N", "C", "W", "H", "D", "sh_degree", "mode", "use_bg"), CASES)
def test_native_matches_reference(N, C, W, H, D, sh_degree, mode, use_bg):
    seed = seed_of(N, C, W, H, D, sh_degree, mode)
    params = random_gaussians(N, D, seed=seed, sh_degree=sh_degree)
    viewmats, Ks = random_cameras(C, W, H, seed=seed)
    out_d = 3 if sh_degree is not None else D
    bg = torch.rand(C, out_d, generator=torch.Generator().manual_seed(seed)) if use_bg else None
    mask = well_conditioned(params, viewmats, Ks, W, H)
    kw = dict(sh_degree=sh_degree, render_mode=mode, backgrounds=bg, seed=seed, mask=mask)
    with poisoned_outputs():
        native = run("native", params, viewmats, Ks, W, H, dtype=torch.float32, **kw)
    reference = run("reference", params, viewmats, Ks, W, H, dtype=torch.float64, **kw)
    assert (native[2]["radii"] > 0).all(-1).sum() > N // 4, "scene should be mostly visible"
    assert_matches(native, reference)


def test_absgrad_matches_reference():
    params = random_gaussians(600, 3, seed=7)
    viewmats, Ks = random_cameras(2, 40, 30, seed=7)
    kw = dict(absgrad=True, mask=well_conditioned(params, viewmats, Ks, 40, 30))
    native = run("native", params, viewmats, Ks, 40, 30, dtype=torch.float32, **kw)
    reference = run("reference", params, viewmats, Ks, 40, 30, dtype=torch.float64, **kw)
    assert_matches(native, reference)
    # |sum| <= sum |.| per Gaussian, with equality impossible in general
    g, a = native[3]["means2d"], native[3]["means2d_abs"]
    assert (a >= g.abs() - 1e-6).all() and (a - g.abs()).sum() > 0


def test_float64_gradcheck_of_native_kernels():
    params = random_gaussians(6, 2, seed=3, dtype=torch.float64)
    means, quats, scales, opacities, colors = params
    means = means * 0.5
    scales = scales.clamp(0.05, 0.3)
    opacities = opacities.clamp(0.2, 0.9)
    viewmats, Ks = random_cameras(2, 12, 10, seed=3, dtype=torch.float64)
    bg = torch.rand(2, 2, dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (means, quats, scales, opacities, colors, bg)]

    def f(m, q, s, o, c, b):
        rc, ra, _ = rasterization(
            m, q, s, o, c, viewmats, Ks, 12, 10, backgrounds=b, render_mode="RGB+ED",
            backend="native",
        )  # fmt: skip
        return rc, ra

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_deterministic_across_thread_counts():
    params = random_gaussians(1500, 3, seed=11)
    viewmats, Ks = random_cameras(2, 70, 45, seed=11)
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(run("native", params, viewmats, Ks, 70, 45, dtype=torch.float32))
    finally:
        torch.set_num_threads(before)
    (c1, a1, _, g1), (c2, a2, _, g2) = outs
    assert torch.equal(c1, c2) and torch.equal(a1, a2)
    for name in g1:
        assert torch.equal(g1[name], g2[name]), name


def test_meta_has_what_gsplat_strategies_read():
    params = random_gaussians(300, 3, seed=2)
    viewmats, Ks = random_cameras(2, 32, 24, seed=2)
    _, _, meta = rasterization(*params, viewmats, Ks, 32, 24)
    assert meta["backend"] == "native"
    assert meta["means2d"].shape == (2, 300, 2)
    assert meta["radii"].shape == (2, 300, 2) and meta["radii"].dtype == torch.int32
    assert meta["depths"].shape == (2, 300) and meta["conics"].shape == (2, 300, 3)
    assert (meta["width"], meta["height"], meta["n_cameras"]) == (32, 24, 2)
    assert (meta["tile_width"], meta["tile_height"]) == (2, 2)
    assert meta["isect_offsets"].shape == (2, 2, 2)
    assert meta["tiles_per_gauss"].shape == (2, 300)
    assert int(meta["tiles_per_gauss"].sum()) == meta["flatten_ids"].numel()


# ---- edge cases -------------------------------------------------------------------------


def _compare(params, viewmats, Ks, W, H, **kw):
    kw["mask"] = well_conditioned(params, viewmats, Ks, W, H)
    with poisoned_outputs():
        native = run("native", params, viewmats, Ks, W, H, dtype=torch.float32, **kw)
    reference = run("reference", params, viewmats, Ks, W, H, dtype=torch.float64, **kw)
    return native, reference


def test_no_gaussians_renders_background():
    params = random_gaussians(0, 3)
    viewmats, Ks = random_cameras(2, 20, 10)
    bg = torch.tensor([[0.1, 0.2, 0.3], [1.0, 0.0, 0.5]])
    rc, ra, meta = rasterization(*params, viewmats, Ks, 20, 10, backgrounds=bg)
    assert torch.equal(rc, bg[:, None, None, :].expand(2, 10, 20, 3))
    assert torch.equal(ra, torch.zeros(2, 10, 20, 1))
    assert meta["flatten_ids"].numel() == 0


def test_gaussians_behind_camera_or_outside_image_are_culled():
    means, quats, scales, opacities, colors = random_gaussians(200, 3, seed=5)
    viewmats, Ks = random_cameras(1, 24, 24, seed=5)
    cam_pos = torch.linalg.inv(viewmats[0])[:3, 3]
    behind = cam_pos + (cam_pos - 0.0) * 0.5 + 0.05 * torch.randn(200, 3)  # behind the camera
    _, ra, meta = rasterization(behind, quats, scales, opacities, colors, viewmats, Ks, 24, 24)
    assert (meta["radii"] == 0).all() and (ra == 0).all()
    sideways = means + torch.tensor([0.0, 0.0, 60.0])  # far outside the field of view
    _, ra2, meta2 = rasterization(sideways, quats, scales, opacities, colors, viewmats, Ks, 24, 24)
    assert (meta2["radii"] == 0).all() and (ra2 == 0).all()


def test_degenerate_and_huge_scales_and_zero_opacity():
    means, quats, scales, opacities, colors = random_gaussians(300, 3, seed=9)
    scales = scales.clone()
    scales[:50] = 0.0  # degenerate: the 2D footprint is the eps2d blur alone
    scales[50:60, 0] = 0.0  # flat discs
    scales[60:65] = 5.0  # huge: cover the whole image
    opacities = opacities.clone()
    opacities[65:100] = 0.0
    viewmats, Ks = random_cameras(2, 30, 20, seed=9)
    native, reference = _compare((means, quats, scales, opacities, colors), viewmats, Ks, 30, 20)
    assert_matches(native, reference)
    assert (native[2]["radii"][:, 65:100] == 0).all()


@pytest.mark.parametrize(("W", "H"), [(1, 1), (17, 5), (5, 33), (16, 16), (48, 17)])
def test_odd_image_sizes(W, H):
    # A tiny image sees few Gaussians per pixel in a real scene too: keep its pixels readable.
    params = random_gaussians(300 if W * H >= 64 else 30, 2, seed=seed_of(W, H))
    viewmats, Ks = random_cameras(1, W, H, seed=W)
    native, reference = _compare(params, viewmats, Ks, W, H, backgrounds=torch.rand(1, 2))
    assert native[0].shape == (1, H, W, 2)
    assert_matches(native, reference, bwd_rel=2e-3)


# ---- bad input ----------------------------------------------------------------------------


def _good():
    params = list(random_gaussians(10, 3))
    viewmats, Ks = random_cameras(2, 8, 8)
    return params, viewmats, Ks


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p, v, k: p.__setitem__(0, p[0][:, :2]), "means must be [N, 3]"),
        (lambda p, v, k: p.__setitem__(1, p[1][:5]), "quats must be [N, 4]"),
        (lambda p, v, k: p.__setitem__(2, p[2].double()), "scales has dtype"),
        (lambda p, v, k: p.__setitem__(3, p[3][None]), "opacities must be [N]"),
        (lambda p, v, k: p.__setitem__(4, p[4][:3]), "colors must be [N, D]"),
        (lambda p, v, k: p[0].__setitem__((0, 0), float("nan")), "means contains NaN"),
        (lambda p, v, k: p[2].__setitem__((1, 1), float("inf")), "scales contains NaN"),
        (lambda p, v, k: p[1].__setitem__(2, 0.0), "zero quaternion"),
        (lambda p, v, k: p.__setitem__(1, p[1].to("meta")), "quats is on meta"),
    ],
)
def test_bad_tensors_raise_clear_errors(mutate, message):
    params, viewmats, Ks = _good()
    mutate(params, viewmats, Ks)
    with pytest.raises(InputError) as info:
        rasterization(*params, viewmats, Ks, 8, 8)
    assert message in str(info.value)


def test_bad_arguments_raise_clear_errors():
    params, viewmats, Ks = _good()
    with pytest.raises(InputError, match="viewmats must be"):
        rasterization(*params, viewmats[:, :3], Ks, 8, 8)
    with pytest.raises(InputError, match="Ks must be"):
        rasterization(*params, viewmats, Ks[:1], 8, 8)
    with pytest.raises(InputError, match="width and height"):
        rasterization(*params, viewmats, Ks, 0, 8)
    with pytest.raises(InputError, match="render_mode"):
        rasterization(*params, viewmats, Ks, 8, 8, render_mode="RGBD")
    with pytest.raises(InputError, match="sh_degree=2 needs K >= 9"):
        sh = torch.zeros(10, 4, 3)
        rasterization(*params[:4], sh, viewmats, Ks, 8, 8, sh_degree=2)
    with pytest.raises(InputError, match="backgrounds must be"):
        rasterization(*params, viewmats, Ks, 8, 8, backgrounds=torch.zeros(2, 4))
    with pytest.raises(InputError, match="near_plane"):
        rasterization(*params, viewmats, Ks, 8, 8, near_plane=-1.0)
    with pytest.raises(InputError, match="packed"):
        rasterization(*params, viewmats, Ks, 8, 8, packed=True)
    with pytest.raises(InputError, match="viewmats or Ks"):
        rasterization(*params, viewmats.clone().requires_grad_(True), Ks, 8, 8)


def test_backend_is_chosen_by_device():
    assert select_backend(torch.device("cpu")) == "native"
    assert select_backend(torch.device("cuda")) == "gsplat"
    assert select_backend(torch.device("cpu"), "reference") == "reference"
    with pytest.raises(InputError, match="CUDA"):
        select_backend(torch.device("cpu"), "gsplat")
    with pytest.raises(InputError, match="CPU"):
        select_backend(torch.device("cuda"), "native")
