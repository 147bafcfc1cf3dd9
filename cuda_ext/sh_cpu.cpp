// Real spherical harmonics colours (degrees 0-3, the 3DGS convention), forward and backward,
// on CPU. Semantics and shapes: rasterize.h. Parallel over Gaussians with the cameras in the
// inner loop, so each Gaussian's coefficient gradient is summed in registers with no races.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common.h"
#include "rasterize.h"

namespace swm {
namespace {

constexpr double kC0 = 0.28209479177387814;
constexpr double kC1 = 0.4886025119029199;
constexpr double kC2[5] = {1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                           -1.0925484305920792, 0.5462742152960396};
constexpr double kC3[7] = {-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                           0.3731763325901154,  -0.4570457994644658, 1.445305721320277,
                           -0.5900435899266435};

// Basis values b[k] at the unit direction (x, y, z); with grad, also db[k]/d(x, y, z) treating
// x, y, z as independent (the normalisation is chained afterwards).
template <typename T>
inline void basis(int degree, T x, T y, T z, T* b, T (*db)[3]) {
  b[0] = T(kC0);
  if (db) db[0][0] = db[0][1] = db[0][2] = T(0);
  if (degree < 1) return;
  b[1] = T(-kC1) * y;
  b[2] = T(kC1) * z;
  b[3] = T(-kC1) * x;
  if (db) {
    db[1][0] = 0, db[1][1] = T(-kC1), db[1][2] = 0;
    db[2][0] = 0, db[2][1] = 0, db[2][2] = T(kC1);
    db[3][0] = T(-kC1), db[3][1] = 0, db[3][2] = 0;
  }
  if (degree < 2) return;
  const T xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
  b[4] = T(kC2[0]) * xy;
  b[5] = T(kC2[1]) * yz;
  b[6] = T(kC2[2]) * (2 * zz - xx - yy);
  b[7] = T(kC2[3]) * xz;
  b[8] = T(kC2[4]) * (xx - yy);
  if (db) {
    db[4][0] = T(kC2[0]) * y, db[4][1] = T(kC2[0]) * x, db[4][2] = 0;
    db[5][0] = 0, db[5][1] = T(kC2[1]) * z, db[5][2] = T(kC2[1]) * y;
    db[6][0] = T(-2 * kC2[2]) * x, db[6][1] = T(-2 * kC2[2]) * y, db[6][2] = T(4 * kC2[2]) * z;
    db[7][0] = T(kC2[3]) * z, db[7][1] = 0, db[7][2] = T(kC2[3]) * x;
    db[8][0] = T(2 * kC2[4]) * x, db[8][1] = T(-2 * kC2[4]) * y, db[8][2] = 0;
  }
  if (degree < 3) return;
  b[9] = T(kC3[0]) * y * (3 * xx - yy);
  b[10] = T(kC3[1]) * xy * z;
  b[11] = T(kC3[2]) * y * (4 * zz - xx - yy);
  b[12] = T(kC3[3]) * z * (2 * zz - 3 * xx - 3 * yy);
  b[13] = T(kC3[4]) * x * (4 * zz - xx - yy);
  b[14] = T(kC3[5]) * z * (xx - yy);
  b[15] = T(kC3[6]) * x * (xx - 3 * yy);
  if (db) {
    db[9][0] = T(6 * kC3[0]) * xy, db[9][1] = T(kC3[0]) * (3 * xx - 3 * yy), db[9][2] = 0;
    db[10][0] = T(kC3[1]) * yz, db[10][1] = T(kC3[1]) * xz, db[10][2] = T(kC3[1]) * xy;
    db[11][0] = T(-2 * kC3[2]) * xy, db[11][1] = T(kC3[2]) * (4 * zz - xx - 3 * yy),
    db[11][2] = T(8 * kC3[2]) * yz;
    db[12][0] = T(-6 * kC3[3]) * xz, db[12][1] = T(-6 * kC3[3]) * yz,
    db[12][2] = T(kC3[3]) * (6 * zz - 3 * xx - 3 * yy);
    db[13][0] = T(kC3[4]) * (4 * zz - 3 * xx - yy), db[13][1] = T(-2 * kC3[4]) * xy,
    db[13][2] = T(8 * kC3[4]) * xz;
    db[14][0] = T(2 * kC3[5]) * xz, db[14][1] = T(-2 * kC3[5]) * yz,
    db[14][2] = T(kC3[5]) * (xx - yy);
    db[15][0] = T(kC3[6]) * (3 * xx - 3 * yy), db[15][1] = T(-6 * kC3[6]) * xy, db[15][2] = 0;
  }
}

template <typename T>
inline T unit(const T* d, T* u) {
  const T n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  const T inv = T(1) / std::max(n, T(1e-12));
  u[0] = d[0] * inv, u[1] = d[1] * inv, u[2] = d[2] * inv;
  return n;
}

template <typename T>
void sh_fwd_impl(int degree, int64_t C, int64_t N, int64_t K, const T* dirs, const T* coeffs,
                 T* colors) {
  const int nb = (degree + 1) * (degree + 1);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const T* co = coeffs + n * K * 3;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t m = c * N + n;
      T u[3], b[16];
      unit(dirs + m * 3, u);
      basis<T>(degree, u[0], u[1], u[2], b, nullptr);
      T r = 0, g = 0, bl = 0;
      for (int k = 0; k < nb; ++k) {
        r += b[k] * co[k * 3 + 0];
        g += b[k] * co[k * 3 + 1];
        bl += b[k] * co[k * 3 + 2];
      }
      colors[m * 3 + 0] = r, colors[m * 3 + 1] = g, colors[m * 3 + 2] = bl;
    }
  }
}

