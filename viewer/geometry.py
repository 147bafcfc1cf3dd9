"""Pure geometry for the viewer (numpy / torch, no viser): camera conversions, object boxes,
click picking, occlusion ("hidden") tests, image error.

Conventions: world +Z up, metres. viser cameras are OpenCV (+Z forward, +Y down), given by the
camera-to-world rotation ``wxyz`` and ``position``, with a *vertical* field of view in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from spatialwm.scene.render import Camera
from spatialwm.scene.state import SceneState, group_slice, quat_to_matrix


# ------------------------------------------------------------------------------ rotations
def matrix_to_wxyz(r: np.ndarray) -> np.ndarray:
    """``[3, 3]`` rotation -> unit quaternion ``[4]`` wxyz (w >= 0)."""
    r = np.asarray(r, dtype=np.float64)
    t = np.trace(r)
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def wxyz_to_matrix(q) -> np.ndarray:
    """Unit quaternion wxyz -> ``[3, 3]`` rotation (float64)."""
    return quat_to_matrix(torch.as_tensor(np.asarray(q, dtype=np.float64))).numpy()


def yaw_wxyz(yaw_deg: float) -> tuple[float, float, float, float]:
    """A rotation about world +Z by ``yaw_deg`` degrees, wxyz."""
    h = math.radians(yaw_deg) / 2
    return (math.cos(h), 0.0, 0.0, math.sin(h))


def wxyz_yaw_deg(q) -> float:
    """The yaw (heading about +Z, degrees) of a rotation given as wxyz."""
    r = wxyz_to_matrix(q)
    return math.degrees(math.atan2(r[1, 0], r[0, 0]))


# -------------------------------------------------------------------------------- cameras
@dataclass(frozen=True)
class ViewPose:
    """A viser camera pose: ``wxyz`` / ``position`` camera-to-world (OpenCV), ``fov``
    vertical (radians), ``look_at`` a point in front of it."""

    wxyz: tuple[float, float, float, float]
    position: tuple[float, float, float]
    fov: float
    look_at: tuple[float, float, float]


def camera_view(camera: Camera, look_distance: float = 1.0) -> ViewPose:
    """A dataset :class:`Camera` (OpenCV world-to-camera + K) as a viser camera pose."""
    c2w = np.linalg.inv(camera.viewmat.double().numpy())
    fy = float(camera.K[1, 1])
    fov = 2.0 * math.atan(camera.height / (2.0 * fy))
    pos = c2w[:3, 3]
    fwd = c2w[:3, 2]
    return ViewPose(
        wxyz=tuple(matrix_to_wxyz(c2w[:3, :3]).tolist()),
        position=tuple(pos.tolist()),
        fov=fov,
        look_at=tuple((pos + look_distance * fwd).tolist()),
    )


def opengl_c2w(wxyz, position) -> np.ndarray:
    """A viser (OpenCV) camera pose as the ``camera`` action's OpenGL camera-to-world 4x4."""
    m = np.eye(4)
    m[:3, :3] = wxyz_to_matrix(wxyz) @ np.diag([1.0, -1.0, -1.0])
    m[:3, 3] = np.asarray(position, dtype=np.float64)
    return m


def look_at_wxyz(eye, target, up=(0.0, 0.0, 1.0)) -> tuple[float, float, float, float]:
    """Camera-to-world rotation (OpenCV: +Z forward, -Y up) of a camera at ``eye`` facing
    ``target``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= max(np.linalg.norm(z), 1e-12)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return tuple(matrix_to_wxyz(np.stack([x, y, z], 1)).tolist())


# --------------------------------------------------------------------------------- boxes
@dataclass(frozen=True)
class Box:
    """An oriented box in a group's canonical frame: ``center [3]`` and ``size [3]``."""

    center: np.ndarray
    size: np.ndarray


def object_box(state: SceneState, g: int) -> Box:
    """The 2nd-98th percentile box of group ``g``'s confident Gaussians (opacity > 0.5;
    all of them when fewer than 10 are), canonical frame."""
    sl = group_slice(state, g)
    means = state.gaussians.means[sl].float()
    solid = torch.sigmoid(state.gaussians.opacities[sl].float()) > 0.5
    pts = means[solid] if int(solid.sum()) >= 10 else means
    if len(pts) == 0:
        return Box(np.zeros(3), np.full(3, 0.01))
    if len(pts) > 20000:
        pts = pts[torch.linspace(0, len(pts) - 1, 20000).long()]
    lo = torch.quantile(pts, 0.02, dim=0).double().numpy()
    hi = torch.quantile(pts, 0.98, dim=0).double().numpy()
    return Box((lo + hi) / 2, np.maximum(hi - lo, 1e-3))


