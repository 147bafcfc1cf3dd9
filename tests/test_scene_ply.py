"""3DGS PLY files: round trip by property name, gsplat interoperability, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gsplat import export_splats

from spatialwm.data.ply import read_ply_vertices
from spatialwm.errors import DatasetError
from spatialwm.scene import read_splat_ply, write_splat_ply


def random_splats(n: int, degree: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    return {
        "means": torch.randn(n, 3, generator=g),
        "scales": torch.randn(n, 3, generator=g) - 4,
        "quats": torch.randn(n, 4, generator=g),
        "opacities": torch.randn(n, generator=g) + 2,
        "sh0": torch.randn(n, 1, 3, generator=g),
        "shN": torch.randn(n, k - 1, 3, generator=g),
    }


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_with_extra_properties(tmp_path, degree):
    splats = random_splats(50, degree, seed=degree)
    ids = np.arange(50, dtype=np.int32) % 4
    write_splat_ply(tmp_path / "s.ply", splats, extra={"object_id": ids})
    back, extra = read_splat_ply(tmp_path / "s.ply")
    for key, value in splats.items():
        assert torch.equal(back[key], value), key
    np.testing.assert_array_equal(extra["object_id"], ids)
    assert extra["object_id"].dtype == np.int32


def test_properties_are_in_the_inria_order(tmp_path):
    write_splat_ply(tmp_path / "s.ply", random_splats(3, 1))
    names = list(read_ply_vertices(tmp_path / "s.ply"))
    expected = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    expected += [f"f_rest_{i}" for i in range(9)] + ["opacity", "scale_0", "scale_1", "scale_2"]
    expected += ["rot_0", "rot_1", "rot_2", "rot_3"]
    assert names == expected
    header = (tmp_path / "s.ply").read_bytes().split(b"end_header")[0]
    assert b"format binary_little_endian 1.0" in header and b"property float f_rest_8" in header


def test_reads_what_gsplat_exports_and_gsplat_layout_matches(tmp_path):
    splats = random_splats(40, 2, seed=9)
    export_splats(**splats, format="ply", save_to=str(tmp_path / "gsplat.ply"))
    back, _ = read_splat_ply(tmp_path / "gsplat.ply")
    for key, value in splats.items():
        torch.testing.assert_close(back[key], value, rtol=0, atol=0)
    # and the values we write sit under the same property names as gsplat's
    write_splat_ply(tmp_path / "ours.ply", splats)
    ours, theirs = (
        read_ply_vertices(tmp_path / "ours.ply"),
        read_ply_vertices(tmp_path / "gsplat.ply"),
    )
    for name, column in theirs.items():
        np.testing.assert_array_equal(ours[name], column, err_msg=name)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        read_splat_ply(tmp_path / "missing.ply")
    (tmp_path / "points.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n"
    )
    with pytest.raises(DatasetError, match=r"points\.ply: not a 3DGS splat PLY.*'f_dc_0'"):
        read_splat_ply(tmp_path / "points.ply")
    splats = random_splats(5, 1)
    splats["shN"] = splats["shN"][:, :2]  # 6 f_rest values: not a whole degree
    write_splat_ply(tmp_path / "odd.ply", splats)
    with pytest.raises(DatasetError, match="not a whole SH degree"):
        read_splat_ply(tmp_path / "odd.ply")
    with pytest.raises(ValueError, match="clashes"):
        write_splat_ply(tmp_path / "x.ply", random_splats(2, 0), extra={"opacity": np.zeros(2)})
