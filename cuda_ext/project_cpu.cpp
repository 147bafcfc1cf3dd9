// EWA projection of 3D Gaussians to the image plane (pinhole), forward and backward, on CPU.
// Semantics and shapes: rasterize.h. Parallel over Gaussians, cameras in the inner loop, so
// the backward pass accumulates each Gaussian's gradient in registers with no races.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "rasterize.h"

namespace swm {
namespace {

template <typename T>
struct Mat3 {
  T m[3][3];
};

template <typename T>
inline Mat3<T> matmul(const Mat3<T>& a, const Mat3<T>& b) {
  Mat3<T> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[i][0] * b.m[0][j] + a.m[i][1] * b.m[1][j] + a.m[i][2] * b.m[2][j];
  return r;
}

template <typename T>
inline Mat3<T> transpose(const Mat3<T>& a) {
  Mat3<T> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[j][i];
  return r;
}

// Rotation of the normalised quaternion (w, x, y, z).
template <typename T>
inline Mat3<T> quat_to_rotmat(T w, T x, T y, T z) {
  Mat3<T> R;
  R.m[0][0] = 1 - 2 * (y * y + z * z);
  R.m[0][1] = 2 * (x * y - w * z);
  R.m[0][2] = 2 * (x * z + w * y);
  R.m[1][0] = 2 * (x * y + w * z);
  R.m[1][1] = 1 - 2 * (x * x + z * z);
  R.m[1][2] = 2 * (y * z - w * x);
  R.m[2][0] = 2 * (x * z - w * y);
  R.m[2][1] = 2 * (y * z + w * x);
  R.m[2][2] = 1 - 2 * (x * x + y * y);
  return R;
}

// Everything the forward pass computes for one (camera, Gaussian), kept for the backward pass.
template <typename T>
struct Projected {
  bool visible;
  T pc[3];          // mean in camera space
  Mat3<T> R;        // rotation of the normalised quaternion
  T qn[4];          // normalised quaternion
  T qnorm;          // |q|
  Mat3<T> M;        // R * diag(scale)
  Mat3<T> cov_c;    // camera-space covariance
  T J[2][3];        // projection Jacobian
  T tx, ty;         // clamped x and y used in J
  bool clamp_x, clamp_y;
  T cov2d[3];       // xx, xy, yy with eps2d added
  T conic[3];
  T mean2d[2];
  int32_t radius[2];
};

template <typename T>
struct Camera {
  Mat3<T> R;
  T t[3];
  T fx, fy, cx, cy;
};

template <typename T>
inline Camera<T> load_camera(const T* viewmat, const T* K) {
  Camera<T> cam;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) cam.R.m[i][j] = viewmat[i * 4 + j];
    cam.t[i] = viewmat[i * 4 + 3];
  }
  cam.fx = K[0];
  cam.fy = K[4];
  cam.cx = K[2];
  cam.cy = K[5];
  return cam;
}

