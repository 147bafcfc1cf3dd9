// Shared helpers of the CPU kernels: constants that fix the rasterizer's semantics (they match
// gsplat 1.5.3 so that the CPU and CUDA paths render the same image), a vectorisable exp, and
// the OpenMP thread count (follows torch.set_num_threads).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#include <algorithm>
#include <memory>

namespace swm {

constexpr int kTile = 16;                   // tile side in pixels (gsplat's tile_size)
constexpr int kTilePixels = kTile * kTile;  // pixels per tile
// Thresholds, written in double and cast to the kernel's scalar type at the point of use
// (float32 matches gsplat's `1.f / 255.f` etc. bit for bit).
constexpr double kAlphaMin = 1.0 / 255.0;   // a Gaussian with alpha below this is skipped
constexpr double kAlphaMax = 0.999;         // alpha is clamped to this
constexpr double kTransmittanceMin = 1e-4;  // stop before T would drop to this
constexpr double kExtendMax = 3.33;         // cap of the screen-space extent, in std devs

// exp(x) for x <= 0, written so that GCC vectorises it inside `omp simd` loops.
// Range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 Taylor polynomial of 2^f on
// |f| <= 1/2: relative error below 2e-7 (about 2 ulp), enough for alpha = o * exp(-sigma).
// Inputs below -87 are clamped (exp(-87) ~ 1.6e-38, far below every threshold used).
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.4426950408889634f;            // x / ln 2
  const float n = (t + 12582912.0f) - 12582912.0f;    // round to nearest (1.5 * 2^23 trick)
  const float f = t - n;                              // |f| <= 0.5
  float p = 1.5403530393381608e-4f;                   // ln2^6 / 720
  p = p * f + 1.3333558146428443e-3f;                 // ln2^5 / 120
  p = p * f + 9.6181291076284772e-3f;                 // ln2^4 / 24
  p = p * f + 5.5504108664821580e-2f;                 // ln2^3 / 6
  p = p * f + 2.4022650695910071e-1f;                 // ln2^2 / 2
  p = p * f + 6.9314718055994531e-1f;                 // ln2
  p = p * f + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;  // 2^n as float bits
  float scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// exp for double precision (the float64 test path): accuracy matters more than speed there.
inline double fast_exp(double x) { return std::exp(x); }

template <typename T>
inline T exp_any(T x) {
  return fast_exp(x);
}

inline int num_threads() { return at::get_num_threads(); }

// Test hook: when on, every output tensor and internal buffer is filled with NaN (floats) or
// kPoisonInt (ints) before a kernel writes it, so an element the kernel forgets to write shows
// up in the oracle tests instead of passing by luck.
constexpr int32_t kPoisonInt = -1234567;

inline bool& poison_flag() {
  static bool enabled = false;
  return enabled;
}

inline void poison(at::Tensor& t) {
  if (!poison_flag() || t.numel() == 0) return;
  if (t.is_floating_point()) {
    t.fill_(std::numeric_limits<double>::quiet_NaN());
  } else {
    t.fill_(kPoisonInt);
  }
}

// Benchmark counters (off unless enabled): tile rows of 16 pixels evaluated by the forward and
// backward compositing loops. Each thread adds its own count once per call.
struct Stats {
  bool enabled = false;
  int64_t fwd_rows = 0;
  int64_t bwd_rows = 0;
};

inline Stats& stats() {
  static Stats s;
  return s;
}

// A buffer that is not zero-filled on allocation (std::vector is): the kernels write every
// element, and a memset of tens of MB per call would be pure overhead.
template <typename T>
struct RawBuffer {
  explicit RawBuffer(size_t n) : ptr(new T[n]), n(n) {}
  T* data() { return ptr.get(); }
  const T* data() const { return ptr.get(); }
  size_t size() const { return n; }
  std::unique_ptr<T[]> ptr;
  size_t n;
};

template <typename T>
inline void poison(RawBuffer<T>& v) {
  if (!poison_flag()) return;
  std::fill(v.data(), v.data() + v.size(), std::numeric_limits<T>::quiet_NaN());
}

template <typename T>
inline void poison(std::vector<T>& v) {
  if (!poison_flag()) return;
  std::fill(v.begin(), v.end(), std::numeric_limits<T>::quiet_NaN());
}

}  // namespace swm
