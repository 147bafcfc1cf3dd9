"""Autograd wrappers over the native CPU kernels (``cuda_ext/``).

Thin and typed: each public function makes its inputs contiguous and calls an
``autograd.Function`` whose forward and backward are the compiled ops. Shapes and semantics
are documented once, in ``cuda_ext/rasterize.h``. The extension is built on first use.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from spatialwm.render._build import load_native

TILE_SIZE = 16


def tile_grid(width: int, height: int) -> tuple[int, int]:
    """``(tile_width, tile_height)``: 16x16 tiles covering a ``width`` x ``height`` image."""
    return (width + TILE_SIZE - 1) // TILE_SIZE, (height + TILE_SIZE - 1) // TILE_SIZE


def _c(t: Tensor) -> Tensor:
    return t.contiguous()


def _grad_or_zeros(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.contiguous()


class _Project(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        means: Tensor,
        quats: Tensor,
        scales: Tensor,
        opacities: Tensor,
        viewmats: Tensor,
        Ks: Tensor,
        width: int,
        height: int,
        eps2d: float,
        near_plane: float,
        far_plane: float,
        radius_clip: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        radii, means2d, depths, conics = load_native().project_fwd(
            means, quats, scales, opacities, viewmats, Ks,
            width, height, eps2d, near_plane, far_plane, radius_clip,
        )  # fmt: skip
        ctx.save_for_backward(means, quats, scales, viewmats, Ks, radii)
        ctx.dims = (width, height, eps2d)
        ctx.mark_non_differentiable(radii)
        return radii, means2d, depths, conics

    @staticmethod
    def backward(ctx: Any, _v_radii, v_means2d, v_depths, v_conics):  # type: ignore[override]
        means, quats, scales, viewmats, Ks, radii = ctx.saved_tensors
        width, height, eps2d = ctx.dims
        C, N = radii.shape[:2]
        like2 = means.new_empty(C, N, 2)
        v_means, v_quats, v_scales = load_native().project_bwd(
            means, quats, scales, viewmats, Ks, width, height, eps2d, radii,
            _grad_or_zeros(v_means2d, like2),
            _grad_or_zeros(v_depths, means.new_empty(C, N)),
            _grad_or_zeros(v_conics, means.new_empty(C, N, 3)),
        )  # fmt: skip
        return v_means, v_quats, v_scales, None, None, None, None, None, None, None, None, None


class _Rasterize(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        means2d: Tensor,
        conics: Tensor,
        colors: Tensor,
        opacities: Tensor,
        backgrounds: Tensor,
        width: int,
        height: int,
        isect: tuple[Tensor, Tensor, Tensor, Tensor],
        absgrad: bool,
    ) -> tuple[Tensor, Tensor]:
        tile_offsets, flatten_ids, gauss_offsets, isect_slot = isect
        render_colors, render_alphas, render_Ts, last_ids = load_native().rasterize_fwd(
            means2d, conics, colors, opacities, backgrounds, width, height,
            tile_offsets, flatten_ids,
        )  # fmt: skip
        ctx.save_for_backward(
            means2d, conics, colors, opacities, backgrounds,
            tile_offsets, flatten_ids, gauss_offsets, isect_slot,
            render_colors, render_Ts, last_ids,
        )  # fmt: skip
        ctx.dims = (width, height)
        ctx.absgrad = absgrad
        return render_colors, render_alphas

    @staticmethod
    def backward(ctx: Any, v_render_colors, v_render_alphas):  # type: ignore[override]
        saved = ctx.saved_tensors
        means2d, conics, colors, opacities, backgrounds = saved[:5]
        tile_offsets, flatten_ids, gauss_offsets, isect_slot = saved[5:9]
        render_colors, render_Ts, last_ids = saved[9:]
        width, height = ctx.dims
        v_m2, v_m2_abs, v_conics, v_colors, v_opac, v_bg = load_native().rasterize_bwd(
            means2d, conics, colors, opacities, backgrounds, width, height,
            tile_offsets, flatten_ids, gauss_offsets, isect_slot,
            render_colors, render_Ts, last_ids,
            _grad_or_zeros(v_render_colors, render_colors),
            _grad_or_zeros(v_render_alphas, render_Ts[..., None]),
            bool(ctx.absgrad),
        )  # fmt: skip
        if ctx.absgrad:
            means2d.absgrad = v_m2_abs
        v_bg_out = v_bg if backgrounds.numel() > 0 and ctx.needs_input_grad[4] else None
        return v_m2, v_conics, v_colors, v_opac, v_bg_out, None, None, None, None


class _SH(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:  # type: ignore[override]
        ctx.degree = degree
        ctx.save_for_backward(dirs, coeffs)
        return load_native().sh_fwd(degree, dirs, coeffs)

    @staticmethod
    def backward(ctx: Any, v_colors: Tensor):  # type: ignore[override]
        dirs, coeffs = ctx.saved_tensors
        v_dirs, v_coeffs = load_native().sh_bwd(ctx.degree, dirs, coeffs, v_colors.contiguous())
        return (
            None,
            v_dirs if ctx.needs_input_grad[1] else None,
            v_coeffs if ctx.needs_input_grad[2] else None,
        )


def sh_colors(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """SH colours (no offset): ``dirs [C,N,3]``, ``coeffs [N,K,3]`` shared by the cameras ->
    ``[C,N,3]``."""
    return _SH.apply(degree, _c(dirs), _c(coeffs))


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    eps2d: float,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Native EWA projection; see ``project_fwd`` in ``cuda_ext/rasterize.h``.

    Returns ``radii [C,N,2]`` int32, ``means2d [C,N,2]``, ``depths [C,N]``, ``conics [C,N,3]``.
    Differentiable w.r.t. ``means``, ``quats`` and ``scales``.
    """
    return _Project.apply(
        _c(means), _c(quats), _c(scales), _c(opacities.detach()), _c(viewmats.detach()),
        _c(Ks.detach()), int(width), int(height), float(eps2d), float(near_plane),
        float(far_plane), float(radius_clip),
    )  # fmt: skip


