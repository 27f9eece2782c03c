"""How each tool does each operation: the command lines the peer benchmark runs.

Every operation is a whole process (interpreter start-up and imports included), because that is
what a user waits for; but for ``ocimodel-lib-warm``, which times only the library's operation in
a process that has imported ocimodel (its script prints the figures). The Python peers are driven
by short scripts written the way their documentation shows: python-dxf's ``push_blob(filename)``
/ ``pull_blob(digest)``, oras-py's ``upload_blob`` / ``download_blob`` / ``upload_manifest``.
``None`` means the tool cannot do it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

TOOLS = ("ocimodel", "ocimodel-lib", "ocimodel-lib-warm", "skopeo", "python-dxf", "oras-py", "stdlib-floor")
OPERATIONS = ("push-cold", "push-warm", "pull-oci", "pull-tarball", "copy", "build-layer", "start-up")


@attrs.frozen
class Job:
    """One operation to time: what is pushed or pulled, and where."""

    layout: Path  # the fixture as an OCI layout, tagged ``bench`` (a plain folder for build-layer)
    reference: str  # host/repository:tag on the registry
    output: Path  # where a pull writes; a new path for every run
    target: str  # where a copy goes: host/repository:tag


Command = Callable[[Job], Sequence[str] | None]

_MANIFESTS = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
)

# Walks an OCI layout from its ``bench`` entry: children (blobs, then manifests) before parents.
_WALK = r"""
import json, sys
from pathlib import Path
layout = Path(sys.argv[1])
def blob(digest):
    return layout / "blobs" / digest.replace(":", "/")
def walk(descriptor):
    data = json.loads(blob(descriptor["digest"]).read_bytes())
    if "manifests" in data:
        for child in data["manifests"]:
            yield from walk(child)
    else:
        for item in [data["config"], *data["layers"]]:
            yield "blob", item
    yield "manifest", descriptor
top = json.loads((layout / "index.json").read_text())["manifests"][0]
host, _, rest = sys.argv[2].partition("/")
repository, _, tag = rest.rpartition(":")
"""

_DXF_PUSH = (
    _WALK
    + r"""
from dxf import DXF
client = DXF(host, repository, insecure=True)
for kind, descriptor in walk(top):
    if kind == "blob":
        client.push_blob(str(blob(descriptor["digest"])))
    else:
        alias = tag if descriptor is top else descriptor["digest"]
        client.set_manifest(alias, blob(descriptor["digest"]).read_text())
"""
)

_ORAS_PUSH = (
    _WALK
    + r"""
import oras.provider
registry = oras.provider.Registry(hostname=host, insecure=True)
for kind, descriptor in walk(top):
    alias = tag if descriptor is top else descriptor["digest"]
    container = registry.get_container(f"{host}/{repository}:{alias}")
    if kind == "blob":
        if not registry.blob_exists(descriptor, container):
            registry.upload_blob(str(blob(descriptor["digest"])), container, descriptor)
    else:
        registry.upload_manifest(json.loads(blob(descriptor["digest"]).read_bytes()), container)
