// Native-width SIMD vectors with GCC/Clang vector extensions. The width is the widest the
// build target has (64 bytes with AVX-512, 32 with AVX/AVX2, 16 otherwise): vectors wider than
// the hardware would be split by the compiler, piecewise and slowly. A 16-pixel tile row is
// Vec<T>::kSeg vectors of Vec<T>::kLanes pixels.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace swm {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  typedef float V __attribute__((vector_size(kVecBytes)));
  typedef int32_t M __attribute__((vector_size(kVecBytes)));  // lane masks (-1 / 0), lane ints
  static constexpr int kLanes = kVecBytes / 4;
  static constexpr int kSeg = kTile / kLanes;  // vectors per tile row
};

template <>
struct Vec<double> {
  typedef double V __attribute__((vector_size(kVecBytes)));
  typedef int64_t M __attribute__((vector_size(kVecBytes)));
  static constexpr int kLanes = kVecBytes / 8;
  static constexpr int kSeg = kTile / kLanes;
};

template <typename V>
constexpr int lanes_of() {
  return sizeof(V) / sizeof(V{}[0]);
}

template <typename V>
inline V vsplat(typename std::remove_reference<decltype(V{}[0])>::type s) {
  V v;
  for (int i = 0; i < lanes_of<V>(); ++i) v[i] = s;
  return v;
}

template <typename V>
inline V vmin(V a, V b) {
  return a < b ? a : b;
}

template <typename V>
inline V vabs(V a) {
  return a < 0 ? -a : a;
}

// exp(x) for x <= 0, vectorised: see fast_exp in common.h for the method and its accuracy.
inline Vec<float>::V vexp(Vec<float>::V x) {
  using V = Vec<float>::V;
  using M = Vec<float>::M;
  x = x < -87.0f ? vsplat<V>(-87.0f) : x;
  const V t = x * 1.4426950408889634f;
  const V n = (t + 12582912.0f) - 12582912.0f;
  const V f = t - n;
  V p = vsplat<V>(1.5403530393381608e-4f);
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  const M e = (__builtin_convertvector(n, M) + 127) << 23;
  V scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// The float64 path is for tests (gradchecks): exact exp, lane by lane.
inline Vec<double>::V vexp(Vec<double>::V x) {
  Vec<double>::V r;
  for (int i = 0; i < Vec<double>::kLanes; ++i) r[i] = std::exp(x[i]);
  return r;
}

template <typename M>
inline bool any_lane(M m) {
  uint64_t words[sizeof(M) / 8];
  std::memcpy(words, &m, sizeof(M));
  uint64_t acc = 0;
  for (size_t i = 0; i < sizeof(M) / 8; ++i) acc |= words[i];
  return acc != 0;
}

#if defined(__AVX512F__)
template <>
inline bool any_lane(Vec<float>::M m) {
  const __m512i v = reinterpret_cast<__m512i>(m);
  return _mm512_test_epi32_mask(v, v) != 0;
}
#elif defined(__AVX2__)
template <>
inline bool any_lane(Vec<float>::M m) {
  const __m256i v = reinterpret_cast<__m256i>(m);
  return !_mm256_testz_si256(v, v);
}
#endif

// Sum of the lanes (a pairwise tree; deterministic for a given build).
template <typename V>
inline auto hsum(V v) {
  using S = typename std::remove_reference<decltype(v[0])>::type;
  constexpr int L = lanes_of<V>();
  S h[L];
  std::memcpy(h, &v, sizeof(h));
  for (int w = L / 2; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) h[i] += h[i + w];
  return h[0];
}

#if defined(__AVX512F__)
inline float hsum(Vec<float>::V v) { return _mm512_reduce_add_ps(reinterpret_cast<__m512>(v)); }
#endif

}  // namespace swm