template <typename T>
inline void project_one(const T* mean, const T* quat, const T* scale, T opacity,
                        const Camera<T>& cam, int64_t width, int64_t height, T eps2d, T near_plane,
                        T far_plane, T radius_clip, Projected<T>& out) {
  out.visible = false;
  for (int i = 0; i < 3; ++i)
    out.pc[i] = cam.R.m[i][0] * mean[0] + cam.R.m[i][1] * mean[1] + cam.R.m[i][2] * mean[2] + cam.t[i];
  const T x = out.pc[0], y = out.pc[1], z = out.pc[2];
  if (!(z >= near_plane && z <= far_plane)) return;  // also rejects NaN

  const T qn = std::sqrt(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]);
  out.qnorm = qn;
  for (int i = 0; i < 4; ++i) out.qn[i] = quat[i] / qn;
  out.R = quat_to_rotmat(out.qn[0], out.qn[1], out.qn[2], out.qn[3]);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) out.M.m[i][j] = out.R.m[i][j] * scale[j];
  Mat3<T> cov;  // M M^T
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      cov.m[i][j] = out.M.m[i][0] * out.M.m[j][0] + out.M.m[i][1] * out.M.m[j][1] + out.M.m[i][2] * out.M.m[j][2];
  out.cov_c = matmul(matmul(cam.R, cov), transpose(cam.R));

  const T tan_fovx = T(0.5) * width / cam.fx;
  const T tan_fovy = T(0.5) * height / cam.fy;
  const T lim_x_pos = (width - cam.cx) / cam.fx + T(0.3) * tan_fovx;
  const T lim_x_neg = cam.cx / cam.fx + T(0.3) * tan_fovx;
  const T lim_y_pos = (height - cam.cy) / cam.fy + T(0.3) * tan_fovy;
  const T lim_y_neg = cam.cy / cam.fy + T(0.3) * tan_fovy;
  const T rz = T(1) / z;
  const T rz2 = rz * rz;
  const T u = x * rz, v = y * rz;
  const T uc = std::min(lim_x_pos, std::max(-lim_x_neg, u));
  const T vc = std::min(lim_y_pos, std::max(-lim_y_neg, v));
  out.clamp_x = uc != u;
  out.clamp_y = vc != v;
  out.tx = z * uc;
  out.ty = z * vc;
  T(&J)[2][3] = out.J;
  J[0][0] = cam.fx * rz;
  J[0][1] = 0;
  J[0][2] = -cam.fx * out.tx * rz2;
  J[1][0] = 0;
  J[1][1] = cam.fy * rz;
  J[1][2] = -cam.fy * out.ty * rz2;
  // cov2d = J cov_c J^T
  T JC[2][3];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      JC[i][j] = J[i][0] * out.cov_c.m[0][j] + J[i][1] * out.cov_c.m[1][j] + J[i][2] * out.cov_c.m[2][j];
  const T a = JC[0][0] * J[0][0] + JC[0][1] * J[0][1] + JC[0][2] * J[0][2] + eps2d;
  const T b = JC[0][0] * J[1][0] + JC[0][1] * J[1][1] + JC[0][2] * J[1][2];
  const T c = JC[1][0] * J[1][0] + JC[1][1] * J[1][1] + JC[1][2] * J[1][2] + eps2d;
  out.cov2d[0] = a;
  out.cov2d[1] = b;
  out.cov2d[2] = c;
  const T det = a * c - b * b;
  if (!(det > 0)) return;
  out.conic[0] = c / det;
  out.conic[1] = -b / det;
  out.conic[2] = a / det;

  if (!(opacity >= T(kAlphaMin))) return;
  const T extend = std::min(T(kExtendMax), std::sqrt(T(2) * std::log(opacity / T(kAlphaMin))));
  const T rx = std::ceil(extend * std::sqrt(a));
  const T ry = std::ceil(extend * std::sqrt(c));
  if (rx <= radius_clip && ry <= radius_clip) return;
  out.mean2d[0] = cam.fx * u + cam.cx;
  out.mean2d[1] = cam.fy * v + cam.cy;
  if (out.mean2d[0] + rx <= 0 || out.mean2d[0] - rx >= width || out.mean2d[1] + ry <= 0 ||
      out.mean2d[1] - ry >= height)
    return;
  out.radius[0] = static_cast<int32_t>(rx);
  out.radius[1] = static_cast<int32_t>(ry);
  out.visible = true;
}

