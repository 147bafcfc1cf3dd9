// Tile binning on CPU: which Gaussians touch which 16x16 tile, front to back.
// Per camera: one global depth sort of the visible Gaussians (LSD radix sort on the float bits,
// stable, so equal depths keep the Gaussian order, as gsplat's stable radix sort does), then a
// parallel stable counting sort into tiles: chunk j of the depth-sorted list writes after chunks
// 0..j-1 inside every tile, so each tile's list stays sorted with no per-tile sort.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "common.h"
#include "rasterize.h"

namespace swm {
namespace {

struct Rect {
  int32_t x0, x1, y0, y1;  // tiles [x0, x1) x [y0, y1)
};

// Order-preserving map of a float to uint32 (negative values below positive ones).
inline uint32_t float_key(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Stable sort of `ids` by `keys` (both length n), LSD radix, 4 passes of 8 bits.
void radix_sort_pairs(std::vector<uint32_t>& keys, std::vector<int32_t>& ids) {
  const size_t n = keys.size();
  std::vector<uint32_t> k2(n);
  std::vector<int32_t> i2(n);
  for (int shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; ++i) ++count[((keys[i] >> shift) & 0xFF) + 1];
    if (count[((keys.empty() ? 0 : keys[0]) >> shift & 0xFF) + 1] == n) continue;  // one bucket
    for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
    for (size_t i = 0; i < n; ++i) {
      const size_t dst = count[(keys[i] >> shift) & 0xFF]++;
      k2[dst] = keys[i];
      i2[dst] = ids[i];
    }
    keys.swap(k2);
    ids.swap(i2);
  }
}

template <typename T>
inline Rect tile_rect(const T* mean2d, const int32_t* radius, int64_t tw, int64_t th) {
  // Same arithmetic as gsplat's IntersectTile.cu, with negative values clamped to 0.
  const T rx = T(radius[0]) / kTile, ry = T(radius[1]) / kTile;
  const T cx = mean2d[0] / kTile, cy = mean2d[1] / kTile;
  auto clampi = [](T v, int64_t hi) {
    if (!(v > 0)) return int32_t(0);
    return static_cast<int32_t>(std::min<T>(v, T(hi)));
  };
  Rect r;
  r.x0 = clampi(std::floor(cx - rx), tw);
  r.x1 = clampi(std::ceil(cx + rx), tw);
  r.y0 = clampi(std::floor(cy - ry), th);
  r.y1 = clampi(std::ceil(cy + ry), th);
  return r;
}

template <typename T>
void isect_impl(const at::Tensor& means2d, const at::Tensor& radii, const at::Tensor& depths,
                int64_t tw, int64_t th, at::Tensor& tile_offsets, at::Tensor& flatten_ids,
                at::Tensor& gauss_offsets, at::Tensor& isect_slot) {
  const int64_t C = means2d.size(0), N = means2d.size(1);
  const int64_t ntiles = tw * th;
  const T* p_m2 = means2d.data_ptr<T>();
  const int32_t* p_r = radii.data_ptr<int32_t>();
  const T* p_d = depths.data_ptr<T>();

  // Rectangles and per-Gaussian counts, then the Gaussian-major CSR offsets.
  std::vector<Rect> rects(C * N);
  int64_t* g_off = gauss_offsets.data_ptr<int64_t>();
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t k = 0; k < C * N; ++k) {
    if (p_r[k * 2] > 0 && p_r[k * 2 + 1] > 0) {
      rects[k] = tile_rect(p_m2 + k * 2, p_r + k * 2, tw, th);
    } else {
      rects[k] = Rect{0, 0, 0, 0};
    }
  }
  g_off[0] = 0;
  for (int64_t k = 0; k < C * N; ++k) {
    const Rect& r = rects[k];
    g_off[k + 1] = g_off[k] + int64_t(r.x1 - r.x0) * (r.y1 - r.y0);
  }
  const int64_t M = g_off[C * N];
  flatten_ids.resize_({M});
  isect_slot.resize_({M});
  poison(flatten_ids);
  poison(isect_slot);
  int32_t* o_flat = flatten_ids.data_ptr<int32_t>();
  int32_t* o_slot = isect_slot.data_ptr<int32_t>();
  int64_t* o_toff = tile_offsets.data_ptr<int64_t>();