def ray_box_distance(origin, direction, box: Box, position, wxyz) -> float | None:
    """Distance along a world ray to ``box`` placed by the pose ``(position, wxyz)``; ``None``
    on a miss (slab test in the box frame)."""
    r = wxyz_to_matrix(wxyz)
    o = r.T @ (np.asarray(origin, dtype=np.float64) - np.asarray(position, dtype=np.float64))
    d = r.T @ np.asarray(direction, dtype=np.float64)
    o = o - box.center
    half = box.size / 2
    t0, t1 = -np.inf, np.inf
    for a in range(3):
        if abs(d[a]) < 1e-12:
            if abs(o[a]) > half[a]:
                return None
            continue
        ta, tb = (-half[a] - o[a]) / d[a], (half[a] - o[a]) / d[a]
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    if t1 < max(t0, 0.0):
        return None
    return float(max(t0, 0.0))


def pick_group(state: SceneState, boxes: dict[int, Box], origin, direction) -> int | None:
    """The object group (>= 1) whose box a world ray hits first, or ``None``."""
    best, best_t = None, np.inf
    for g, box in boxes.items():
        t = ray_box_distance(
            origin, direction, box, state.positions[g].numpy(), state.orientations[g].numpy()
        )
        if t is not None and t < best_t:
            best, best_t = g, t
    return best


# ----------------------------------------------------------------------------- occlusion
def silhouette_pixels(state: SceneState, g: int, camera: Camera, max_points: int = 4000):
    """Pixels ``[P, 2]`` (x, y, int) that group ``g``'s confident Gaussian centres project to
    in ``camera``, in front of it: its full (amodal) silhouette, hidden parts included."""
    sl = group_slice(state, g)
    gs = state.gaussians
    means = gs.means[sl].float()
    solid = torch.sigmoid(gs.opacities[sl].float()) > 0.5
    pts = means[solid] if int(solid.sum()) >= 10 else means
    if len(pts) > max_points:
        pts = pts[torch.linspace(0, len(pts) - 1, max_points).long()]
    rot = quat_to_matrix(state.orientations[g].float())
    world = pts @ rot.T + state.positions[g].float()
    cam = world @ camera.viewmat[:3, :3].float().T + camera.viewmat[:3, 3].float()
    front = cam[:, 2] > 1e-3
    cam = cam[front]
    uv = cam @ camera.K.float().T
    uv = uv[:, :2] / uv[:, 2:3]
    px = uv.floor().long()
    inside = (
        (px[:, 0] >= 0) & (px[:, 0] < camera.width) & (px[:, 1] >= 0) & (px[:, 1] < camera.height)
    )
    return torch.unique(px[inside], dim=0)


def hidden_objects(
    state: SceneState,
    camera: Camera,
    weights: torch.Tensor,
    *,
    min_pixels: int = 4,
    visible_weight: float = 0.05,
) -> dict[int, tuple[torch.Tensor, bool]]:
    """Per object group: ``(silhouette pixels [P, 2], hidden)`` in ``camera``.

    ``weights [H, W, M]``: the render's per-group weight (``Rendered.groups`` of this camera).
    An object is *hidden* when its full silhouette covers at least ``min_pixels`` pixels of the
    image but its own weight there averages below ``visible_weight``: it is in view, and
    something in front of it takes all the light. (The weight, not the id map's argmax, so that
    a faint, semi-transparent object still counts as seen.)
    """
    out = {}
    for g in range(1, state.num_groups):
        px = silhouette_pixels(state, g, camera)
        if len(px) < min_pixels:
            out[g] = (px, False)
            continue
        seen = float(weights[px[:, 1], px[:, 0], g].float().mean())
        out[g] = (px, seen < visible_weight)
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) of two images in [0, 1] of the same shape."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


__all__ = [
    "Box",
    "ViewPose",
    "camera_view",
    "hidden_objects",
    "look_at_wxyz",
    "matrix_to_wxyz",
    "object_box",
    "opengl_c2w",
    "pick_group",
    "psnr",
    "ray_box_distance",
    "silhouette_pixels",
    "wxyz_to_matrix",
    "wxyz_yaw_deg",
    "yaw_wxyz",
]
