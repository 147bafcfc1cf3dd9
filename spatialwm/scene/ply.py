"""Gaussian-splat PLY files in the standard 3DGS (INRIA) layout, which other splat viewers and
tools (nerfstudio, gsplat, SuperSplat, ...) load.

Vertex properties, float32, in this order: ``x y z nx ny nz f_dc_0..2 f_rest_0..f_rest_{3(K-1)-1}
opacity scale_0..2 rot_0..3``, holding raw (unactivated) parameters: opacity logit, log scales,
the quaternion wxyz as stored, SH coefficients with ``f_rest`` channel-major (all higher-order
coefficients of red, then green, then blue). Normals are written as zeros. Extra per-Gaussian
properties (an object id, say) follow them; readers that look properties up by name ignore
them. Reading looks every property up by name, so files from other writers (gsplat's exporter
leaves the normals out) load too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from spatialwm.data.ply import read_ply_vertices, write_ply_vertices
from spatialwm.errors import DatasetError

# gsplat's parameter names: means [N,3], scales [N,3] (log), quats [N,4] (wxyz), opacities [N]
# (logit), sh0 [N,1,3] and shN [N,K-1,3] (SH coefficients, K = (degree + 1)^2).
SPLAT_KEYS = ("means", "scales", "quats", "opacities", "sh0", "shN")
_REQUIRED = (
    "x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
    "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
)  # fmt: skip


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def write_splat_ply(
    path: str | os.PathLike,
    splats: Mapping[str, Tensor],
    *,
    extra: Mapping[str, Tensor | np.ndarray] | None = None,
) -> None:
    """Atomically write Gaussians as a standard 3DGS PLY.

    Args:
        splats: raw parameters with gsplat's names (:data:`SPLAT_KEYS`); ``shN`` may be
            missing or have 0 coefficients (SH degree 0).
        extra: more per-Gaussian properties ``{name: [N] array}`` (float32 or integer).
    """
    missing = [k for k in SPLAT_KEYS[:5] if k not in splats]
    if missing:
        raise ValueError(f"splats lack {missing}")
    means = _np(splats["means"]).astype(np.float32).reshape(-1, 3)
    n = len(means)
    sh0 = _np(splats["sh0"]).astype(np.float32).reshape(n, 3)
    shN = _np(splats.get("shN", np.zeros((n, 0, 3)))).astype(np.float32).reshape(n, -1, 3)
    cols: dict[str, np.ndarray] = {"x": means[:, 0], "y": means[:, 1], "z": means[:, 2]}
    zeros = np.zeros(n, np.float32)
    cols.update(nx=zeros, ny=zeros, nz=zeros)
    cols.update({f"f_dc_{c}": sh0[:, c] for c in range(3)})
    rest = shN.transpose(0, 2, 1).reshape(n, -1)  # channel-major
    cols.update({f"f_rest_{i}": rest[:, i] for i in range(rest.shape[1])})
    cols["opacity"] = _np(splats["opacities"]).astype(np.float32).reshape(n)
    scales = _np(splats["scales"]).astype(np.float32).reshape(n, 3)
    quats = _np(splats["quats"]).astype(np.float32).reshape(n, 4)
    cols.update({f"scale_{i}": scales[:, i] for i in range(3)})
    cols.update({f"rot_{i}": quats[:, i] for i in range(4)})
    for name, values in (extra or {}).items():
        if name in cols:
            raise ValueError(f"extra property {name!r} clashes with a 3DGS property")
        v = _np(values).reshape(-1)
        if len(v) != n:
            raise ValueError(f"extra property {name!r} has {len(v)} values for {n} Gaussians")
        cols[name] = v.astype(np.float32) if v.dtype.kind == "f" else v
    write_ply_vertices(path, cols)


def read_splat_ply(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, np.ndarray]]:
    """Read a 3DGS PLY.

    Returns:
        ``(splats, extra)``: raw float32 parameters under gsplat's names (:data:`SPLAT_KEYS`;
        ``shN`` is ``[N, K-1, 3]``, possibly with K-1 = 0), and every other property except
        the normals as ``{name: [N] array}``.
    Raises:
        DatasetError: the file is missing or not a PLY, a 3DGS property is missing (named), or
            the ``f_rest_*`` properties are not a whole SH degree.
    """
    cols = read_ply_vertices(path)
    missing = [k for k in _REQUIRED if k not in cols]
    if missing:
        raise DatasetError(f"{path}: not a 3DGS splat PLY, missing properties {missing}")
    n_rest = sum(1 for k in cols if k.startswith("f_rest_"))
    degree = math.isqrt(n_rest // 3 + 1) - 1
    if n_rest % 3 or (degree + 1) ** 2 != n_rest // 3 + 1:
        raise DatasetError(f"{path}: {n_rest} f_rest_* properties are not a whole SH degree")
    try:
        rest = np.stack([cols[f"f_rest_{i}"] for i in range(n_rest)], axis=1) if n_rest else None
    except KeyError as exc:
        raise DatasetError(f"{path}: missing property {exc.args[0]}") from None

    def stack(names: list[str]) -> Tensor:
        return torch.from_numpy(np.stack([cols[k] for k in names], axis=1).astype(np.float32))

    n = len(cols["x"])
    splats = {
        "means": stack(["x", "y", "z"]),
        "scales": stack([f"scale_{i}" for i in range(3)]),
        "quats": stack([f"rot_{i}" for i in range(4)]),
        "opacities": torch.from_numpy(cols["opacity"].astype(np.float32)),
        "sh0": stack([f"f_dc_{c}" for c in range(3)])[:, None, :],
        "shN": torch.zeros(n, 0, 3)
        if rest is None
        else torch.from_numpy(rest.astype(np.float32).reshape(n, 3, -1).transpose(0, 2, 1).copy()),
    }
    known = set(_REQUIRED) | {"nx", "ny", "nz"} | {f"f_rest_{i}" for i in range(n_rest)}
    extra = {k: v for k, v in cols.items() if k not in known}
    return splats, extra