"""
)

_PULL_HEAD = r"""
import hashlib, json, sys
from pathlib import Path
host, _, rest = sys.argv[1].partition("/")
repository, _, tag = rest.rpartition(":")
out = Path(sys.argv[2])
(out / "blobs" / "sha256").mkdir(parents=True)
(out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
def store(digest, chunks, check=True):
    # check=False where the tool verifies what it hands over itself (python-dxf's pull_blob does)
    path = out / "blobs" / digest.replace(":", "/")
    hasher = hashlib.sha256()
    with open(path, "wb") as file:
        for chunk in chunks:
            if check:
                hasher.update(chunk)
            file.write(chunk)
    assert not check or "sha256:" + hasher.hexdigest() == digest, digest
"""

_DXF_PULL = (
    _PULL_HEAD
    + r"""
from dxf import DXF
client = DXF(host, repository, insecure=True)
raw = client.get_manifest(tag)
manifest = json.loads(raw)
digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
store(digest, [raw.encode()])
for item in [manifest["config"], *manifest["layers"]]:
    store(item["digest"], client.pull_blob(item["digest"], chunk_size=1 << 20), check=False)
top = {"mediaType": manifest["mediaType"], "digest": digest, "size": len(raw.encode()),
       "annotations": {"org.opencontainers.image.ref.name": tag}}
(out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
"""
)

_ORAS_PULL = (
    _PULL_HEAD
    + r"""
import oras.provider
registry = oras.provider.Registry(hostname=host, insecure=True)
container = registry.get_container(sys.argv[1])
manifest = registry.get_manifest(container)
raw = json.dumps(manifest).encode()
digest = "sha256:" + hashlib.sha256(raw).hexdigest()
store(digest, [raw])
for item in [manifest["config"], *manifest["layers"]]:
    registry.download_blob(container, item["digest"], str(out / "blobs" / item["digest"].replace(":", "/")))
top = {"mediaType": manifest["mediaType"], "digest": digest, "size": len(raw),
       "annotations": {"org.opencontainers.image.ref.name": tag}}
(out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
"""
)

# Not a peer: the least any Python process can do to pull an image into a folder (standard
# library only, every blob in its own thread, 1 MiB reads into one buffer, sha256, a write). What
# ocimodel costs above it is its own; what this costs is Python's and the machine's.
_FLOOR_PULL = (
    _PULL_HEAD
    + r"""
import http.client, threading
def get(path, accept=""):
    connection = http.client.HTTPConnection(host)
    connection.request("GET", f"/v2/{repository}/{path}", headers={"Accept": accept} if accept else {})
    return connection.getresponse()
raw = get(f"manifests/{tag}", "application/vnd.oci.image.manifest.v1+json").read()
manifest = json.loads(raw)
digest = "sha256:" + hashlib.sha256(raw).hexdigest()
store(digest, [raw])
def fetch(item):
    response, buffer = get(f"blobs/{item['digest']}"), memoryview(bytearray(1 << 20))
    def pieces():
        while count := response.readinto(buffer):
            yield buffer[:count]
    store(item["digest"], pieces())
threads = [threading.Thread(target=fetch, args=(item,)) for item in [manifest["config"], *manifest["layers"]]]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
top = {"mediaType": manifest["mediaType"], "digest": digest, "size": len(raw),
       "annotations": {"org.opencontainers.image.ref.name": tag}}
(out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
"""
)

# The library's operations, each the body of ``operation()``: what a program using ocimodel
# writes. Each operation makes its own session (a copy shares one between its read and its
# write), so nothing is reused between runs.
_LIB_PUSH = r"""
found = layout.Layout(sys.argv[1]).image_index()
entry = found.index_manifest().manifests[0]
child = found.image_index(entry.digest) if entry.media_type.is_index() else found.image(entry.digest)
(remote.write_index if entry.media_type.is_index() else remote.write)(sys.argv[2], child)
"""

# Pulls every blob ``jobs`` at a time (remote.pull), then names the entry, as ``ocimodel pull --format oci``.
_LIB_PULL = r"""
found = remote.get(sys.argv[1])
target = found.image_index() if found.media_type.is_index() else found.image()
place = layout.Layout(sys.argv[2])
remote.pull(target, place)
place.append_descriptor(attrs.evolve(target.descriptor(), annotations={layout.REF_NAME: "bench"}))
"""

# Within one registry: the writer mounts every blob from the source repository.
_LIB_COPY = r"""
session = remote.Session()
found = remote.get(sys.argv[1], session=session)
remote.write(sys.argv[2], found.image_index() if found.media_type.is_index() else found.image(), session=session)
"""

_LIB_HEAD = r"""
import sys
import attrs
from ocimodel import layout, remote
"""

#: What the warm library row's child prints before its own figures (``[wall s, cpu s]``).
WARM_MARK = "ocimodel-lib-warm:"

# The same operations in a process that has imported ocimodel already: every module of the
# packages the operations use (loaded lazily or not) is imported first, and only ``operation()``
# is timed, its wall time and the CPU of all the process's threads (getrusage), printed after
# WARM_MARK.
_WARM_HEAD = (
    _LIB_HEAD
    + r"""
import importlib, json, pkgutil, resource, time
for name in ("ocimodel.remote", "ocimodel.transport", "ocimodel.authn"):
    for module in pkgutil.iter_modules(importlib.import_module(name).__path__, name + "."):
        importlib.import_module(module.name)
"""
)

_WARM_TAIL = r"""
usage, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
operation()
seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
print(WARM_MARK, json.dumps([seconds, cpu]), flush=True)
"""


def _lib(body: str) -> str:
    """A whole-process library script: imports, then ``body``."""
    return _LIB_HEAD + body


def _warm(body: str) -> str:
    """A warm-process library script: imports, then ``body`` timed alone."""
    indented = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return f"{_WARM_HEAD}WARM_MARK = {WARM_MARK!r}\ndef operation():\n{indented}{_WARM_TAIL}"


# A gzip'd layer from a folder: a reproducible tar, compressed and hashed in one pass.
_LIB_BUILD = r"""
import sys
from ocimodel import layer
print(layer.from_directory(sys.argv[1]).digest())
"""


def _is_index(layout: Path) -> bool:
    import json

    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    return bool(entry["mediaType"] == _MANIFESTS[0])


def _ocimodel(*arguments: str) -> list[str]:
    return [str(Path(sys.executable).with_name("ocimodel")), "--insecure", *arguments]


def _python(script: str, *arguments: str) -> list[str]:
    return [sys.executable, "-c", script, *arguments]


def _skopeo(source: str, destination: str, *, index: bool) -> list[str]:
    flags = ["--src-tls-verify=false", "--dest-tls-verify=false", "--quiet"]
    return ["skopeo", "copy", *flags, *(["--all"] if index else []), source, destination]


def _ocimodel_push(job: Job) -> list[str]:
    return _ocimodel("push", *(["--index"] if _is_index(job.layout) else []), str(job.layout), job.reference)


def _skopeo_push(job: Job) -> list[str]:
    return _skopeo(f"oci:{job.layout}:bench", f"docker://{job.reference}", index=_is_index(job.layout))


def _skopeo_pull(job: Job) -> list[str]:
    return _skopeo(f"docker://{job.reference}", f"oci:{job.output}:bench", index=_is_index(job.layout))


def _skopeo_tarball(job: Job) -> list[str] | None:
    if _is_index(job.layout):
        return None
    return _skopeo(f"docker://{job.reference}", f"docker-archive:{job.output}:bench:latest", index=False)


def _single_image_only(build: Callable[[Job], list[str]]) -> Command:
    return lambda job: None if _is_index(job.layout) else build(job)


# Start-up: the least a command costs. ``ocimodel version``; the library's import of what a pull
# and a push need; skopeo's version; the import of each Python peer's client.
_LIB_IMPORT = "import ocimodel.remote, ocimodel.layout"

COMMANDS: dict[tuple[str, str], Command] = {
    ("ocimodel", "start-up"): lambda job: [str(Path(sys.executable).with_name("ocimodel")), "version"],
    ("ocimodel-lib", "start-up"): lambda job: _python(_LIB_IMPORT),
    ("skopeo", "start-up"): lambda job: ["skopeo", "--version"],
    ("python-dxf", "start-up"): lambda job: _python("import dxf"),
    ("oras-py", "start-up"): lambda job: _python("import oras.client"),
    ("stdlib-floor", "start-up"): lambda job: _python("pass"),
    ("stdlib-floor", "pull-oci"): _single_image_only(lambda job: _python(_FLOOR_PULL, job.reference, str(job.output))),
    ("ocimodel", "push-cold"): _ocimodel_push,
    ("ocimodel", "push-warm"): _ocimodel_push,
    ("ocimodel", "pull-oci"): lambda job: _ocimodel("pull", "--format", "oci", job.reference, str(job.output)),
    ("ocimodel", "pull-tarball"): lambda job: _ocimodel("pull", job.reference, str(job.output)),
    ("ocimodel", "copy"): lambda job: _ocimodel("copy", job.reference, job.target),
    ("ocimodel-lib", "push-cold"): lambda job: _python(_lib(_LIB_PUSH), str(job.layout), job.reference),
    ("ocimodel-lib", "push-warm"): lambda job: _python(_lib(_LIB_PUSH), str(job.layout), job.reference),
    ("ocimodel-lib", "pull-oci"): lambda job: _python(_lib(_LIB_PULL), job.reference, str(job.output)),
    ("ocimodel-lib", "copy"): lambda job: _python(_lib(_LIB_COPY), job.reference, job.target),
    ("ocimodel-lib-warm", "push-cold"): lambda job: _python(_warm(_LIB_PUSH), str(job.layout), job.reference),
    ("ocimodel-lib-warm", "push-warm"): lambda job: _python(_warm(_LIB_PUSH), str(job.layout), job.reference),
    ("ocimodel-lib-warm", "pull-oci"): lambda job: _python(_warm(_LIB_PULL), job.reference, str(job.output)),
    ("ocimodel-lib-warm", "copy"): lambda job: _python(_warm(_LIB_COPY), job.reference, job.target),
    ("ocimodel-lib", "build-layer"): lambda job: _python(_LIB_BUILD, str(job.layout)),
    ("skopeo", "push-cold"): _skopeo_push,
    ("skopeo", "push-warm"): _skopeo_push,
    ("skopeo", "pull-oci"): _skopeo_pull,
    ("skopeo", "pull-tarball"): _skopeo_tarball,
    ("skopeo", "copy"): lambda job: _skopeo(
        f"docker://{job.reference}", f"docker://{job.target}", index=_is_index(job.layout)
    ),
    ("python-dxf", "push-cold"): lambda job: _python(_DXF_PUSH, str(job.layout), job.reference),
    ("python-dxf", "push-warm"): lambda job: _python(_DXF_PUSH, str(job.layout), job.reference),
    ("python-dxf", "pull-oci"): _single_image_only(lambda job: _python(_DXF_PULL, job.reference, str(job.output))),
    # oras-py validates every manifest it uploads against the image-manifest schema: no indexes
    ("oras-py", "push-cold"): _single_image_only(lambda job: _python(_ORAS_PUSH, str(job.layout), job.reference)),
    ("oras-py", "push-warm"): _single_image_only(lambda job: _python(_ORAS_PUSH, str(job.layout), job.reference)),
    ("oras-py", "pull-oci"): _single_image_only(lambda job: _python(_ORAS_PULL, job.reference, str(job.output))),
}


def command(tool: str, operation: str, job: Job) -> Sequence[str] | None:
    """The command line for ``tool`` doing ``operation``, or ``None`` where it has no way to."""
    build = COMMANDS.get((tool, operation))
    return None if build is None else build(job)
