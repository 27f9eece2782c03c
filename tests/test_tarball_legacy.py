"""tarball.write_legacy: the classic docker save, as go-containerregistry's legacy/tarball writes it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from ocimodel import empty, layer, mutate, random, tarball, validate
from ocimodel.configfile import ConfigFile
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]


def test_history_goes_into_each_layers_json_and_the_run_config_into_the_top_one(tmp_path: Path) -> None:
    base = random.image(200, 2, seed=1)
    config = json.loads(base.raw_config_file())
    config["config"] = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
    config["history"] = [
        {"created": "2024-01-02T03:04:05Z", "created_by": "ADD one", "author": "me"},
        {"created_by": "ENV PATH=/bin", "empty_layer": True},  # no layer: not one of the layers' entries
        {"created_by": "ADD two", "comment": "second"},
    ]
    image = mutate.config_file(base, ConfigFile.from_json(json.dumps(config).encode()))
    path = tmp_path / "legacy.tar"
    tarball.write_legacy(path, image, tag="example.com/app:v1")
    members = _members(path)
    (entry,) = json.loads(members["manifest.json"])
    first, top = (json.loads(members[name.replace("layer.tar", "json")]) for name in entry["Layers"])
    assert first["container_config"] == {"Cmd": ["ADD one"]}
    assert (first["created"], first["author"]) == ("2024-01-02T03:04:05Z", "me")
    assert "parent" not in first
    assert top["parent"] == first["id"]
    assert (top["container_config"], top["comment"]) == ({"Cmd": ["ADD two"]}, "second")
    assert top["config"] == {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
    assert (top["architecture"], top["os"]) == (config["architecture"], config["os"])
    assert members[f"{first['id']}/VERSION"] == b"1.0"
    assert json.loads(members["repositories"]) == {"example.com/app": {"v1": top["id"]}}
    for name, diff_id in zip(entry["Layers"], image.config_file().rootfs.diff_ids, strict=True):
        assert Hash.sha256(members[name]) == diff_id  # uncompressed, as docker loads it
    read = tarball.image(path)
    assert read.raw_config_file() == image.raw_config_file()
    validate.image(read)


def test_a_history_that_does_not_say_which_step_made_which_layer_is_left_out(tmp_path: Path) -> None:
    image = mutate.append_layers(empty.image, random.layer(100, seed=2), random.layer(100, seed=3))
    config = json.loads(image.raw_config_file())
    config["history"] = [{"created_by": "only one"}]
    image = mutate.config_file(image, ConfigFile.from_json(json.dumps(config).encode()))
    tarball.write_legacy(tmp_path / "legacy.tar", image, tag="example.com/app:v1")
    members = _members(tmp_path / "legacy.tar")
    (entry,) = json.loads(members["manifest.json"])
    assert all("container_config" not in json.loads(members[n.replace("layer.tar", "json")]) for n in entry["Layers"])


def test_foreign_layers_keep_their_descriptor_and_digest_references_get_no_tag(tmp_path: Path) -> None:
    foreign = layer.from_files({"base": b"licensed"})
    image = mutate.append(
        empty.image,
        mutate.Addendum(foreign, media_type=MediaType.DOCKER_FOREIGN_LAYER, urls=["https://example.com/b"]),
    )
    tarball.write_legacy(tmp_path / "legacy.tar", {f"example.com/app@{image.digest()}": image})
    members = _members(tmp_path / "legacy.tar")
    (entry,) = json.loads(members["manifest.json"])
    assert entry["RepoTags"] == []
    assert json.loads(members["repositories"]) == {}
    (source,) = entry["LayerSources"].values()
    assert (source["mediaType"], source["urls"]) == (str(MediaType.DOCKER_FOREIGN_LAYER), ["https://example.com/b"])


def test_written_again_from_what_it_wrote_it_is_the_same(tmp_path: Path) -> None:
    image = random.image(300, 3, seed=4)
    tarball.write_legacy(tmp_path / "one.tar", image, tag="example.com/app:v1")
    tarball.write_legacy(tmp_path / "two.tar", tarball.image(tmp_path / "one.tar"), tag="example.com/app:v1")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
