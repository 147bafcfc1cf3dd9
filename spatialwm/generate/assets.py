"""Object assets from ``pybullet_data`` and the pools the presets draw from.

Pools (``--pool``):

* ``default``: the textured built-in objects plus ``random_urdfs`` 000-899; each object is
  a built-in one or a random one with equal probability.
* ``builtin``: the textured built-in objects only (duck, lego, teddy, ...).
* ``random``: ``random_urdfs`` 000-899.
* ``heldout``: ``random_urdfs`` 900-999. **Reserved for held-out evaluation**: no preset's
  default and no training data may use them; ask for them explicitly.
* a comma-separated list of built-in names (``duck,lego``), random ids (``random_042``) or
  URDF paths relative to ``pybullet_data`` (``random_urdfs/950/950.urdf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spatialwm.errors import InputError

__all__ = [
    "BUILTIN_ASSETS",
    "HELDOUT_IDS",
    "POOL_NAMES",
    "TRAIN_RANDOM_IDS",
    "Asset",
    "ObjectPool",
    "random_asset",
    "resolve_pool",
]


@dataclass(frozen=True)
class Asset:
    """A URDF from ``pybullet_data`` and the global scale the generator loads it with."""

    name: str
    urdf: str  # relative to pybullet_data.getDataPath()
    scale: float = 1.0


#: Textured single-link objects shipped with pybullet (sizes after scaling: 5-12 cm).
BUILTIN_ASSETS: tuple[Asset, ...] = (
    Asset("duck", "duck_vhacd.urdf", 1.0),
    Asset("lego", "lego/lego.urdf", 2.0),
    Asset("teddy", "teddy_vhacd.urdf", 1.0),
    Asset("sphere", "sphere_small.urdf", 1.0),
    Asset("cube", "cube_small.urdf", 1.2),
    Asset("jenga", "jenga/jenga.urdf", 0.8),
    Asset("mug", "objects/mug.urdf", 0.8),
    Asset("domino", "domino/domino.urdf", 1.6),
)
#: ``random_urdfs`` ids the presets may use.
TRAIN_RANDOM_IDS: range = range(0, 900)
#: ``random_urdfs`` ids reserved for held-out evaluation (never in a default pool).
HELDOUT_IDS: range = range(900, 1000)
POOL_NAMES = ("default", "builtin", "random", "heldout")


def random_asset(i: int) -> Asset:
    """The ``random_urdfs/NNN`` asset ``i`` (0..999)."""
    if not 0 <= i <= 999:
        raise InputError(f"random_urdfs id must be in 0..999, got {i}")
    return Asset(f"random_{i:03d}", f"random_urdfs/{i:03d}/{i:03d}.urdf", 1.0)


@dataclass(frozen=True)
class ObjectPool:
    """A named set of assets. ``groups`` are drawn from with equal probability, then an asset
    uniformly within the group; a scene never holds the same asset twice."""

    name: str
    groups: tuple[tuple[Asset, ...], ...]

    @property
    def size(self) -> int:
        return sum(len(g) for g in self.groups)

    def sample(self, rng: np.random.Generator, k: int) -> list[Asset]:
        """``k`` distinct assets."""
        if k > self.size:
            raise InputError(f"--objects {k}: pool {self.name!r} holds only {self.size} assets")
        left = [list(g) for g in self.groups]
        out: list[Asset] = []
        while len(out) < k:
            nonempty = [g for g in left if g]
            group = nonempty[int(rng.integers(len(nonempty)))]
            out.append(group.pop(int(rng.integers(len(group)))))
        return out


def _builtin(name: str) -> Asset | None:
    return next((a for a in BUILTIN_ASSETS if a.name == name), None)


def _parse_item(item: str) -> Asset:
    a = _builtin(item)
    if a is not None:
        return a
    if item.startswith("random_") and item[7:].isdigit():
        return random_asset(int(item[7:]))
    if item.endswith(".urdf"):
        parts = item.split("/")
        if len(parts) == 3 and parts[0] == "random_urdfs" and parts[1].isdigit():
            return random_asset(int(parts[1]))
        stem = parts[-1][: -len(".urdf")]
        return Asset(stem, item, 1.0)
    known = ", ".join(a.name for a in BUILTIN_ASSETS)
    raise InputError(
        f"--pool: unknown asset {item!r} (pools: {', '.join(POOL_NAMES)}; built-in objects: "
        f"{known}; random_NNN; or a .urdf path inside pybullet_data)"
    )


def resolve_pool(spec: str | Sequence[str]) -> ObjectPool:
    """A pool by name (``default``, ``builtin``, ``random``, ``heldout``) or an explicit list
    (comma-separated string or sequence) of assets. Raises ``InputError`` for unknown names."""
    if isinstance(spec, str) and spec in POOL_NAMES:
        train_random = tuple(random_asset(i) for i in TRAIN_RANDOM_IDS)
        if spec == "default":
            return ObjectPool(spec, (BUILTIN_ASSETS, train_random))
        if spec == "builtin":
            return ObjectPool(spec, (BUILTIN_ASSETS,))
        if spec == "random":
            return ObjectPool(spec, (train_random,))
        return ObjectPool(spec, (tuple(random_asset(i) for i in HELDOUT_IDS),))
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [s for s in items if s]
    if not items:
        raise InputError("--pool: empty asset list")
    assets = tuple(dict.fromkeys(_parse_item(s) for s in items))
    return ObjectPool(",".join(items), (assets,))