template <typename T>
void project_fwd_impl(const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
                      const at::Tensor& opacities, const at::Tensor& viewmats,
                      const at::Tensor& Ks, int64_t width, int64_t height, double eps2d,
                      double near_plane, double far_plane, double radius_clip, at::Tensor& radii,
                      at::Tensor& means2d, at::Tensor& depths, at::Tensor& conics) {
  const int64_t N = means.size(0), C = viewmats.size(0);
  const T* p_means = means.data_ptr<T>();
  const T* p_quats = quats.data_ptr<T>();
  const T* p_scales = scales.data_ptr<T>();
  const T* p_opac = opacities.data_ptr<T>();
  const T* p_view = viewmats.data_ptr<T>();
  const T* p_K = Ks.data_ptr<T>();
  int32_t* o_radii = radii.data_ptr<int32_t>();
  T* o_m2 = means2d.data_ptr<T>();
  T* o_d = depths.data_ptr<T>();
  T* o_con = conics.data_ptr<T>();
  for (int64_t ci = 0; ci < C; ++ci) {
    const Camera<T> cam = load_camera(p_view + ci * 16, p_K + ci * 9);
#pragma omp parallel for schedule(static) num_threads(num_threads())
    for (int64_t g = 0; g < N; ++g) {
      Projected<T> pr;
      project_one<T>(p_means + g * 3, p_quats + g * 4, p_scales + g * 3, p_opac[g], cam, width,
                     height, T(eps2d), T(near_plane), T(far_plane), T(radius_clip), pr);
      const int64_t k = ci * N + g;
      if (pr.visible) {
        o_radii[k * 2] = pr.radius[0];
        o_radii[k * 2 + 1] = pr.radius[1];
        o_m2[k * 2] = pr.mean2d[0];
        o_m2[k * 2 + 1] = pr.mean2d[1];
        o_d[k] = pr.pc[2];
        for (int i = 0; i < 3; ++i) o_con[k * 3 + i] = pr.conic[i];
      } else {
        o_radii[k * 2] = o_radii[k * 2 + 1] = 0;
        o_m2[k * 2] = o_m2[k * 2 + 1] = 0;
        o_d[k] = 0;
        o_con[k * 3] = o_con[k * 3 + 1] = o_con[k * 3 + 2] = 0;
      }
    }
  }
}