  const int nthreads = num_threads();
  int64_t base = 0;
  for (int64_t c = 0; c < C; ++c) {
    // Depth-sorted visible Gaussians of camera c.
    std::vector<int32_t> order;
    order.reserve(N);
    for (int64_t g = 0; g < N; ++g) {
      const Rect& r = rects[c * N + g];
      if (r.x1 > r.x0 && r.y1 > r.y0) order.push_back(static_cast<int32_t>(g));
    }
    if constexpr (std::is_same_v<T, float>) {
      std::vector<uint32_t> keys(order.size());
      for (size_t i = 0; i < order.size(); ++i) keys[i] = float_key(p_d[c * N + order[i]]);
      radix_sort_pairs(keys, order);
    } else {
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t a, int32_t b) { return p_d[c * N + a] < p_d[c * N + b]; });
    }

    // Parallel stable counting sort into tiles.
    const int64_t n = static_cast<int64_t>(order.size());
    const int nchunks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nthreads, n)));
    std::vector<int64_t> hist(int64_t(nchunks) * ntiles, 0);
    auto chunk_begin = [&](int j) { return n * j / nchunks; };
#pragma omp parallel for schedule(static, 1) num_threads(nchunks)
    for (int j = 0; j < nchunks; ++j) {
      int64_t* h = hist.data() + int64_t(j) * ntiles;
      for (int64_t i = chunk_begin(j); i < chunk_begin(j + 1); ++i) {
        const Rect& r = rects[c * N + order[i]];
        for (int32_t y = r.y0; y < r.y1; ++y)
          for (int32_t x = r.x0; x < r.x1; ++x) ++h[y * tw + x];
      }
    }
    int64_t run = base;
    for (int64_t t = 0; t < ntiles; ++t) {
      o_toff[c * ntiles + t] = run;
      for (int j = 0; j < nchunks; ++j) {
        const int64_t cnt = hist[int64_t(j) * ntiles + t];
        hist[int64_t(j) * ntiles + t] = run;  // becomes the write cursor
        run += cnt;
      }
    }
#pragma omp parallel for schedule(static, 1) num_threads(nchunks)
    for (int j = 0; j < nchunks; ++j) {
      int64_t* cursor = hist.data() + int64_t(j) * ntiles;
      for (int64_t i = chunk_begin(j); i < chunk_begin(j + 1); ++i) {
        const int64_t fid = c * N + order[i];
        const Rect& r = rects[fid];
        int64_t k = g_off[fid];
        for (int32_t y = r.y0; y < r.y1; ++y)
          for (int32_t x = r.x0; x < r.x1; ++x) {
            const int64_t pos = cursor[y * tw + x]++;
            o_flat[pos] = static_cast<int32_t>(fid);
            o_slot[pos] = static_cast<int32_t>(k++);
          }
      }
    }
    base = run;
  }
  o_toff[C * ntiles] = base;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> isect_tiles(
    const at::Tensor& means2d, const at::Tensor& radii, const at::Tensor& depths,
    int64_t tile_width, int64_t tile_height) {
  const int64_t C = means2d.size(0), N = means2d.size(1);
  auto iopt = means2d.options().dtype(at::kInt);
  auto lopt = means2d.options().dtype(at::kLong);
  at::Tensor tile_offsets = at::empty({C * tile_width * tile_height + 1}, lopt);
  at::Tensor flatten_ids = at::empty({0}, iopt);
  at::Tensor gauss_offsets = at::empty({C * N + 1}, lopt);
  at::Tensor isect_slot = at::empty({0}, iopt);
  poison(tile_offsets);
  poison(gauss_offsets);
  AT_DISPATCH_FLOATING_TYPES(means2d.scalar_type(), "isect_tiles", [&] {
    isect_impl<scalar_t>(means2d, radii, depths, tile_width, tile_height, tile_offsets,
                         flatten_ids, gauss_offsets, isect_slot);
  });
  return {tile_offsets, flatten_ids, gauss_offsets, isect_slot};
}

}  // namespace swm
