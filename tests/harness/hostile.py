"""Hostile files for the hostile tests: what an attacker can leave where ocimodel reads (FIFOs,
links to devices, sparse files claiming gigabytes, JSON nested without end, indexes of indexes),
and how the confined child that reads them is expected to end (:func:`refused`)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from ocimodel import random
from ocimodel.layout import Layout
from tests.harness import confined
from tests.harness.confined import Outcome

#: What a sparse file claims: more than the memory cap many times over, and more than any cap.
HUGE = 3 << 30

#: The kinds of non-file a hostile path can be, made by :func:`plant`.
KINDS = ("fifo", "dev-zero", "directory")


def deep_json(depth: int = 30_000) -> bytes:
    """An array nested ``depth`` deep inside an object: valid JSON, 2 bytes a level."""
    return b'{"schemaVersion":2,"x":' + b"[" * depth + b"]" * depth + b"}"


def plant(path: Path, kind: str) -> None:
    """Replace whatever is at ``path`` with a FIFO, a symbolic link to ``/dev/zero``, a directory,
    or a sparse regular file of :data:`HUGE` bytes (``"huge"``)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as out:
            out.truncate(HUGE)
    else:
        raise ValueError(kind)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_layout(folder: Path) -> tuple[Layout, dict[str, str]]:
    """A layout with one small image; the digests of its manifest, config and layer, by name."""
    place = Layout(folder)
    image = random.image(64, 1, seed=1)
    place.append_image(image)
    return place, {
        "manifest": str(image.digest()),
        "config": str(image.config_name()),
        "layer": str(image.layers()[0].digest()),
    }


def blob(place: Layout, data: bytes) -> dict[str, object]:
    """Store ``data`` as a blob of ``place`` (as it is: no check); its descriptor's digest and size."""
    digest = sha256(data)
    path = place.path / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def index_json(place: Layout, entries: Iterable[dict[str, object]]) -> None:
    document = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list(entries)}
    (place.path / "index.json").write_bytes(json.dumps(document).encode())
    (place.path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')


INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def nested_indexes(place: Layout, depth: int, *, width: int = 1) -> dict[str, object]:
    """Indexes nested ``depth`` deep around one small image, each naming the next ``width``
    times (``width`` 2: a diamond at every level, 2**depth paths through few blobs); the
    outermost index's descriptor. The blobs are written straight into ``place``."""
    image = random.image(64, 1, seed=2)
    Layout(place.path).append_image(image)
    child: dict[str, object] = {"mediaType": str(image.media_type()), "digest": str(image.digest())}
    child["size"] = image.size()
    for level in range(depth):
        annotated = [{**child, "annotations": {"n": f"{level}.{copy}"}} for copy in range(width)]
        document = {"schemaVersion": 2, "mediaType": INDEX, "manifests": annotated}
        child = {"mediaType": INDEX, **blob(place, json.dumps(document).encode())}
    return child


def sparse_tar(path: Path, members: dict[str, bytes | int]) -> None:
    """A tar whose members are bytes, or (an int) that many bytes of a hole: a file that claims
    gigabytes and takes none."""
    with path.open("wb") as out:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = content if isinstance(content, int) else len(content)
            out.write(info.tobuf(tarfile.GNU_FORMAT))
            if isinstance(content, int):
                out.seek(content, io.SEEK_CUR)
            else:
                out.write(content)
            out.seek(-info.size % tarfile.BLOCKSIZE, io.SEEK_CUR)
        out.write(bytes(2 * tarfile.BLOCKSIZE))


def docker_manifest(config: str, layers: Iterable[str] = ()) -> bytes:
    return json.dumps([{"Config": config, "RepoTags": ["hostile:1"], "Layers": list(layers)}]).encode()


def _attempt(name: str, action: str) -> str:
    body = textwrap.indent(textwrap.dedent(action).strip(), "    ")
    return (
        "try:\n"
        f"{body}\n"
        "except (errors.OCIError, OSError) as error:\n"
        f"    print({name!r}, f'{{type(error).__name__}}: {{error}}', sep='\\t')\n"
        "else:\n"
        f"    print({name!r}, 'ok', sep='\\t')\n"
    )


def python(action: str) -> str:
    """Child code that runs ``action`` (statements) and says how it ended: ``ok``, or the error's
    class and message on stdout with exit status 3 (an OCIError or OSError: a refusal)."""
    body = textwrap.indent(textwrap.dedent(action).strip(), "    ")
    return (
        "import sys\n"
        "from ocimodel import errors\n"
        "try:\n"
        f"{body}\n"
        "except (errors.OCIError, OSError) as error:\n"
        "    print(f'{type(error).__name__}: {error}')\n"
        "    sys.exit(3)\n"
        "print('ok')\n"
    )


def each(cases: Mapping[str, str], *, prelude: str = "", env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Run each case's statements in turn in one confined child (after ``prelude``), and give how
    each ended: ``"ok"``, or ``"<error class>: <message>"`` for an OCIError or OSError. Anything
    else (a ``RecursionError``, a ``MemoryError``), the deadline or the memory cap fails the test."""
    code = "from ocimodel import errors\n" + textwrap.dedent(prelude).strip() + "\n"
    code += "".join(_attempt(name, action) for name, action in cases.items())
    outcome = confined.python(code, env=env)
    _ended_well(outcome)
    assert outcome.returncode == 0, (outcome.returncode, outcome.stdout, outcome.stderr[-2000:])
    ended = dict(line.split("\t", 1) for line in outcome.stdout.splitlines())
    assert list(ended) == list(cases), ended
    return ended


def refusal(line: str, kind: str, *named: str | Path) -> str:
    """Assert ``line`` (from :func:`each`) is a refusal with the error class named ``kind``, naming
    each of ``named``; the line."""
    assert line.startswith(f"{kind}: "), line
    for name in named:
        assert str(name) in line, (name, line)
    return line


def _ended_well(outcome: Outcome) -> None:
    assert not outcome.timed_out, "the child was still running at the deadline"
    assert not outcome.out_of_memory, outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]


def refused(outcome: Outcome, kind: str, *named: str | Path) -> str:
    """Assert the child (:func:`python`) ended in time, within its memory, by refusing with the
    error class named ``kind`` in one line that names each of ``named``; the line."""
    _ended_well(outcome)
    assert outcome.returncode == 3, (outcome.returncode, outcome.stdout, outcome.stderr[-2000:])
    (line,) = outcome.stdout.splitlines()
    return refusal(line, kind, *named)


def refused_cli(outcome: Outcome, start: str, *named: str | Path) -> str:
    """Assert the command ended in time, within its memory, with exit status 1 and one line on
    stderr that starts ``ocimodel: <start>`` and names each of ``named``; the line."""
    _ended_well(outcome)
    assert outcome.returncode == 1, (outcome.returncode, outcome.stdout, outcome.stderr[-2000:])
    (line,) = outcome.lines
    assert line.startswith(f"ocimodel: {start}"), line
    for name in named:
        assert str(name) in line, (name, line)
    return line
