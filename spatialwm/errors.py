"""User-facing error types.

Every error caused by bad input (a file, a field, a tensor argument) derives from
:class:`SpatialWMError`; its message names the file or field at fault. The CLI prints such
errors as one line with no traceback; library users can catch them by type.
"""

from __future__ import annotations


class SpatialWMError(Exception):
    """Base class of errors caused by the caller's input or environment."""


class InputError(SpatialWMError, ValueError):
    """A tensor or argument passed to a public function is malformed (shape, dtype, device,
    non-finite values)."""


class DatasetError(SpatialWMError):
    """A dataset file or field is missing, unreadable or inconsistent. The message names the
    file and the field."""


class BuildError(SpatialWMError, RuntimeError):
    """The native extension could not be built (missing compiler, headers...). The message
    says what to install."""
