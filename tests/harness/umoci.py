"""umoci, the independent unpacker: an OCI layout written by hand (not by ocimodel), its
``umoci unpack``, and a folder read back as a comparable tree."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections import defaultdict
from pathlib import Path

import attrs

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _installed() -> None:
    assert shutil.which("umoci"), "umoci is not on PATH: run scripts/install-system-deps"


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    folder = root / "blobs" / "sha256"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / digest).write_bytes(data)
    return {"size": len(data), "digest": f"sha256:{digest}"}


def oci_layout(root: Path, layer_tars: list[bytes], tag: str = "latest") -> str:
    """An OCI image layout at ``root`` holding one linux/amd64 image of ``layer_tars`` (base
    first, gzip-compressed) tagged ``tag``; returns umoci's ``root:tag`` name of it."""
    diff_ids = [f"sha256:{hashlib.sha256(data).hexdigest()}" for data in layer_tars]
    layers = [{"mediaType": OCI_LAYER, **_blob(root, gzip.compress(data, 1, mtime=0))} for data in layer_tars]
    config = {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(root, json.dumps(config).encode())},
        "layers": layers,
    }
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(root, json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]}
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return f"{root}:{tag}"


def unpack(image: str, bundle: Path) -> Path:
    """``umoci unpack`` of ``image`` (``layout:tag``) into ``bundle``; returns its rootfs.
    Raises :class:`subprocess.CalledProcessError` (with umoci's stderr) when umoci refuses."""
    _installed()
    subprocess.run(["umoci", "unpack", "--image", image, str(bundle)], check=True, capture_output=True, text=True)
    return bundle / "rootfs"


@attrs.frozen
class Tree:
    """A folder as the layer rules see it: each path's type and what matters of it, and the groups
    of paths that are one inode (hard links)."""

    entries: dict[str, tuple[object, ...]]
    links: frozenset[frozenset[str]]


def read_tree(root: Path) -> Tree:
    """``root``'s contents: ``("dir", mode)``, ``("file", mode, bytes)`` or ``("symlink", target)``
    per path relative to ``root`` (``root`` itself left out)."""
    entries: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, set[str]] = defaultdict(set)
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries[relative] = ("symlink", str(path.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                entries[relative] = ("dir", stat.S_IMODE(info.st_mode))
                continue
            else:
                entries[relative] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
            inodes[info.st_ino].add(relative)
    return Tree(entries, frozenset(frozenset(group) for group in inodes.values() if len(group) > 1))
