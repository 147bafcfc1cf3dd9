// spatialwm native Gaussian rasterizer: the ops, their shapes and their semantics.
//
// One header for the three ops of the pipeline (project -> isect_tiles -> rasterize), each with
// a forward and, where differentiable, a backward, plus the SH colour op that feeds it. Only
// CPU implementations exist (C++17 + OpenMP); tensors on CUDA go to gsplat's kernels, chosen in
// Python (spatialwm/render/rasterize.py), so no op here dispatches to CUDA.
//
// Conventions (identical to gsplat 1.5.3):
//   C cameras, N Gaussians, D colour channels, M tile intersections, H x W image, 16x16 tiles.
//   viewmats: world-to-camera, OpenCV (+Z forward, +Y down); quats wxyz, not necessarily unit;
//   scales and opacities already activated; pixel centres at (x + 0.5, y + 0.5).
//   2D covariance gets eps2d added on its diagonal; alpha = min(0.999, o * exp(-sigma));
//   a Gaussian with alpha < 1/255 is skipped; blending stops before a Gaussian that would take
//   the transmittance T to <= 1e-4 (that Gaussian is not blended).
//   Screen extent: opacity < 1/255 is culled; extend = min(3.33, sqrt(2 ln(255 o)));
//   radius = ceil(extend * sqrt(cov2d diagonal)) per axis.
// All float tensors are float32 or float64 (same dtype throughout a call), contiguous.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

namespace swm {

// ---- projection (EWA splatting, pinhole) ----------------------------------------------------
// means [N,3], quats [N,4], scales [N,3], opacities [N], viewmats [C,4,4], Ks [C,3,3]
// -> radii [C,N,2] int32 (0 = culled), means2d [C,N,2], depths [C,N] (camera z),
//    conics [C,N,3] (inverse 2D covariance: xx, xy, yy). Culled entries are all zero.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> project_fwd(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
    const at::Tensor& opacities, const at::Tensor& viewmats, const at::Tensor& Ks,
    int64_t width, int64_t height, double eps2d, double near_plane, double far_plane,
    double radius_clip);

// Gradients of project_fwd's float outputs -> v_means [N,3], v_quats [N,4], v_scales [N,3].
// Culled (radius 0) entries contribute nothing. Race-free: parallel over Gaussians.
std::tuple<at::Tensor, at::Tensor, at::Tensor> project_bwd(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
    const at::Tensor& viewmats, const at::Tensor& Ks, int64_t width, int64_t height,
    double eps2d, const at::Tensor& radii, const at::Tensor& v_means2d,
    const at::Tensor& v_depths, const at::Tensor& v_conics);

// ---- tile intersection (binning) ------------------------------------------------------------
// means2d [C,N,2], radii [C,N,2] int32, depths [C,N]
// -> tile_offsets [C*TH*TW + 1] int64: the list of tile t is flatten_ids[tile_offsets[t] :
//                                      tile_offsets[t+1]], sorted front to back (stable in
//                                      the Gaussian index for equal depths)
//    flatten_ids [M] int32: camera * N + gaussian
//    gauss_offsets [C*N + 1] int64 and isect_slot [M] int32: the intersections grouped by
//                                      Gaussian: intersection `pos` (an index into flatten_ids)
//                                      is number isect_slot[pos] of that order, and Gaussian f
//                                      owns numbers gauss_offsets[f] : gauss_offsets[f+1]. The
//                                      backward pass writes per-intersection gradients there and
//                                      reduces them with sequential reads.
// Global depth sort (radix) per camera, then a parallel stable counting sort into tiles.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> isect_tiles(
    const at::Tensor& means2d, const at::Tensor& radii, const at::Tensor& depths,
    int64_t tile_width, int64_t tile_height);

// ---- rasterization --------------------------------------------------------------------------
// means2d [C,N,2], conics [C,N,3], colors [C,N,D], opacities [C,N], backgrounds [C,D] or empty
// -> render_colors [C,H,W,D], render_alphas [C,H,W,1], render_Ts [C,H,W] (final
//    transmittance), last_ids [C,H,W] int64 (position in flatten_ids where blending stopped).
// OpenMP over tiles; the tile's Gaussians in the outer loop, its pixels in a SIMD inner loop.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rasterize_fwd(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
    const at::Tensor& opacities, const at::Tensor& backgrounds, int64_t width, int64_t height,
    const at::Tensor& tile_offsets, const at::Tensor& flatten_ids);

// Gradients given v_render_colors [C,H,W,D] and v_render_alphas [C,H,W,1]
// -> v_means2d [C,N,2], v_means2d_abs [C,N,2] (sum over pixels of |per-pixel gradient|; zero
//    unless compute_abs),
//    v_conics [C,N,3], v_colors [C,N,D], v_opacities [C,N], v_backgrounds [C,D].
// Race-free and deterministic: each (tile, Gaussian) intersection owns a gradient slot (in
// Gaussian-major order); slots are then reduced per Gaussian (parallel over Gaussians).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
rasterize_bwd(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
              const at::Tensor& opacities, const at::Tensor& backgrounds, int64_t width,
              int64_t height, const at::Tensor& tile_offsets, const at::Tensor& flatten_ids,
              const at::Tensor& gauss_offsets, const at::Tensor& isect_slot,
              const at::Tensor& render_colors, const at::Tensor& render_Ts,
              const at::Tensor& last_ids, const at::Tensor& v_render_colors,
              const at::Tensor& v_render_alphas, bool compute_abs);

// ---- spherical harmonics colours (degrees 0-3, 3DGS basis order) ---------------------------
// dirs [C,N,3] viewing directions (any length; normalised inside), coeffs [N,K,3] with
// K >= (degree+1)^2, shared by the C cameras -> colors [C,N,3] = sum_k basis_k(dir) coeffs[k]
// (no +0.5 offset, no clamp). Parallel over Gaussians.
at::Tensor sh_fwd(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs);

// Gradient of sh_fwd: v_colors [C,N,3] -> v_dirs [C,N,3] (through the normalisation),
// v_coeffs [N,K,3] (summed over cameras; zero beyond the degree's bases).
std::tuple<at::Tensor, at::Tensor> sh_bwd(int64_t degree, const at::Tensor& dirs,
                                          const at::Tensor& coeffs, const at::Tensor& v_colors);

}  // namespace swm
