// 16-lane vectors (one tile row) with GCC/Clang vector extensions: the compiler lowers them to
// whatever the CPU has (one AVX-512 register, two AVX2 registers, four SSE registers), so the
// rasterizer's inner loops are vectorised by construction, not by the auto-vectoriser's mood.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace swm {

template <typename T>
struct Vec16;

template <>
struct Vec16<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t M __attribute__((vector_size(64)));  // lane masks (-1 / 0) and lane ints
};

template <>
struct Vec16<double> {
  typedef double V __attribute__((vector_size(128)));
  typedef int64_t M __attribute__((vector_size(128)));
};

template <typename V>
inline V vsplat(typename std::remove_reference<decltype(V{}[0])>::type s) {
  V v;
  for (int i = 0; i < 16; ++i) v[i] = s;
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
inline Vec16<float>::V vexp(Vec16<float>::V x) {
  using V = Vec16<float>::V;
  using M = Vec16<float>::M;
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
inline Vec16<double>::V vexp(Vec16<double>::V x) {
  Vec16<double>::V r;
  for (int i = 0; i < 16; ++i) r[i] = std::exp(x[i]);
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
inline bool any_lane(Vec16<float>::M m) {
  const __m512i v = reinterpret_cast<__m512i>(m);
  return _mm512_test_epi32_mask(v, v) != 0;
}
#elif defined(__AVX2__)
template <>
inline bool any_lane(Vec16<float>::M m) {
  __m256i lo, hi;
  std::memcpy(&lo, &m, 32);
  std::memcpy(&hi, reinterpret_cast<const char*>(&m) + 32, 32);
  const __m256i v = _mm256_or_si256(lo, hi);
  return !_mm256_testz_si256(v, v);
}
#endif

// Sum of the 16 lanes (a pairwise tree; deterministic for a given build).
template <typename V>
inline auto hsum(V v) {
  using S = typename std::remove_reference<decltype(v[0])>::type;
  S h[16];
  std::memcpy(h, &v, sizeof(h));
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) h[i] += h[i + w];
  return h[0];
}

#if defined(__AVX512F__)
inline float hsum(Vec16<float>::V v) { return _mm512_reduce_add_ps(reinterpret_cast<__m512>(v)); }
#endif

}  // namespace swm
