"""pybullet connection helpers: quiet import, a DIRECT client bound to one connection."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

from spatialwm.errors import SpatialWMError

__all__ = ["GeneratorError", "connect", "pybullet_module", "quiet_stderr"]


class GeneratorError(SpatialWMError):
    """The generator could not run (pybullet missing, an asset failed to load...)."""


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence C-level writes to stderr (pybullet prints its build time and URDF warnings)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)


@functools.cache
def pybullet_module() -> tuple[Any, str]:
    """``(pybullet, pybullet_data path)``, imported on first use."""
    try:
        with quiet_stderr():
            import pybullet
            import pybullet_data
    except ImportError as exc:
        raise GeneratorError(
            f"the generator needs pybullet ({exc}); install it with: pip install pybullet==3.2.7"
        ) from None
    return pybullet, pybullet_data.getDataPath()


class Client:
    """A pybullet DIRECT connection; ``client.fn(...)`` calls ``pybullet.fn(...,
    physicsClientId=...)``. Close it with :meth:`close` (or use it as a context manager)."""

    def __init__(self) -> None:
        pb, data = pybullet_module()
        self.pb = pb
        self.data_path = data
        self.id = pb.connect(pb.DIRECT)
        if self.id < 0:
            raise GeneratorError("pybullet: could not open a DIRECT connection")
        pb.resetSimulation(physicsClientId=self.id)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.pb, name)
        if callable(fn):
            return functools.partial(fn, physicsClientId=self.id)
        return fn

    def load_urdf(self, urdf: str, position: Any, orn_xyzw: Any, **kw: Any) -> int:
        """Load a URDF from ``pybullet_data`` (or an absolute path)."""
        path = urdf if os.path.isabs(urdf) else os.path.join(self.data_path, urdf)
        if not os.path.exists(path):
            raise GeneratorError(f"asset {urdf!r}: no such file in pybullet_data ({path})")
        try:
            with quiet_stderr():
                return self.pb.loadURDF(
                    path, list(position), list(orn_xyzw), physicsClientId=self.id, **kw
                )
        except self.pb.error as exc:
            raise GeneratorError(f"asset {urdf!r}: pybullet could not load it ({exc})") from None

    def close(self) -> None:
        if self.id >= 0:
            with contextlib.suppress(Exception):
                self.pb.disconnect(physicsClientId=self.id)
            self.id = -1

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect() -> Client:
    """A new DIRECT client (a fresh, empty world)."""
    return Client()