def isect_tiles(
    means2d: Tensor, radii: Tensor, depths: Tensor, width: int, height: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Native tile binning; see ``isect_tiles`` in ``cuda_ext/rasterize.h``.

    Returns ``tile_offsets [C*TH*TW+1]`` int64, ``flatten_ids [M]`` int32, ``gauss_offsets
    [C*N+1]`` int64, ``isect_slot [M]`` int32.
    """
    tw, th = tile_grid(width, height)
    return load_native().isect_tiles(_c(means2d.detach()), _c(radii), _c(depths.detach()), tw, th)


def rasterize(
    means2d: Tensor,
    conics: Tensor,
    colors: Tensor,
    opacities: Tensor,
    backgrounds: Tensor | None,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    absgrad: bool = False,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Bin and composite; same arguments as :func:`spatialwm.render._reference.rasterize`.

    Returns ``render_colors [C,H,W,D]``, ``render_alphas [C,H,W,1]`` and the binning tensors
    for ``meta`` (``isect_offsets``, ``flatten_ids``, ``tiles_per_gauss``).
    """
    C, N = radii.shape[:2]
    isect = isect_tiles(means2d, radii, depths, width, height)
    bg = backgrounds if backgrounds is not None else colors.new_empty(0)
    render_colors, render_alphas = _Rasterize.apply(
        _c(means2d), _c(conics), _c(colors), _c(opacities), _c(bg),
        int(width), int(height), isect, bool(absgrad),
    )  # fmt: skip
    tile_offsets, flatten_ids, gauss_offsets, _ = isect
    tw, th = tile_grid(width, height)
    extra = {
        "isect_offsets": tile_offsets[:-1].reshape(C, th, tw),
        "flatten_ids": flatten_ids,
        "tiles_per_gauss": (gauss_offsets[1:] - gauss_offsets[:-1]).reshape(C, N),
    }
    return render_colors, render_alphas, extra


class poisoned_outputs:
    """Context manager (tests): kernels' outputs and buffers start as NaN / sentinel values,
    so any element a kernel fails to write is visible."""

    def __enter__(self) -> None:
        load_native().set_poison(True)

    def __exit__(self, *exc: object) -> None:
        load_native().set_poison(False)
