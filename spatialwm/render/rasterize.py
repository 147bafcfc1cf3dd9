"""``rasterization()``: gsplat's call, on any device. The one place that picks a backend.

* tensors on CUDA -> ``gsplat.rasterization`` (gsplat's own kernels, unchanged);
* tensors on CPU -> the project's native C++/OpenMP kernels (``cuda_ext/``);
* ``backend="reference"`` -> the dense torch oracle (tests, tiny scenes).

The native and reference backends share this module's pre- and post-processing (input checks,
spherical harmonics, depth channels, expected depth), so they differ only in the two kernels
(projection, compositing) that the oracle tests compare.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from spatialwm.errors import InputError
from spatialwm.render import _native, _reference
from spatialwm.render.sh import num_sh_bases, spherical_harmonics

RenderMode = Literal["RGB", "D", "ED", "RGB+D", "RGB+ED"]
Backend = Literal["auto", "gsplat", "native", "reference"]
RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")
TILE_SIZE = _native.TILE_SIZE


def select_backend(device: torch.device, backend: Backend = "auto") -> str:
    """The backend used for tensors on ``device``: ``"gsplat"`` on CUDA, else ``"native"``.

    An explicit ``backend`` is checked against the device and returned.
    """
    if backend == "auto":
        return "gsplat" if device.type == "cuda" else "native"
    if backend not in ("gsplat", "native", "reference"):
        raise InputError(f"backend must be auto, gsplat, native or reference, got {backend!r}")
    if backend == "gsplat" and device.type != "cuda":
        raise InputError("backend='gsplat' needs tensors on a CUDA device (gsplat has no CPU path)")
    if backend == "native" and device.type != "cpu":
        raise InputError(f"backend='native' runs on CPU tensors, got tensors on {device}")
    return backend


def rasterization(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    render_mode: RenderMode = "RGB",
    absgrad: bool = False,
    packed: bool = False,
    backend: Backend = "auto",
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Render 3D Gaussians from C cameras (gsplat 1.5 semantics, classic 3DGS mode).

    Args:
        means: ``[N, 3]`` centres (world).
        quats: ``[N, 4]`` rotations, wxyz, need not be normalised.
        scales: ``[N, 3]`` activated scales.
        opacities: ``[N]`` activated opacities.
        colors: ``[N, D]`` or ``[C, N, D]`` features (any D >= 1), or, with ``sh_degree``,
            ``[N, K, 3]`` / ``[C, N, K, 3]`` SH coefficients with ``K >= (sh_degree + 1)**2``.
        viewmats: ``[C, 4, 4]`` world-to-camera, OpenCV (+Z forward, +Y down).
        Ks: ``[C, 3, 3]`` pinhole intrinsics.
        width, height: image size in pixels.
        near_plane, far_plane: Gaussians whose camera depth is outside are culled.
        radius_clip: Gaussians whose screen radius is at most this (both axes) are culled.
        eps2d: added to the 2D covariance's diagonal (anti-aliasing blur).
        sh_degree: SH degree 0..3 when ``colors`` holds SH coefficients, else None.
        backgrounds: ``[C, D]`` colour behind the Gaussians (D of the output), or None (0).
        render_mode: "RGB" (features), "D" (accumulated depth), "ED" (expected depth),
            "RGB+D", "RGB+ED" (depth as the last channel).
        absgrad: also compute ``meta["means2d"].absgrad`` in the backward pass.
        packed: only ``False`` (gsplat's packed layout exists on CUDA only); kept for
            call compatibility with gsplat.
        backend: "auto" (gsplat on CUDA, native on CPU), or force one.

    Returns:
        ``render_colors [C, H, W, D']``, ``render_alphas [C, H, W, 1]`` and ``meta``, a dict
        with (among others) ``means2d [C,N,2]`` (retain its grad for densification),
        ``radii [C,N,2]``, ``depths [C,N]``, ``conics [C,N,3]``, ``opacities [C,N]``,
        ``width``, ``height``, ``n_cameras``, ``tile_width``, ``tile_height`` (what gsplat's
        ``DefaultStrategy`` reads).
    """
    C, N = _validate(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height,
        near_plane=near_plane, far_plane=far_plane, sh_degree=sh_degree,
        backgrounds=backgrounds, render_mode=render_mode, packed=packed,
    )  # fmt: skip
    chosen = select_backend(means.device, backend)
    if chosen != "gsplat" and (viewmats.requires_grad or Ks.requires_grad):
        raise InputError(
            "gradients w.r.t. viewmats or Ks are only available on CUDA (gsplat); detach them "
            "or move the Gaussians instead to optimise a pose"
        )
    if chosen == "gsplat":
        return _rasterize_gsplat(
            means, quats, scales, opacities, colors, viewmats, Ks, width, height,
            near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d,
            sh_degree=sh_degree, backgrounds=backgrounds, render_mode=render_mode,
            absgrad=absgrad,
        )  # fmt: skip
    ops = _native if chosen == "native" else _reference

    radii, means2d, depths, conics = ops.project(
        means, quats, scales, opacities, viewmats, Ks, width, height,
        eps2d, near_plane, far_plane, radius_clip,
    )  # fmt: skip

    if sh_degree is not None:
        campos = torch.linalg.inv(viewmats.detach())[:, :3, 3]  # [C,3]
        dirs = means[None, :, :] - campos[:, None, :]  # [C,N,3]
        if colors.dim() == 4:  # per-camera coefficients
            feats = torch.clamp_min(spherical_harmonics(sh_degree, dirs, colors) + 0.5, 0.0)
        else:
            feats = sh_colors(sh_degree, dirs, colors, backend=chosen)
    else:
        feats = colors if colors.dim() == 3 else colors[None].expand(C, -1, -1)
    bgs = backgrounds
    if render_mode in ("RGB+D", "RGB+ED"):
        feats = torch.cat([feats, depths[..., None]], dim=-1)
        if bgs is not None:
            bgs = torch.cat([bgs, bgs.new_zeros(C, 1)], dim=-1)
    elif render_mode in ("D", "ED"):
        feats = depths[..., None]
        if bgs is not None:
            bgs = bgs.new_zeros(C, 1)
    opacities_c = opacities[None].expand(C, N)
    tile_width, tile_height = _native.tile_grid(width, height)

    meta: dict[str, Any] = {
        "batch_ids": None,
        "camera_ids": None,
        "gaussian_ids": None,
        "radii": radii,
        "means2d": means2d,
        "depths": depths,
        "conics": conics,
        "opacities": opacities_c,
        "tile_size": TILE_SIZE,
        "tile_width": tile_width,
        "tile_height": tile_height,
        "width": width,
        "height": height,
        "n_cameras": C,
        "n_batches": 1,
        "backend": chosen,
    }
    render_colors, render_alphas, extra = ops.rasterize(
        means2d, conics, feats, opacities_c, bgs, radii, depths, width, height, absgrad=absgrad
    )
    meta.update(extra)

    if render_mode in ("ED", "RGB+ED"):
        render_colors = torch.cat(
            [render_colors[..., :-1], render_colors[..., -1:] / render_alphas.clamp(min=1e-10)],
            dim=-1,
        )
    return render_colors, render_alphas, meta


