"""Writing files so that a failure never leaves a half-written one: a temporary name, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[tuple[object, Path]]:
    """Yield an open binary file beside ``path``; on success it is synced and renamed to ``path``,
    on failure removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out, Path(temporary)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
        raise


def atomic_write(path: Path, chunks: Iterable[bytes | memoryview] | bytes) -> None:
    """Write ``chunks`` (or bytes) to ``path`` atomically."""
    with atomic_file(path) as (out, _):
        for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
            out.write(chunk)  # type: ignore[attr-defined]
