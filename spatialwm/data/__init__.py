"""Dataset format: nerfstudio ``transforms.json`` + spatialwm extensions + ``episode.json``.

* :func:`load_dataset` reads a folder into a :class:`Dataset` (OpenCV ``viewmats`` + ``Ks``,
  lazy images / masks / depth, objects, episode, point cloud).
* :mod:`spatialwm.data.cameras` holds the OpenGL <-> OpenCV camera conventions.
* :mod:`spatialwm.data.actions` defines the action schema (push, place, camera, wait).
* :mod:`spatialwm.data.episode` reads and writes ``episode.json``.

This package does not import the renderer or the generator. ``Dataset`` and ``load_dataset``
(the only parts that need torch) are imported on first use, so that the generator, which
writes this format through the numpy-only modules, does not pay for importing torch.
"""

from typing import TYPE_CHECKING, Any

from spatialwm.data.actions import (
    Action,
    CameraAction,
    PlaceAction,
    PushAction,
    WaitAction,
    action_to_json,
    parse_action,
    parse_actions,
    validate_action,
)
from spatialwm.data.cameras import (
    focal_from_fov,
    fov_from_focal,
    intrinsics_matrix,
    look_at,
    opencv_w2c_to_opengl_c2w,
    opengl_c2w_to_opencv_w2c,
    project_points,
)
from spatialwm.data.episode import (
    Episode,
    EpisodeStep,
    ObjectState,
    read_episode,
    write_episode,
)
from spatialwm.data.ply import read_ply_points, write_ply_points
from spatialwm.data.transforms import FrameRecord, Intrinsics, ObjectInfo, write_transforms

__all__ = [
    "Action",
    "CameraAction",
    "Dataset",
    "Episode",
    "EpisodeStep",
    "FrameRecord",
    "Intrinsics",
    "ObjectInfo",
    "ObjectState",
    "PlaceAction",
    "PushAction",
    "WaitAction",
    "action_to_json",
    "focal_from_fov",
    "fov_from_focal",
    "intrinsics_matrix",
    "load_dataset",
    "look_at",
    "opencv_w2c_to_opengl_c2w",
    "opengl_c2w_to_opencv_w2c",
    "parse_action",
    "parse_actions",
    "project_points",
    "read_episode",
    "read_ply_points",
    "validate_action",
    "write_episode",
    "write_ply_points",
    "write_transforms",
]

if TYPE_CHECKING:
    from spatialwm.data.dataset import Dataset, load_dataset


def __getattr__(name: str) -> Any:
    if name in ("Dataset", "load_dataset"):
        from spatialwm.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'spatialwm.data' has no attribute {name!r}")