def sh_colors(sh_degree: int, dirs: Tensor, coeffs: Tensor, *, backend: Backend = "auto") -> Tensor:
    """View-dependent colours of SH coefficients, as the rasterizer uses them.

    Args:
        sh_degree: 0..3.
        dirs: ``[C, N, 3]`` viewing directions (Gaussian centre minus camera centre).
        coeffs: ``[N, K, 3]`` coefficients shared by the cameras, ``K >= (sh_degree + 1)**2``.
        backend: as for :func:`rasterization` (gsplat's CUDA kernel, the native CPU kernel, or
            the torch reference).
    Returns:
        ``[C, N, 3]`` colours: SH + 0.5, clamped at 0 (gsplat's convention).
    """
    if not 0 <= sh_degree <= 3 or coeffs.shape[-2] < (sh_degree + 1) ** 2:
        raise InputError(f"sh_degree {sh_degree} needs {(sh_degree + 1) ** 2} coefficients")
    chosen = select_backend(dirs.device, backend)
    if chosen == "gsplat":
        from gsplat import spherical_harmonics as gsplat_sh

        raw = gsplat_sh(sh_degree, dirs, coeffs[None].expand(len(dirs), -1, -1, -1))
    elif chosen == "native":
        raw = _native.sh_colors(sh_degree, dirs, coeffs)
    else:
        raw = _reference.sh_colors(sh_degree, dirs, coeffs)
    return torch.clamp_min(raw + 0.5, 0.0)


def _rasterize_gsplat(means, quats, scales, opacities, colors, viewmats, Ks, width, height, **kw):
    """gsplat's own CUDA implementation, called unchanged (non-packed, 16x16 tiles)."""
    try:
        from gsplat import rasterization as gsplat_rasterization
    except ImportError as exc:  # pragma: no cover - gsplat is a declared dependency
        raise InputError(f"CUDA tensors need gsplat, which failed to import: {exc}") from exc
    render_colors, render_alphas, meta = gsplat_rasterization(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height,
        packed=False, tile_size=TILE_SIZE, rasterize_mode="classic", **kw,
    )  # fmt: skip
    meta["backend"] = "gsplat"
    return render_colors, render_alphas, meta


