// Alpha compositing of projected Gaussians into 16x16 tiles on CPU, forward and backward.
// Semantics and shapes: rasterize.h.
//
// Layout of the work: OpenMP over (camera, tile) tasks, dynamic schedule. Inside a tile the
// Gaussians (front to back) are the outer loop and the tile's pixels the inner loop: one row of
// 16 pixels is one SIMD loop. Rows a Gaussian cannot reach (alpha < 1/255 for every pixel of
// the row, from the exact bound of its 2D covariance and opacity) and rows whose pixels have all
// finished are skipped; a tile stops when all its pixels have finished.
//
// Backward pass, front to back: the pixel's colour of the Gaussians behind Gaussian i is the
// final foreground colour minus what was accumulated up to i, so the transmittance is never
// divided back out (no catastrophic growth of rounding error near alpha = 0.999) and the pass
// walks the list in the forward order. Each (tile, Gaussian) intersection writes its gradient
// to a slot of its own, in Gaussian-major order; slots are reduced per Gaussian afterwards: race-free and deterministic
// for any thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "common.h"
#include "rasterize.h"
#include "vec.h"

namespace swm {
namespace {

// The reach of a Gaussian: the pixels where alpha = o exp(-sigma) can be >= 1/255, i.e.
// sigma(dx, dy) = A dx^2 / 2 + B dx dy + C dy^2 / 2 <= L = ln(255 o), with (dx, dy) = mean -
// pixel. Over a row (fixed dy) sigma is smallest at dx = -B dy / A, where it equals
// dy^2 det / (2 A) (det = A C - B^2); the row is reachable iff that is <= L, and then only
// for |dx + B dy / A| <= sqrt(2 (L - dy^2 det / (2 A)) / A). Rows, and rows whose reachable
// columns miss the tile, are skipped: exact semantics, less work. Computed in double and
// widened by small margins so that float rounding never drops a reachable pixel.
template <typename T>
struct Reach {
  T row_ext;      // half-height of the reachable band of rows, in pixels (< 0: reaches nothing)
  T L;            // ln(255 o)
  T det_over_2A;  // det / (2 A)
  T B_over_A;     // B / A
  T two_over_A;   // 2 / A
};

template <typename T>
inline Reach<T> reach_of(const T* conic, T opacity) {
  const double A = conic[0], B = conic[1], C = conic[2];
  const double det = A * C - B * B;
  Reach<T> r{T(-1), T(0), T(0), T(0), T(0)};
  if (!(det > 0) || !(A > 0) || !(double(opacity) >= kAlphaMin)) return r;
  const double L = std::log(double(opacity) / kAlphaMin);
  r.row_ext = T(std::sqrt(2.0 * L * A / det) * 1.001 + 1e-3);
  r.L = T(L * (1.0 + 1e-4) + 1e-4);
  r.det_over_2A = T(det / (2.0 * A));
  r.B_over_A = T(B / A);
  r.two_over_A = T(2.0 / A);
  return r;
}

template <typename T>
std::vector<Reach<T>> reaches(const T* conics, const T* opacities, int64_t n) {
  std::vector<Reach<T>> out(n);
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t k = 0; k < n; ++k) out[k] = reach_of(conics + k * 3, opacities[k]);
  return out;
}

// Whether the reachable columns of the row at offset dy (mean - pixel centre) meet the tile's
// pixel centres x0 + 0.5 .. x0 + 15.5.
template <typename T>
inline bool row_meets_tile(const Reach<T>& g, T mx, T dy, T x0) {
  const T rest = g.L - dy * dy * g.det_over_2A;
  if (rest < 0) return false;
  const T half = std::sqrt(rest * g.two_over_A) * T(1.001) + T(1e-2);
  const T centre = mx + g.B_over_A * dy;
  return centre + half >= x0 + T(0.5) && centre - half <= x0 + T(kTile - 0.5);
}

// One projected Gaussian as both compositing loops read it, with the per-column part of sigma
// precomputed for the tile's 16 pixel columns (kSeg vectors).
template <typename T>
struct Splat {
  using V = typename Vec<T>::V;
  static constexpr int kSeg = Vec<T>::kSeg;
  T mx, my, A, B, Cc, op;
  const T* col;        // its D colour channels
  V dx[kSeg];          // mean x - pixel-centre x, per column
  V half_a_dx2[kSeg];  // A dx^2 / 2, per column

