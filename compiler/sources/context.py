"""What a source loader may need besides its own spec (:class:`SourceContext`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import Location
from ..writer import file_sha256


class SourceContext:
    """What a loader may need besides its own spec: display paths and parameters."""

    def __init__(
        self,
        root_display: Callable[[Any], str],
        params: Mapping[str, Any],
        fingerprints: Mapping[str, str],
        at: Callable[..., Location],
        files: Mapping[str, str] | None = None,
        *,
        digest: Callable[[Path], str] = file_sha256,
        lazy: bool = False,
    ) -> None:
        self.files = dict(files or {})
        #: a file's sha256 (remembered by its stat across builds: see FileDigests)
        self.digest = digest
        #: read lazily (a view) rather than into a table: one plain query reads it
        self.lazy = lazy
        self.display = root_display
        self.params = params
        self.fingerprints = fingerprints
        self.at = at
