"""The rendering side of the generator: pybullet's TinyRenderer in a client of its own.

The renderer mirrors the physics world's objects in a separate DIRECT client and only ever
sets poses there, so rendering (including moving bodies away to render one object alone)
never disturbs the simulation. Every call passes explicit view and projection matrices
built from an OpenGL camera-to-world and pinhole intrinsics (:mod:`spatialwm.data.cameras`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from spatialwm.data.cameras import opengl_projection
from spatialwm.data.episode import ObjectState
from spatialwm.data.transforms import Intrinsics
from spatialwm.generate.bullet import connect
from spatialwm.generate.sim import SceneObject, load_object, wxyz_to_xyzw

__all__ = ["Frame", "Renderer"]

NEAR = 0.02
FAR = 30.0
LIGHT_DIRECTION = (0.4, -0.6, 1.0)
_HIDDEN_Z = -1000.0


@dataclass(frozen=True, eq=False)
class Frame:
    """One rendered view.

    Attributes:
        rgb: ``[H, W, 3]`` uint8.
        instances: ``[H, W]`` uint8 instance ids (0 = background, 1..K = objects).
        depth_mm: ``[H, W]`` uint16 z-depth in millimetres, 0 = unknown (sky / too far).
        amodal: ``{id: [H, W] bool}`` full silhouettes (object rendered alone).
    """

    rgb: np.ndarray
    instances: np.ndarray
    depth_mm: np.ndarray
    amodal: dict[int, np.ndarray]

    def visibility(self) -> tuple[dict[int, float], dict[int, int]]:
        """Per object: visible fraction of its full silhouette, and that silhouette's pixels."""
        frac: dict[int, float] = {}
        pix: dict[int, int] = {}
        for i, full in self.amodal.items():
            n = int(full.sum())
            seen = int(np.count_nonzero((self.instances == i) & full))
            pix[i] = n
            frac[i] = seen / n if n else 0.0
        return frac, pix

    def amodal_bits(self) -> np.ndarray:
        """``[H, W]`` uint16 with bit ``id - 1`` set where object ``id``'s silhouette is."""
        h, w = self.instances.shape
        out = np.zeros((h, w), dtype=np.uint16)
        for i, full in self.amodal.items():
            out[full] |= np.uint16(1 << (i - 1))
        return out