template <typename T>
void sh_bwd_impl(int degree, int64_t C, int64_t N, int64_t K, const T* dirs, const T* coeffs,
                 const T* v_colors, T* v_dirs, T* v_coeffs) {
  const int nb = (degree + 1) * (degree + 1);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const T* co = coeffs + n * K * 3;
    T* vco = v_coeffs + n * K * 3;
    for (int64_t i = 0; i < K * 3; ++i) vco[i] = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t m = c * N + n;
      T u[3], b[16], db[16][3];
      const T norm = unit(dirs + m * 3, u);
      basis<T>(degree, u[0], u[1], u[2], b, db);
      const T* g = v_colors + m * 3;
      T vu[3] = {0, 0, 0};
      for (int k = 0; k < nb; ++k) {
        vco[k * 3 + 0] += b[k] * g[0];
        vco[k * 3 + 1] += b[k] * g[1];
        vco[k * 3 + 2] += b[k] * g[2];
        const T s = g[0] * co[k * 3 + 0] + g[1] * co[k * 3 + 1] + g[2] * co[k * 3 + 2];
        vu[0] += s * db[k][0], vu[1] += s * db[k][1], vu[2] += s * db[k][2];
      }
      // through u = d / |d|: v_d = (v_u - u (u . v_u)) / |d|
      T* vd = v_dirs + m * 3;
      if (degree >= 1 && norm > T(1e-12)) {
        const T dot = u[0] * vu[0] + u[1] * vu[1] + u[2] * vu[2];
        for (int j = 0; j < 3; ++j) vd[j] = (vu[j] - u[j] * dot) / norm;
      } else {
        vd[0] = vd[1] = vd[2] = 0;
      }
    }
  }
}

void check_sh(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs) {
  TORCH_CHECK(degree >= 0 && degree <= 3, "sh degree must be in 0..3");
  TORCH_CHECK(dirs.dim() == 3 && dirs.size(2) == 3, "dirs must be [C,N,3]");
  TORCH_CHECK(coeffs.dim() == 3 && coeffs.size(2) == 3 && coeffs.size(0) == dirs.size(1),
              "coeffs must be [N,K,3]");
  TORCH_CHECK(coeffs.size(1) >= (degree + 1) * (degree + 1), "coeffs has too few bases");
  TORCH_CHECK(dirs.is_contiguous() && coeffs.is_contiguous(), "inputs must be contiguous");
  TORCH_CHECK(dirs.scalar_type() == coeffs.scalar_type(), "dtypes differ");
}

}  // namespace

at::Tensor sh_fwd(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs) {
  check_sh(degree, dirs, coeffs);
  const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
  at::Tensor colors = at::empty({C, N, 3}, dirs.options());
  poison(colors);
  AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "sh_fwd", [&] {
    sh_fwd_impl<scalar_t>(static_cast<int>(degree), C, N, K, dirs.data_ptr<scalar_t>(),
                          coeffs.data_ptr<scalar_t>(), colors.data_ptr<scalar_t>());
  });
  return colors;
}

std::tuple<at::Tensor, at::Tensor> sh_bwd(int64_t degree, const at::Tensor& dirs,
                                          const at::Tensor& coeffs, const at::Tensor& v_colors) {
  check_sh(degree, dirs, coeffs);
  TORCH_CHECK(v_colors.sizes() == at::IntArrayRef({dirs.size(0), dirs.size(1), 3}) &&
                  v_colors.is_contiguous() && v_colors.scalar_type() == dirs.scalar_type(),
              "v_colors must be a contiguous [C,N,3] of the inputs' dtype");
  const int64_t C = dirs.size(0), N = dirs.size(1), K = coeffs.size(1);
  at::Tensor v_dirs = at::empty_like(dirs);
  at::Tensor v_coeffs = at::empty_like(coeffs);
  poison(v_dirs);
  poison(v_coeffs);
  AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "sh_bwd", [&] {
    sh_bwd_impl<scalar_t>(static_cast<int>(degree), C, N, K, dirs.data_ptr<scalar_t>(),
                          coeffs.data_ptr<scalar_t>(), v_colors.data_ptr<scalar_t>(),
                          v_dirs.data_ptr<scalar_t>(), v_coeffs.data_ptr<scalar_t>());
  });
  return {v_dirs, v_coeffs};
}

}  // namespace swm