def _all_finite(t: Tensor) -> bool:
    """True when no element is NaN or infinite. One reduction (NaN and inf propagate through
    a sum); only a sum that overflows is checked again element by element."""
    if t.numel() == 0 or t.device.type == "meta":
        return True
    if bool(torch.isfinite(t.sum())):
        return True
    return bool(torch.isfinite(t).all())


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise InputError(msg)


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _validate(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float,
    far_plane: float,
    sh_degree: int | None,
    backgrounds: Tensor | None,
    render_mode: str,
    packed: bool,
) -> tuple[int, int]:
    """Check every argument of :func:`rasterization`; return ``(C, N)``."""
    named = {
        "means": means, "quats": quats, "scales": scales, "opacities": opacities,
        "colors": colors, "viewmats": viewmats, "Ks": Ks,
    }  # fmt: skip
    if backgrounds is not None:
        named["backgrounds"] = backgrounds
    for name, t in named.items():
        _check(isinstance(t, Tensor), f"{name} must be a torch.Tensor, got {type(t).__name__}")
    dtype, device = means.dtype, means.device
    _check(
        dtype in (torch.float32, torch.float64),
        f"means must be float32 or float64, got {dtype}",
    )
    for name, t in named.items():
        _check(t.dtype == dtype, f"{name} has dtype {t.dtype}, expected {dtype} (as means)")
        _check(t.device == device, f"{name} is on {t.device}, expected {device} (as means)")
    _check(means.dim() == 2 and means.shape[1] == 3, f"means must be [N, 3], got {_shape(means)}")
    N = means.shape[0]
    _check(quats.shape == (N, 4), f"quats must be [N, 4] = [{N}, 4], got {_shape(quats)}")
    _check(scales.shape == (N, 3), f"scales must be [N, 3] = [{N}, 3], got {_shape(scales)}")
    _check(opacities.shape == (N,), f"opacities must be [N] = [{N}], got {_shape(opacities)}")
    _check(
        viewmats.dim() == 3 and viewmats.shape[1:] == (4, 4) and viewmats.shape[0] >= 1,
        f"viewmats must be [C, 4, 4] with C >= 1, got {_shape(viewmats)}",
    )
    C = viewmats.shape[0]
    _check(Ks.shape == (C, 3, 3), f"Ks must be [C, 3, 3] = [{C}, 3, 3], got {_shape(Ks)}")
    _check(
        isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0,
        f"width and height must be positive ints, got {width!r} x {height!r}",
    )
    _check(
        render_mode in RENDER_MODES,
        f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}",
    )
    _check(not packed, "packed=True is not supported: spatialwm always uses the [C, N] layout")
    _check(
        0 < near_plane < far_plane,
        f"need 0 < near_plane < far_plane, got {near_plane}, {far_plane}",
    )
    if sh_degree is None:
        _check(
            (colors.dim() == 2 and colors.shape[0] == N)
            or (colors.dim() == 3 and colors.shape[:2] == (C, N)),
            f"colors must be [N, D] or [C, N, D] (N={N}, C={C}), got {_shape(colors)}",
        )
        D = colors.shape[-1]
        _check(D >= 1, "colors must have at least one channel")
    else:
        _check(
            isinstance(sh_degree, int) and 0 <= sh_degree <= 3,
            f"sh_degree must be an int in 0..3 or None, got {sh_degree!r}",
        )
        K = num_sh_bases(sh_degree)
        _check(
            (colors.dim() == 3 and colors.shape[0] == N and colors.shape[2] == 3)
            or (colors.dim() == 4 and colors.shape[:2] == (C, N) and colors.shape[3] == 3),
            f"with sh_degree, colors must be [N, K, 3] or [C, N, K, 3] (N={N}, C={C}), "
            f"got {_shape(colors)}",
        )
        _check(
            colors.shape[-2] >= K,
            f"sh_degree={sh_degree} needs K >= {K} SH coefficients, colors has {colors.shape[-2]}",
        )
        D = 3
    if backgrounds is not None:
        _check(
            backgrounds.shape == (C, D),
            f"backgrounds must be [C, D] = [{C}, {D}], got {_shape(backgrounds)}",
        )
    for name, t in named.items():
        _check(_all_finite(t), f"{name} contains NaN or infinite values")
    if N:
        _check(bool((quats.norm(dim=-1) > 0).all()), "quats contains a zero quaternion")
    return C, N