class Renderer:
    """Renders RGB, instance masks, depth and per-object silhouettes of a scene."""

    def __init__(self, objects: Mapping[int, SceneObject], *, supersample: int = 1) -> None:
        """``supersample`` s: render s x s samples per pixel and average them (anti-aliasing;
        TinyRenderer has none). Instance ids take each pixel's majority label (ties go to the
        nearest surface), depth the mean depth of that label's samples, silhouettes a
        majority of samples."""
        self.supersample = int(supersample)
        self.client = connect()
        c = self.client
        self.plane = c.load_urdf("plane.urdf", (0, 0, 0), (0, 0, 0, 1), useFixedBase=True)
        self.bodies: dict[int, int] = {}
        self.ids_by_body: dict[int, int] = {}
        for i in sorted(objects):
            body = load_object(c, objects[i], (0, 0, _HIDDEN_Z - 10 * i), (0, 0, 0, 1))
            self.bodies[i] = body
            self.ids_by_body[body] = i
        # Body id -> instance id lookup table for the segmentation buffer (-1 -> index 0).
        lut = np.zeros(max([self.plane, *self.bodies.values()]) + 2, dtype=np.uint8)
        for body, i in self.ids_by_body.items():
            lut[body + 1] = i
        self._lut = lut
        self._poses: dict[int, tuple[list[float], tuple[float, ...]]] = {}

    def set_states(self, states: Mapping[int, ObjectState]) -> None:
        """Place every object at its state's pose."""
        for i, s in states.items():
            pos, orn = list(s.position), wxyz_to_xyzw(s.quaternion)
            self._poses[i] = (pos, orn)
            self.client.resetBasePositionAndOrientation(self.bodies[i], pos, orn)

    def _matrices(self, c2w: np.ndarray, intr: Intrinsics) -> tuple[list, list]:
        view = np.linalg.inv(np.asarray(c2w, dtype=np.float64))  # OpenGL world-to-camera
        proj = opengl_projection(intr.K, intr.width, intr.height, NEAR, FAR)
        return view.T.ravel().tolist(), proj.T.ravel().tolist()  # column-major for pybullet

    def _shoot(
        self, c2w: np.ndarray, intr: Intrinsics
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        view, proj = self._matrices(c2w, intr)
        c = self.client
        w, h, rgba, depth, seg = c.getCameraImage(
            intr.width,
            intr.height,
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=c.pb.ER_TINY_RENDERER,
            lightDirection=list(LIGHT_DIRECTION),
            shadow=0,
        )
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)
        depth = np.asarray(depth, dtype=np.float64).reshape(h, w)
        seg = np.asarray(seg, dtype=np.int64).reshape(h, w)
        return rgba, depth, seg

    def _window(self, i: int, c2w: np.ndarray, intr: Intrinsics) -> tuple[int, ...] | None:
        """Pixel window ``(u0, v0, u1, v1)`` (end exclusive) holding object ``i``'s projected
        bounding box, clipped to the image; the whole image when the box straddles the camera
        plane; ``None`` when it cannot appear in the image."""
        lo, hi = self.client.getAABB(self.bodies[i])
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        w2c = np.linalg.inv(c2w)
        cam = corners @ w2c[:3, :3].T + w2c[:3, 3]
        depth = -cam[:, 2]  # OpenGL: visible points have negative z
        if (depth <= NEAR).all():
            return None
        if (depth <= NEAR).any():
            return (0, 0, intr.width, intr.height)  # straddles the camera plane
        u = intr.fx * cam[:, 0] / depth + intr.cx
        v = -intr.fy * cam[:, 1] / depth + intr.cy
        if u.max() < 0 or u.min() > intr.width or v.max() < 0 or v.min() > intr.height:
            return None
        u0, v0 = max(int(np.floor(u.min())) - 1, 0), max(int(np.floor(v.min())) - 1, 0)
        u1 = min(int(np.ceil(u.max())) + 2, intr.width)
        v1 = min(int(np.ceil(v.max())) + 2, intr.height)
        return (u0, v0, u1, v1) if u1 > u0 and v1 > v0 else None

    def _hi(self, intr: Intrinsics) -> Intrinsics:
        s = self.supersample
        if s == 1:
            return intr
        return replace(intr, width=intr.width * s, height=intr.height * s, fx=intr.fx * s,
                       fy=intr.fy * s, cx=intr.cx * s, cy=intr.cy * s)  # fmt: skip

    def _blocks(self, a: np.ndarray) -> np.ndarray:
        """``[H*s, W*s, ...]`` -> ``[H, W, s*s, ...]`` (each pixel's samples)."""
        s = self.supersample
        h, w = a.shape[0] // s, a.shape[1] // s
        a = a.reshape(h, s, w, s, *a.shape[2:]).swapaxes(1, 2)
        return a.reshape(h, w, s * s, *a.shape[4:])

    def render(self, c2w: np.ndarray, intr: Intrinsics, *, silhouettes: bool = True) -> Frame:
        """Render the scene from an OpenGL camera-to-world ``c2w`` [4, 4] with ``intr``.

        With ``silhouettes``, also render each object alone for its full silhouette."""
        rgba, depth_buf, seg = self._shoot(c2w, self._hi(intr))
        instances = self._lut[np.clip(seg, -1, len(self._lut) - 2) + 1]
        # Linearise the depth buffer: z = near * far / (far - (far - near) * d).
        z = NEAR * FAR / (FAR - (FAR - NEAR) * depth_buf)
        valid = depth_buf < 1.0 - 1e-7
        rgb = rgba[..., :3]
        if self.supersample > 1:
            rgb = np.round(self._blocks(rgb.astype(np.float64)).mean(2)).astype(np.uint8)
            instances, z, valid = self._resolve(
                self._blocks(instances), self._blocks(z), self._blocks(valid)
            )
        mm = np.round(z * 1000.0)
        valid = valid & (mm > 0) & (mm <= 65535)
        depth_mm = np.where(valid, mm, 0).astype(np.uint16)
        amodal = self._silhouettes(c2w, intr) if silhouettes else {}
        return Frame(np.ascontiguousarray(rgb), instances, depth_mm, amodal)

    @staticmethod
    def _resolve(
        ids: np.ndarray, z: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pixel from its samples ``[H, W, S]``: the majority instance id (ties: the one
        with the nearest sample), the mean depth of that id's valid samples. Only pixels whose
        samples disagree (edges) take the slow path."""
        best = ids[..., 0].copy()
        mixed = ~(ids == best[..., None]).all(-1)
        if mixed.any():
            m_ids, m_z = ids[mixed], np.where(valid[mixed], z[mixed], np.inf)
            best_score = np.full(len(m_ids), -np.inf)
            m_best = np.zeros(len(m_ids), dtype=ids.dtype)
            for i in np.unique(m_ids):
                hit = m_ids == i
                near = np.where(hit, m_z, np.inf).min(-1)
                score = hit.sum(-1) * 1e6 - np.minimum(near, 1e5)
                better = score > best_score
                m_best[better], best_score[better] = i, score[better]
            best[mixed] = m_best
        chosen = (ids == best[..., None]) & valid
        n = chosen.sum(-1)
        depth = np.where(chosen, z, 0.0).sum(-1) / np.maximum(n, 1)
        return best, depth, n > 0

    def _silhouettes(self, c2w: np.ndarray, intr: Intrinsics) -> dict[int, np.ndarray]:
        """Each object rendered alone, only inside the window its bounding box projects to
        (an off-centre frustum: same pixels as a full frame, a fraction of the work)."""
        c = self.client
        s = self.supersample
        out = {i: np.zeros((intr.height, intr.width), dtype=bool) for i in sorted(self.bodies)}
        todo = {i: w for i in sorted(self.bodies) if (w := self._window(i, c2w, intr))}
        if not todo:
            return out
        hi = self._hi(intr)
        c.resetBasePositionAndOrientation(self.plane, [0, 0, _HIDDEN_Z], [0, 0, 0, 1])
        for i in self.bodies:
            c.resetBasePositionAndOrientation(
                self.bodies[i], [0, 0, _HIDDEN_Z - 10 * i], [0, 0, 0, 1]
            )
        try:
            for i, (u0, v0, u1, v1) in todo.items():
                pos, orn = self._poses[i]
                c.resetBasePositionAndOrientation(self.bodies[i], pos, orn)
                win = replace(hi, width=(u1 - u0) * s, height=(v1 - v0) * s,
                              cx=hi.cx - u0 * s, cy=hi.cy - v0 * s)  # fmt: skip
                _, _, seg = self._shoot(c2w, win)
                full = seg == self.bodies[i]
                if s > 1:
                    full = 2 * self._blocks(full).sum(-1) >= s * s
                out[i][v0:v1, u0:u1] = full
                c.resetBasePositionAndOrientation(
                    self.bodies[i], [0, 0, _HIDDEN_Z - 10 * i], [0, 0, 0, 1]
                )
        finally:
            c.resetBasePositionAndOrientation(self.plane, [0, 0, 0], [0, 0, 0, 1])
            for i, (pos, orn) in self._poses.items():
                c.resetBasePositionAndOrientation(self.bodies[i], pos, orn)
        return out

    def close(self) -> None:
        self.client.close()
