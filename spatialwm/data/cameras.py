"""Camera conventions, in one place.

Two conventions meet in this project:

* **Files** (nerfstudio ``transforms.json``, the ``camera`` action) store a camera-to-world
  matrix ``c2w`` in the **OpenGL / Blender** convention: camera +X right, +Y up, the camera
  looks along -Z. World frame: +Z up, metres.
* **Everything in memory** (the rasterizer, gsplat, the loader's output) uses an **OpenCV**
  world-to-camera matrix ``viewmat``: camera +X right, +Y down, looking along +Z, with
  pinhole intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels where pixel
  ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` (its centre is at ``i + 0.5``).

Conversion: flip the camera's Y and Z axes (right-multiply ``c2w`` by ``diag(1, -1, -1, 1)``),
then invert. The functions here accept numpy arrays or torch tensors with any leading batch
shape (``[..., 4, 4]``) and return the same kind; nothing here imports torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "OPENGL_TO_OPENCV",
    "focal_from_fov",
    "fov_from_focal",
    "intrinsics_matrix",
    "look_at",
    "opencv_w2c_to_opengl_c2w",
    "opengl_c2w_to_opencv_w2c",
    "opengl_projection",
    "project_points",
]

#: Right-multiplying a camera-to-world matrix by this flips the camera's Y and Z axes,
#: turning an OpenGL camera into an OpenCV one (and back: it is its own inverse).
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _as_4x4(m: Any) -> Any:
    """Pad ``[..., 3, 4]`` to ``[..., 4, 4]``; numpy inputs become float64 arrays."""
    if not _is_torch(m):
        m = np.asarray(m, dtype=np.float64)
    if tuple(m.shape[-2:]) == (4, 4):
        return m
    if tuple(m.shape[-2:]) != (3, 4):
        raise ValueError(
            f"expected a [..., 4, 4] or [..., 3, 4] matrix, got shape {tuple(m.shape)}"
        )
    if _is_torch(m):
        import torch  # only reached when the caller already uses torch

        bottom = torch.zeros((*m.shape[:-2], 1, 4), dtype=m.dtype, device=m.device)
        bottom[..., 0, 3] = 1
        return torch.cat([m, bottom], dim=-2)
    bottom = np.zeros((*m.shape[:-2], 1, 4))
    bottom[..., 0, 3] = 1
    return np.concatenate([m, bottom], axis=-2)


def _flip(m: Any) -> Any:
    if _is_torch(m):
        flip = m.new_tensor(OPENGL_TO_OPENCV)
        return m @ flip
    return m @ OPENGL_TO_OPENCV


def _inv(m: Any) -> Any:
    if _is_torch(m):
        return m.inverse()
    return np.linalg.inv(m)


def opengl_c2w_to_opencv_w2c(c2w: Any) -> Any:
    """OpenGL camera-to-world (files) -> OpenCV world-to-camera (rasterizer ``viewmats``).

    Args:
        c2w: ``[..., 4, 4]`` or ``[..., 3, 4]`` numpy array or torch tensor.
    Returns:
        ``[..., 4, 4]`` of the same kind (numpy: float64; torch: the input's dtype/device).
    """
    return _inv(_flip(_as_4x4(c2w)))


def opencv_w2c_to_opengl_c2w(w2c: Any) -> Any:
    """OpenCV world-to-camera -> OpenGL camera-to-world; inverse of
    :func:`opengl_c2w_to_opencv_w2c`. ``[..., 4, 4]`` in, ``[..., 4, 4]`` out."""
    return _flip(_inv(_as_4x4(w2c)))


def look_at(eye: Any, target: Any, up: Any = (0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenGL camera-to-world ``[4, 4]`` (float64) of a camera at ``eye`` looking at ``target``.

    ``up`` is the world direction that appears upwards in the image (default world +Z). Raises
    ``ValueError`` when the viewing direction is parallel to ``up`` or ``eye == target``.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    forward = target - eye
    n = np.linalg.norm(forward)
    if n < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    forward /= n
    right = np.cross(forward, up)
    rn = np.linalg.norm(right)
    if rn < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    right /= rn
    cam_up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0] = right
    c2w[:3, 1] = cam_up
    c2w[:3, 2] = -forward  # OpenGL cameras look along -Z
    c2w[:3, 3] = eye
    return c2w


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole ``K`` ``[3, 3]`` (float64) from focal lengths and principal point in pixels."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def focal_from_fov(fov_deg: float, size: float) -> float:
    """Focal length in pixels for a field of view ``fov_deg`` (degrees) across ``size`` pixels."""
    return 0.5 * size / math.tan(math.radians(fov_deg) / 2.0)


def fov_from_focal(focal: float, size: float) -> float:
    """Field of view in degrees across ``size`` pixels for a focal length in pixels."""
    return math.degrees(2.0 * math.atan(0.5 * size / focal))


def opengl_projection(K: Any, width: int, height: int, near: float, far: float) -> np.ndarray:
    """OpenGL projection matrix ``[4, 4]`` (row-major, float64) equivalent to pinhole ``K``.

    It maps an OpenGL camera-space point to clip space so that, after the viewport transform
    with image row 0 at the top, the point lands at the pixel ``K`` predicts in OpenCV
    coordinates. Pass ``P.T.ravel()`` to APIs that expect column-major (pybullet).
    """
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * fx / width
    P[0, 2] = 1.0 - 2.0 * cx / width
    P[1, 1] = 2.0 * fy / height
    P[1, 2] = 2.0 * cy / height - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return P


def project_points(points: Any, viewmat: Any, K: Any) -> tuple[Any, Any]:
    """Project world points through an OpenCV camera.

    Args:
        points: ``[P, 3]`` world coordinates.
        viewmat: ``[4, 4]`` OpenCV world-to-camera.
        K: ``[3, 3]`` intrinsics.
    Returns:
        ``(uv [P, 2], depth [P])``: pixel coordinates (``u`` right, ``v`` down; pixel centres
        at ``+0.5``) and camera-space depth (+Z; negative behind the camera). Same kind as
        ``points`` (numpy arrays are computed in float64).
    """
    if not _is_torch(points):
        points = np.asarray(points, dtype=np.float64)
        viewmat = np.asarray(viewmat, dtype=np.float64)
        K = np.asarray(K, dtype=np.float64)
    cam = points @ viewmat[:3, :3].T + viewmat[:3, 3]
    z = cam[:, 2]
    pix = cam @ K.T
    uv = pix[:, :2] / z[:, None]
    return uv, z
