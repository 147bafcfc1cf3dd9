"""Builds and loads the native CPU kernels in ``cuda_ext/`` on first use.

The build uses ``torch.utils.cpp_extension.load`` (ninja + the system C++ compiler) and is
cached by torch under ``$TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``), so
it runs once per machine and source change. Importing :mod:`spatialwm` never builds. A
build killed mid-way leaves torch's lock file behind, on which every later load would wait
for ever; one that has seen no progress for :data:`STALE_LOCK_S` is removed, with a warning.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import time
import warnings
from pathlib import Path
from types import ModuleType

from spatialwm.errors import BuildError

SOURCE_DIR = Path(__file__).resolve().parents[2] / "cuda_ext"
SOURCES = (
    "bindings.cpp", "project_cpu.cpp", "isect_cpu.cpp", "rasterize_cpu.cpp", "sh_cpu.cpp",
)  # fmt: skip
HEADERS = ("common.h", "rasterize.h", "vec.h")

# `-march` comes from SPATIALWM_CPU_ARCH (default "native": the build machine's own vector
# units; e.g. "x86-64-v3" for a build that any AVX2 machine can run).
CXX_FLAGS = ["-O3", "-std=c++17", "-fopenmp", "-fno-math-errno"]
if platform.machine().lower() in ("x86_64", "amd64"):
    CXX_FLAGS.append("-mprefer-vector-width=512")  # use all of AVX-512 where the CPU has it
LD_FLAGS = ["-fopenmp"]
# s: a build whose directory saw no write for this long is dead (one takes ~2 min on 2 cores)
STALE_LOCK_S = 600.0


def _check_toolchain() -> None:
    missing = [p for p in (*SOURCES, *HEADERS) if not (SOURCE_DIR / p).is_file()]
    if missing:
        raise BuildError(
            f"native rasterizer sources not found in {SOURCE_DIR} (missing {', '.join(missing)}); "
            "install spatialwm from a source checkout with `pip install -e .`"
        )
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        raise BuildError(
            f"no C++ compiler found (looked for `{cxx}`): the CPU rasterizer is compiled on first "
            "use. Install one, e.g. `sudo apt-get install g++` on Debian/Ubuntu, or set CXX."
        )
    if shutil.which("ninja") is None:
        from torch.utils.cpp_extension import is_ninja_available

        if not is_ninja_available():
            raise BuildError("ninja is missing: `pip install ninja` (it builds the CPU rasterizer)")


def _cpu_signature() -> bytes:
    """The CPU's feature flags: a `-march=native` build is only valid on the same kind of CPU."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.encode()
    except OSError:
        pass
    return platform.processor().encode()


def _build_name(arch: str) -> str:
    """Module name with a hash of the sources, flags and (for native builds) the CPU, so that
    two checkouts, versions or CPUs sharing a cache keep their own builds."""
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode())
        h.update((SOURCE_DIR / name).read_bytes())
    h.update(" ".join([*CXX_FLAGS, f"-march={arch}", *LD_FLAGS]).encode())
    if arch == "native":
        h.update(_cpu_signature())
    return f"spatialwm_native_{h.hexdigest()[:12]}"


def clear_stale_lock(
    build_dir: Path, *, idle: float = STALE_LOCK_S, now: float | None = None
) -> bool:
    """Remove torch's build ``lock`` in ``build_dir`` when nothing there changed for ``idle``
    seconds. A build killed mid-way leaves the lock behind, and every later ``load`` of the
    same build then waits for it, silently and for ever. Returns whether one was removed."""
    lock = build_dir / "lock"
    now = time.time() if now is None else now
    try:
        newest = max(p.stat().st_mtime for p in build_dir.iterdir())
        if not lock.exists() or now - newest < idle:
            return False
        lock.unlink()
    except (OSError, ValueError):  # gone meanwhile, or no such directory
        return False
    warnings.warn(
        f"removed a stale build lock {lock}: nothing was written there for {now - newest:.0f} s "
        "(a build killed mid-way)",
        stacklevel=2,
    )
    return True


def load_native(arch: str | None = None) -> ModuleType:
    """Return the compiled extension module, building it on the first call (then cached, in
    this process and on disk).

    Args:
        arch: the ``-march`` target; default ``$SPATIALWM_CPU_ARCH`` or ``"native"``.

    Raises:
        BuildError: the sources, a compiler or ninja are missing, or compilation failed.
    """
    return _load(arch or os.environ.get("SPATIALWM_CPU_ARCH") or "native")


@functools.cache
def _load(arch: str) -> ModuleType:
    _check_toolchain()
    from torch.utils.cpp_extension import load

    verbose = os.environ.get("SPATIALWM_BUILD_VERBOSE", "") not in ("", "0")
    name = _build_name(arch)
    try:  # torch's own helper (private): where it builds, and waits on the lock
        from torch.utils.cpp_extension import _get_build_directory

        clear_stale_lock(Path(_get_build_directory(name, verbose=False)))
    except ImportError:
        pass
    try:
        return load(
            name=name,
            sources=[str(SOURCE_DIR / s) for s in SOURCES],
            extra_cflags=[*CXX_FLAGS, f"-march={arch}"],
            extra_ldflags=LD_FLAGS,
            extra_include_paths=[str(SOURCE_DIR)],
            verbose=verbose,
        )
    except (RuntimeError, OSError, ImportError) as exc:
        raise BuildError(
            f"building the native CPU rasterizer from {SOURCE_DIR} failed: {exc}\n"
            "Set SPATIALWM_BUILD_VERBOSE=1 to see the compiler output."
        ) from exc