template <typename T>
void project_bwd_impl(const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
                      const at::Tensor& viewmats, const at::Tensor& Ks, int64_t width,
                      int64_t height, double eps2d, const at::Tensor& radii,
                      const at::Tensor& v_means2d, const at::Tensor& v_depths,
                      const at::Tensor& v_conics, at::Tensor& v_means, at::Tensor& v_quats,
                      at::Tensor& v_scales) {
  const int64_t N = means.size(0), C = viewmats.size(0);
  const T* p_means = means.data_ptr<T>();
  const T* p_quats = quats.data_ptr<T>();
  const T* p_scales = scales.data_ptr<T>();
  const T* p_view = viewmats.data_ptr<T>();
  const T* p_K = Ks.data_ptr<T>();
  const int32_t* p_radii = radii.data_ptr<int32_t>();
  const T* g_m2 = v_means2d.data_ptr<T>();
  const T* g_d = v_depths.data_ptr<T>();
  const T* g_con = v_conics.data_ptr<T>();
  T* o_means = v_means.data_ptr<T>();
  T* o_quats = v_quats.data_ptr<T>();
  T* o_scales = v_scales.data_ptr<T>();

  std::vector<Camera<T>> cams(C);
  for (int64_t ci = 0; ci < C; ++ci) cams[ci] = load_camera(p_view + ci * 16, p_K + ci * 9);

#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t g = 0; g < N; ++g) {
    T vm[3] = {0, 0, 0}, vq[4] = {0, 0, 0, 0}, vs[3] = {0, 0, 0};
    for (int64_t ci = 0; ci < C; ++ci) {
      const int64_t k = ci * N + g;
      if (p_radii[k * 2] <= 0 || p_radii[k * 2 + 1] <= 0) continue;
      const Camera<T>& cam = cams[ci];
      Projected<T> pr;
      // Opacity only decides culling, which the radii already record: pass 1 so nothing is
      // culled by it here, and use huge clip planes for the same reason.
      project_one<T>(p_means + g * 3, p_quats + g * 4, p_scales + g * 3, T(1), cam, width, height,
                     T(eps2d), -std::numeric_limits<T>::infinity(),
                     std::numeric_limits<T>::infinity(), T(-1), pr);
      const T x = pr.pc[0], y = pr.pc[1], z = pr.pc[2];
      const T rz = T(1) / z, rz2 = rz * rz, rz3 = rz2 * rz;

      // conic = inverse(cov2d): v_cov2d = -Ci G Ci, G the gradient as a symmetric matrix.
      const T A = pr.conic[0], B = pr.conic[1], Cc = pr.conic[2];
      const T G00 = g_con[k * 3], G01 = T(0.5) * g_con[k * 3 + 1], G11 = g_con[k * 3 + 2];
      // Ci G
      const T P00 = A * G00 + B * G01, P01 = A * G01 + B * G11;
      const T P10 = B * G00 + Cc * G01, P11 = B * G01 + Cc * G11;
      // -(Ci G) Ci
      const T V00 = -(P00 * A + P01 * B);
      const T V01 = -(P00 * B + P01 * Cc);
      const T V11 = -(P10 * B + P11 * Cc);
      const T V[2][2] = {{V00, V01}, {V01, V11}};

      // cov2d = J cov_c J^T: v_cov_c = J^T V J, v_J = 2 V J cov_c
      const T(&J)[2][3] = pr.J;
      T VJ[2][3];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) VJ[i][j] = V[i][0] * J[0][j] + V[i][1] * J[1][j];
      Mat3<T> v_cov_c;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) v_cov_c.m[i][j] = J[0][i] * VJ[0][j] + J[1][i] * VJ[1][j];
      T vJ[2][3];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
          vJ[i][j] = 2 * (VJ[i][0] * pr.cov_c.m[0][j] + VJ[i][1] * pr.cov_c.m[1][j] +
                          VJ[i][2] * pr.cov_c.m[2][j]);

      // mean2d = (fx x / z + cx, fy y / z + cy); depth = z
      T v_pc[3];
      const T gx = g_m2[k * 2], gy = g_m2[k * 2 + 1];
      v_pc[0] = cam.fx * rz * gx;
      v_pc[1] = cam.fy * rz * gy;
      v_pc[2] = -(cam.fx * x * gx + cam.fy * y * gy) * rz2 + g_d[k];
      // J's dependence on (x, y, z) through z and the clamped tx = z * clamp(x / z)
      const T v_tx = vJ[0][2] * (-cam.fx * rz2);
      const T v_ty = vJ[1][2] * (-cam.fy * rz2);
      v_pc[2] += -cam.fx * rz2 * vJ[0][0] - cam.fy * rz2 * vJ[1][1] +
                 2 * cam.fx * pr.tx * rz3 * vJ[0][2] + 2 * cam.fy * pr.ty * rz3 * vJ[1][2];
      if (pr.clamp_x) v_pc[2] += v_tx * pr.tx * rz; else v_pc[0] += v_tx;
      if (pr.clamp_y) v_pc[2] += v_ty * pr.ty * rz; else v_pc[1] += v_ty;

      // pc = Rv p + t; cov_c = Rv cov Rv^T
      for (int j = 0; j < 3; ++j)
        vm[j] += cam.R.m[0][j] * v_pc[0] + cam.R.m[1][j] * v_pc[1] + cam.R.m[2][j] * v_pc[2];
      const Mat3<T> v_cov = matmul(matmul(transpose(cam.R), v_cov_c), cam.R);
      // cov = M M^T -> v_M = 2 v_cov M (v_cov symmetric)
      Mat3<T> vM = matmul(v_cov, pr.M);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) vM.m[i][j] *= 2;
      // M = R diag(s)
      Mat3<T> vR;
      const T* s = p_scales + g * 3;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) vR.m[i][j] = vM.m[i][j] * s[j];
      for (int j = 0; j < 3; ++j)
        vs[j] += vM.m[0][j] * pr.R.m[0][j] + vM.m[1][j] * pr.R.m[1][j] + vM.m[2][j] * pr.R.m[2][j];
      // R(q) with q normalised
      const T w = pr.qn[0], qx = pr.qn[1], qy = pr.qn[2], qz = pr.qn[3];
      const auto& r = vR.m;
      T vqn[4];
      vqn[0] = 2 * (-qz * r[0][1] + qy * r[0][2] + qz * r[1][0] - qx * r[1][2] - qy * r[2][0] + qx * r[2][1]);
      vqn[1] = 2 * (qy * r[0][1] + qz * r[0][2] + qy * r[1][0] - 2 * qx * r[1][1] - w * r[1][2] +
                    qz * r[2][0] + w * r[2][1] - 2 * qx * r[2][2]);
      vqn[2] = 2 * (-2 * qy * r[0][0] + qx * r[0][1] + w * r[0][2] + qx * r[1][0] + qz * r[1][2] -
                    w * r[2][0] + qz * r[2][1] - 2 * qy * r[2][2]);
      vqn[3] = 2 * (-2 * qz * r[0][0] - w * r[0][1] + qx * r[0][2] + w * r[1][0] - 2 * qz * r[1][1] +
                    qy * r[1][2] + qx * r[2][0] + qy * r[2][1]);
      // normalisation: v_q = (v_qn - qn (qn . v_qn)) / |q|
      const T dot = pr.qn[0] * vqn[0] + pr.qn[1] * vqn[1] + pr.qn[2] * vqn[2] + pr.qn[3] * vqn[3];
      for (int i = 0; i < 4; ++i) vq[i] += (vqn[i] - pr.qn[i] * dot) / pr.qnorm;
    }
    for (int i = 0; i < 3; ++i) o_means[g * 3 + i] = vm[i];
    for (int i = 0; i < 4; ++i) o_quats[g * 4 + i] = vq[i];
    for (int i = 0; i < 3; ++i) o_scales[g * 3 + i] = vs[i];
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> project_fwd(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
    const at::Tensor& opacities, const at::Tensor& viewmats, const at::Tensor& Ks,
    int64_t width, int64_t height, double eps2d, double near_plane, double far_plane,
    double radius_clip) {
  const int64_t N = means.size(0), C = viewmats.size(0);
  auto fopt = means.options();
  at::Tensor radii = at::empty({C, N, 2}, fopt.dtype(at::kInt));
  at::Tensor means2d = at::empty({C, N, 2}, fopt);
  at::Tensor depths = at::empty({C, N}, fopt);
  at::Tensor conics = at::empty({C, N, 3}, fopt);
  poison(radii);
  poison(means2d);
  poison(depths);
  poison(conics);
  AT_DISPATCH_FLOATING_TYPES(means.scalar_type(), "project_fwd", [&] {
    project_fwd_impl<scalar_t>(means, quats, scales, opacities, viewmats, Ks, width, height,
                               eps2d, near_plane, far_plane, radius_clip, radii, means2d, depths,
                               conics);
  });
  return {radii, means2d, depths, conics};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> project_bwd(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
    const at::Tensor& viewmats, const at::Tensor& Ks, int64_t width, int64_t height,
    double eps2d, const at::Tensor& radii, const at::Tensor& v_means2d,
    const at::Tensor& v_depths, const at::Tensor& v_conics) {
  at::Tensor v_means = at::empty_like(means);
  at::Tensor v_quats = at::empty_like(quats);
  at::Tensor v_scales = at::empty_like(scales);
  poison(v_means);
  poison(v_quats);
  poison(v_scales);
  AT_DISPATCH_FLOATING_TYPES(means.scalar_type(), "project_bwd", [&] {
    project_bwd_impl<scalar_t>(means, quats, scales, viewmats, Ks, width, height, eps2d, radii,
                               v_means2d, v_depths, v_conics, v_means, v_quats, v_scales);
  });
  return {v_means, v_quats, v_scales};
}

}  // namespace swm