  Splat(int64_t fid, const T* means2d, const T* conics, const T* opacities, const T* colors,
        int64_t D, const V* px)
      : mx(means2d[fid * 2]), my(means2d[fid * 2 + 1]), A(conics[fid * 3]),
        B(conics[fid * 3 + 1]), Cc(conics[fid * 3 + 2]), op(opacities[fid]),
        col(colors + fid * D) {
    for (int s = 0; s < kSeg; ++s) {
      dx[s] = mx - px[s];
      half_a_dx2[s] = T(0.5) * A * dx[s] * dx[s];
    }
  }

  // mean y - pixel-centre y of tile row r
  T dy(int64_t y0, int r) const { return my - (T(y0 + r) + T(0.5)); }
  // sigma = A dx^2 / 2 + B dx dy + C dy^2 / 2 for the pixels of segment s of a row
  V sigma(T dy, int s) const { return half_a_dx2[s] + (T(0.5) * Cc * dy * dy + (B * dy) * dx[s]); }
};

// Pixel-centre x offsets of the tile's columns, per segment: x + 0.5 for x = 0..15.
template <typename T>
struct LaneX {
  typename Vec<T>::V v[Vec<T>::kSeg];
  LaneX() {
    for (int s = 0; s < Vec<T>::kSeg; ++s)
      for (int l = 0; l < Vec<T>::kLanes; ++l) v[s][l] = T(s * Vec<T>::kLanes + l) + T(0.5);
  }
};

// The compositing loops visit a tile's Gaussians in depth order, i.e. at random places of the
// per-Gaussian arrays; a row's vector work keeps the out-of-order window too full to start the
// next Gaussian's loads early, so they are prefetched a few list entries ahead.
constexpr int64_t kPrefetchAhead = 6;

template <typename T>
inline void prefetch_splat(int64_t fid, const T* means2d, const T* conics, const T* opacities,
                           const T* colors, int64_t D, const void* reach) {
  __builtin_prefetch(means2d + fid * 2);
  __builtin_prefetch(conics + fid * 3);
  __builtin_prefetch(opacities + fid);
  __builtin_prefetch(colors + fid * D);
  __builtin_prefetch(reach);
}

struct TileInfo {
  int64_t cam, x0, y0, rows, cols;  // origin in pixels; rows/cols inside the image
};

inline TileInfo tile_info(int64_t task, int64_t tw, int64_t th, int64_t W, int64_t H) {
  const int64_t ntiles = tw * th;
  TileInfo ti;
  ti.cam = task / ntiles;
  const int64_t t = task % ntiles;
  ti.x0 = (t % tw) * kTile;
  ti.y0 = (t / tw) * kTile;
  ti.rows = std::min<int64_t>(kTile, H - ti.y0);
  ti.cols = std::min<int64_t>(kTile, W - ti.x0);
  return ti;
}

// First and last row (inclusive, tile-local) whose pixel centres lie within `ext` of `my`.
template <typename T>
inline void row_range(T my, T ext, const TileInfo& ti, int& r_lo, int& r_hi) {
  const T lo = std::ceil(my - ext - T(0.5) - T(ti.y0));
  const T hi = std::floor(my + ext - T(0.5) - T(ti.y0));
  r_lo = lo < 0 ? 0 : (lo > kTile ? kTile : static_cast<int>(lo));
  r_hi = hi >= T(ti.rows - 1) ? static_cast<int>(ti.rows - 1) : (hi < -1 ? -1 : static_cast<int>(hi));
}

template <typename T>
void rasterize_fwd_impl(const at::Tensor& means2d, const at::Tensor& conics,
                        const at::Tensor& colors, const at::Tensor& opacities,
                        const at::Tensor& backgrounds, int64_t W, int64_t H,
                        const at::Tensor& tile_offsets, const at::Tensor& flatten_ids,
                        at::Tensor& out_colors, at::Tensor& out_alphas, at::Tensor& out_Ts,
                        at::Tensor& out_last) {
  using V = typename Vec<T>::V;
  using M = typename Vec<T>::M;
  using I = typename std::remove_reference<decltype(M{}[0])>::type;
  constexpr int kSeg = Vec<T>::kSeg, kLanes = Vec<T>::kLanes;
  constexpr int kQ = kTile * kSeg;  // row segments per tile
  const int64_t C = means2d.size(0), N = means2d.size(1), D = colors.size(2);
  const int64_t tw = (W + kTile - 1) / kTile, th = (H + kTile - 1) / kTile;
  const T* p_m2 = means2d.data_ptr<T>();
  const T* p_con = conics.data_ptr<T>();
  const T* p_col = colors.data_ptr<T>();
  const T* p_op = opacities.data_ptr<T>();
  const T* p_bg = backgrounds.numel() > 0 ? backgrounds.data_ptr<T>() : nullptr;
  const int64_t* p_toff = tile_offsets.data_ptr<int64_t>();
  const int32_t* p_flat = flatten_ids.data_ptr<int32_t>();
  T* o_col = out_colors.data_ptr<T>();
  T* o_alpha = out_alphas.data_ptr<T>();
  T* o_T = out_Ts.data_ptr<T>();
  int64_t* o_last = out_last.data_ptr<int64_t>();
  const std::vector<Reach<T>> reach = reaches(p_con, p_op, C * N);
  const V zero = vsplat<V>(T(0)), one = vsplat<V>(T(1));
  const V alpha_max = vsplat<V>(T(kAlphaMax));
  const T alpha_min = T(kAlphaMin), t_min = T(kTransmittanceMin);
  const LaneX<T> lane_x;

#pragma omp parallel num_threads(num_threads())
  {
    std::vector<V> acc(D * kQ);  // [channel][row segment]
    V Tr[kQ];
    M last[kQ], active[kQ];
    bool row_alive[kTile];
    int64_t rows_done = 0;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t task = 0; task < C * tw * th; ++task) {
      const TileInfo ti = tile_info(task, tw, th, W, H);
      const int64_t start = p_toff[task], end = p_toff[task + 1];
      std::fill(acc.begin(), acc.end(), zero);
      int rows_alive = 0;
      M col_in[kSeg];
      for (int x = 0; x < kTile; ++x) col_in[x / kLanes][x % kLanes] = x < ti.cols ? I(-1) : I(0);
      for (int r = 0; r < kTile; ++r) {
        for (int sg = 0; sg < kSeg; ++sg) {
          Tr[r * kSeg + sg] = one;
          last[r * kSeg + sg] = M{} + I(end - start);
          active[r * kSeg + sg] = r < ti.rows ? col_in[sg] : M{};
        }
        row_alive[r] = r < ti.rows;
        rows_alive += row_alive[r];
      }
      V px[kSeg];
      for (int sg = 0; sg < kSeg; ++sg) px[sg] = lane_x.v[sg] + T(ti.x0);
      for (int64_t pos = start; pos < end && rows_alive > 0; ++pos) {
        if (pos + kPrefetchAhead < end) {
          const int64_t f = p_flat[pos + kPrefetchAhead];
          prefetch_splat(f, p_m2, p_con, p_op, p_col, D, &reach[f]);
        }
        const int64_t fid = p_flat[pos];
        const Reach<T>& rg = reach[fid];
        if (rg.row_ext < 0) continue;
        const Splat<T> sp(fid, p_m2, p_con, p_op, p_col, D, px);
        const I rel = I(pos - start);
        int r_lo, r_hi;
        row_range(sp.my, rg.row_ext, ti, r_lo, r_hi);
        for (int r = r_lo; r <= r_hi; ++r) {
          if (!row_alive[r]) continue;
          const T dy = sp.dy(ti.y0, r);
          if (!row_meets_tile(rg, sp.mx, dy, T(ti.x0))) continue;
          ++rows_done;
          bool ended = false;
          for (int sg = 0; sg < kSeg; ++sg) {
            const int q = r * kSeg + sg;
            const V sigma = sp.sigma(dy, sg);
            const V a = vmin(sp.op * vexp(-sigma), alpha_max);
            const M ok = active[q] & (sigma >= zero) & (a >= alpha_min);
            const V nT = Tr[q] * (one - a);
            const M term = ok & (nT <= t_min);
            const M blend = ok & ~term;
            const V w = blend ? a * Tr[q] : zero;
            Tr[q] = blend ? nT : Tr[q];
            for (int64_t k = 0; k < D; ++k) acc[k * kQ + q] += w * sp.col[k];
            if (any_lane(term)) {
              last[q] = term ? (M{} + rel) : last[q];
              active[q] &= ~term;
              ended = true;
            }
          }
          if (ended) {
            bool alive = false;
            for (int sg = 0; sg < kSeg; ++sg) alive = alive || any_lane(active[r * kSeg + sg]);
            if (!alive) {
              row_alive[r] = false;
              --rows_alive;
            }
          }
        }
      }
      for (int r = 0; r < ti.rows; ++r) {
        for (int x = 0; x < ti.cols; ++x) {
          const int q = r * kSeg + x / kLanes, l = x % kLanes;
          const int64_t pix = (ti.cam * H + ti.y0 + r) * W + ti.x0 + x;
          const T Tf = Tr[q][l];
          for (int64_t k = 0; k < D; ++k) {
            T v = acc[k * kQ + q][l];
            if (p_bg) v += Tf * p_bg[ti.cam * D + k];
            o_col[pix * D + k] = v;
          }
          o_alpha[pix] = T(1) - Tf;
          o_T[pix] = Tf;
          o_last[pix] = start + int64_t(last[q][l]);
        }
      }
    }
    if (stats().enabled) {
#pragma omp atomic
      stats().fwd_rows += rows_done;
    }
  }
}

// KD: the channel count when it is a small compile-time constant (1..4; the per-entry colour
// accumulators then live in registers), 0 for any D.
template <typename T, int KD>
void rasterize_bwd_impl(bool compute_abs, const at::Tensor& means2d, const at::Tensor& conics,
                        const at::Tensor& colors, const at::Tensor& opacities,
                        const at::Tensor& backgrounds, int64_t W, int64_t H,
                        const at::Tensor& tile_offsets, const at::Tensor& flatten_ids,
                        const at::Tensor& gauss_offsets, const at::Tensor& isect_slot,
                        const at::Tensor& render_colors, const at::Tensor& render_Ts,
                        const at::Tensor& last_ids, const at::Tensor& v_render_colors,
                        const at::Tensor& v_render_alphas, at::Tensor& v_means2d,
                        at::Tensor& v_means2d_abs, at::Tensor& v_conics, at::Tensor& v_colors,
                        at::Tensor& v_opacities, at::Tensor& v_backgrounds) {
  using V = typename Vec<T>::V;
  using M = typename Vec<T>::M;
  using I = typename std::remove_reference<decltype(M{}[0])>::type;
  constexpr int kSeg = Vec<T>::kSeg, kLanes = Vec<T>::kLanes;
  constexpr int kQ = kTile * kSeg;  // row segments per tile
  const int64_t C = means2d.size(0), N = means2d.size(1);
  const int64_t D = KD > 0 ? KD : colors.size(2);
  const int64_t tw = (W + kTile - 1) / kTile, th = (H + kTile - 1) / kTile;
  const int64_t ntasks = C * tw * th;
  const int64_t M_isect = flatten_ids.size(0);
  const T* p_m2 = means2d.data_ptr<T>();
  const T* p_con = conics.data_ptr<T>();
  const T* p_col = colors.data_ptr<T>();
  const T* p_op = opacities.data_ptr<T>();
  const T* p_bg = backgrounds.numel() > 0 ? backgrounds.data_ptr<T>() : nullptr;
  const int64_t* p_toff = tile_offsets.data_ptr<int64_t>();
  const int32_t* p_flat = flatten_ids.data_ptr<int32_t>();
  const int64_t* p_goff = gauss_offsets.data_ptr<int64_t>();
  const int32_t* p_slot = isect_slot.data_ptr<int32_t>();
  const T* p_rc = render_colors.data_ptr<T>();
  const T* p_rT = render_Ts.data_ptr<T>();
  const int64_t* p_last = last_ids.data_ptr<int64_t>();
  const T* p_vrc = v_render_colors.data_ptr<T>();
  const T* p_vra = v_render_alphas.data_ptr<T>();
  const std::vector<Reach<T>> reach = reaches(p_con, p_op, C * N);
  const V zero = vsplat<V>(T(0)), one = vsplat<V>(T(1));
  const V alpha_max = vsplat<V>(T(kAlphaMax));
  const T alpha_min = T(kAlphaMin);
  const LaneX<T> lane_x;

  // Per-intersection gradient slots: [v_mean2d (2), |v_mean2d| (2), v_conic (3), v_opacity,
  // v_color (D)]; per-tile background slots [D].
  const int64_t S = 8 + D;
  RawBuffer<T> slots(M_isect * S);
  std::vector<T> bg_slots(p_bg ? ntasks * D : 0);
  poison(slots);
  poison(bg_slots);

#pragma omp parallel num_threads(num_threads())
  {
    std::vector<V> vc(D * kQ);  // dL/d render colour, [channel][row segment]
    std::vector<V> vcol_dyn(KD > 0 ? 0 : D);
    V vcol_fixed[KD > 0 ? KD : 1];  // per-entry colour-gradient accumulators
    V* vcol = KD > 0 ? vcol_fixed : vcol_dyn.data();
    V Tr[kQ], Aacc[kQ], Q[kQ], K[kQ];
    M last[kQ];
    I row_last[kTile];
    int64_t rows_done = 0;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t task = 0; task < ntasks; ++task) {
      const TileInfo ti = tile_info(task, tw, th, W, H);
      const int64_t start = p_toff[task], end = p_toff[task + 1];
      I tile_last = 0;
      for (int q = 0; q < kQ; ++q) {
        Tr[q] = one;
        Aacc[q] = zero;
        Q[q] = zero;
        K[q] = zero;
        last[q] = M{};
        for (int64_t k = 0; k < D; ++k) vc[k * kQ + q] = zero;
      }
      for (int r = 0; r < kTile; ++r) {
        row_last[r] = 0;
        if (r >= ti.rows) continue;
        for (int x = 0; x < ti.cols; ++x) {
          const int q = r * kSeg + x / kLanes, l = x % kLanes;
          const int64_t pix = (ti.cam * H + ti.y0 + r) * W + ti.x0 + x;
          const T Tf = p_rT[pix];
          T qsum = 0, vbg = 0;
          for (int64_t k = 0; k < D; ++k) {
            const T g = p_vrc[pix * D + k];
            const T bgk = p_bg ? p_bg[ti.cam * D + k] : T(0);
            vc[k * kQ + q][l] = g;
            qsum += g * (p_rc[pix * D + k] - Tf * bgk);
            vbg += g * bgk;
          }
          Q[q][l] = qsum;
          K[q][l] = Tf * (vbg - p_vra[pix]);
          const I lst = I(p_last[pix] - start);
          last[q][l] = lst;
          row_last[r] = std::max(row_last[r], lst);
        }
        tile_last = std::max(tile_last, row_last[r]);
      }
      if (p_bg) {
        for (int64_t k = 0; k < D; ++k) {
          T sum = 0;
          for (int r = 0; r < ti.rows; ++r)
            for (int x = 0; x < ti.cols; ++x) {
              const int64_t pix = (ti.cam * H + ti.y0 + r) * W + ti.x0 + x;
              sum += p_rT[pix] * p_vrc[pix * D + k];
            }
          bg_slots[task * D + k] = sum;
        }
      }
      V px[kSeg];
      for (int sg = 0; sg < kSeg; ++sg) px[sg] = lane_x.v[sg] + T(ti.x0);
      for (int64_t pos = start; pos < end; ++pos) {
        if (pos + kPrefetchAhead < end) {
          const int64_t f = p_flat[pos + kPrefetchAhead];
          prefetch_splat(f, p_m2, p_con, p_op, p_col, D, &reach[f]);
          __builtin_prefetch(slots.data() + int64_t(p_slot[pos + kPrefetchAhead]) * S, 1);
        }
        T* slot = slots.data() + int64_t(p_slot[pos]) * S;
        std::fill(slot, slot + S, T(0));
        const I rel = I(pos - start);
        if (rel >= tile_last) continue;
        const int64_t fid = p_flat[pos];
        const Reach<T>& rg = reach[fid];
        if (rg.row_ext < 0) continue;
        const Splat<T> sp(fid, p_m2, p_con, p_op, p_col, D, px);
        const T A = sp.A, B = sp.B, Cc = sp.Cc, op = sp.op;
        for (int64_t k = 0; k < D; ++k) vcol[k] = zero;
        bool touched = false;
        V g_mx = zero, g_my = zero, g_ax = zero, g_ay = zero;
        V g_ca = zero, g_cb = zero, g_cc = zero, g_op = zero;
        int r_lo, r_hi;
        row_range(sp.my, rg.row_ext, ti, r_lo, r_hi);
        for (int r = r_lo; r <= r_hi; ++r) {
          if (rel >= row_last[r]) continue;
          const T dy = sp.dy(ti.y0, r);
          if (!row_meets_tile(rg, sp.mx, dy, T(ti.x0))) continue;
          ++rows_done;
          for (int sg = 0; sg < kSeg; ++sg) {
            const int q = r * kSeg + sg;
            const V dx = sp.dx[sg];
            const V sigma = sp.sigma(dy, sg);
            const V G = vexp(-sigma);
            const V a0 = op * G;
            const V a = vmin(a0, alpha_max);
            const M ok = (rel < last[q]) & (sigma >= zero) & (a >= alpha_min);
            if (!any_lane(ok)) continue;
            touched = true;
            const V w = ok ? a * Tr[q] : zero;
            V vcc = zero;
            for (int64_t k = 0; k < D; ++k) {
              const V g = vc[k * kQ + q];
              vcc += g * sp.col[k];
              vcol[k] += w * g;
            }
            const V Anew = Aacc[q] + w * vcc;
            const V behind = Q[q] - Anew;
            const V v_alpha = Tr[q] * vcc - (behind + K[q]) / (one - a);
            const M live = ok & (a0 <= alpha_max);
            const V v_sigma = live ? -a0 * v_alpha : zero;
            const V gx = v_sigma * (A * dx + B * dy);
            const V gy = v_sigma * (B * dx + Cc * dy);
            g_mx += gx;
            g_my += gy;
            if (compute_abs) {
              g_ax += vabs(gx);
              g_ay += vabs(gy);
            }
            g_ca += T(0.5) * dx * dx * v_sigma;
            g_cb += dy * dx * v_sigma;
            g_cc += (T(0.5) * dy * dy) * v_sigma;
            g_op += live ? G * v_alpha : zero;
            Aacc[q] = ok ? Anew : Aacc[q];
            Tr[q] = ok ? Tr[q] * (one - a) : Tr[q];
          }
        }
        if (!touched) continue;  // the slot stays zero
        slot[0] = hsum(g_mx);
        slot[1] = hsum(g_my);
        if (compute_abs) {
          slot[2] = hsum(g_ax);
          slot[3] = hsum(g_ay);
        }
        slot[4] = hsum(g_ca);
        slot[5] = hsum(g_cb);
        slot[6] = hsum(g_cc);
        slot[7] = hsum(g_op);
        for (int64_t k = 0; k < D; ++k) slot[8 + k] = hsum(vcol[k]);
      }
    }
    if (stats().enabled) {
#pragma omp atomic
      stats().bwd_rows += rows_done;
    }
  }

  // Reduce the slots per Gaussian, in the fixed order of the Gaussian-major index.
  T* o_m2 = v_means2d.data_ptr<T>();
  T* o_abs = v_means2d_abs.data_ptr<T>();
  T* o_con = v_conics.data_ptr<T>();
  T* o_col = v_colors.data_ptr<T>();
  T* o_op = v_opacities.data_ptr<T>();
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t fid = 0; fid < C * N; ++fid) {
    T sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    T* oc = o_col + fid * D;
    for (int64_t k = 0; k < D; ++k) oc[k] = T(0);
    for (int64_t j = p_goff[fid]; j < p_goff[fid + 1]; ++j) {
      const T* slot = slots.data() + j * S;
      for (int i = 0; i < 8; ++i) sum[i] += slot[i];
      for (int64_t k = 0; k < D; ++k) oc[k] += slot[8 + k];
    }
    o_m2[fid * 2] = sum[0];
    o_m2[fid * 2 + 1] = sum[1];
    o_abs[fid * 2] = sum[2];
    o_abs[fid * 2 + 1] = sum[3];
    o_con[fid * 3] = sum[4];
    o_con[fid * 3 + 1] = sum[5];
    o_con[fid * 3 + 2] = sum[6];
    o_op[fid] = sum[7];
  }
  if (p_bg) {
    T* o_bg = v_backgrounds.data_ptr<T>();
    const int64_t ntiles = tw * th;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < D; ++k) {
        T s = 0;
        for (int64_t t = 0; t < ntiles; ++t) s += bg_slots[(c * ntiles + t) * D + k];
        o_bg[c * D + k] = s;
      }
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rasterize_fwd(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
    const at::Tensor& opacities, const at::Tensor& backgrounds, int64_t width, int64_t height,
    const at::Tensor& tile_offsets, const at::Tensor& flatten_ids) {
  const int64_t C = means2d.size(0), D = colors.size(2);
  auto opt = means2d.options();
  at::Tensor out_colors = at::empty({C, height, width, D}, opt);
  at::Tensor out_alphas = at::empty({C, height, width, 1}, opt);
  at::Tensor out_Ts = at::empty({C, height, width}, opt);
  at::Tensor out_last = at::empty({C, height, width}, opt.dtype(at::kLong));
  poison(out_colors);
  poison(out_alphas);
  poison(out_Ts);
  poison(out_last);
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "rasterize_fwd", [&] {
    rasterize_fwd_impl<scalar_t>(means2d, conics, colors, opacities, backgrounds, width, height,
                                 tile_offsets, flatten_ids, out_colors, out_alphas, out_Ts,
                                 out_last);
  });
  return {out_colors, out_alphas, out_Ts, out_last};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
rasterize_bwd(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
              const at::Tensor& opacities, const at::Tensor& backgrounds, int64_t width,
              int64_t height, const at::Tensor& tile_offsets, const at::Tensor& flatten_ids,
              const at::Tensor& gauss_offsets, const at::Tensor& isect_slot,
              const at::Tensor& render_colors, const at::Tensor& render_Ts,
              const at::Tensor& last_ids, const at::Tensor& v_render_colors,
              const at::Tensor& v_render_alphas, bool compute_abs) {
  at::Tensor v_means2d = at::empty_like(means2d);
  at::Tensor v_means2d_abs = at::empty_like(means2d);
  at::Tensor v_conics = at::empty_like(conics);
  at::Tensor v_colors = at::empty_like(colors);
  at::Tensor v_opacities = at::empty_like(opacities);
  at::Tensor v_backgrounds = at::empty_like(backgrounds);
  for (at::Tensor* t : {&v_means2d, &v_means2d_abs, &v_conics, &v_colors, &v_opacities,
                        &v_backgrounds})
    poison(*t);
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "rasterize_bwd", [&] {
    auto run = [&](auto kd) {
      rasterize_bwd_impl<scalar_t, decltype(kd)::value>(compute_abs, means2d, conics, colors, opacities, backgrounds, width, height,
                                 tile_offsets, flatten_ids, gauss_offsets, isect_slot,
                                 render_colors, render_Ts, last_ids, v_render_colors,
                                 v_render_alphas, v_means2d, v_means2d_abs, v_conics, v_colors,
                                 v_opacities, v_backgrounds);
    };
    switch (colors.size(2)) {
      case 1: run(std::integral_constant<int, 1>{}); break;
      case 2: run(std::integral_constant<int, 2>{}); break;
      case 3: run(std::integral_constant<int, 3>{}); break;
      case 4: run(std::integral_constant<int, 4>{}); break;
      default: run(std::integral_constant<int, 0>{}); break;
    }
  });
  return {v_means2d, v_means2d_abs, v_conics, v_colors, v_opacities, v_backgrounds};
}

}  // namespace swm
