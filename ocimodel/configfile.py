"""The image configuration (image-spec ``config.md``), with Docker's extra fields.

Keys inside ``config`` are Docker-cased (``Cmd``, ``WorkingDir``, ``ExposedPorts``) as the spec
inherited them; the Python fields are their snake_case spellings. Docker's ``{"80/tcp": {}}``
sets (``ExposedPorts``, ``Volumes``) are frozensets of their keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import ClassVar

import attrs

from ocimodel import _convert
from ocimodel._frozen import FrozenMap
from ocimodel.codec import Document, Parsed, json_key
from ocimodel.hashing import Hash
from ocimodel.platform import Platform

__all__ = ["Config", "ConfigFile", "HealthConfig", "History", "RootFS"]


def _hashes(items: Iterable[Hash | str]) -> tuple[Hash, ...]:
    return tuple(_convert.digest(item) for item in items)


def _history(items: Iterable[History]) -> tuple[History, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class HealthConfig(Parsed):
    """Docker's ``Healthcheck``; durations are integers in nanoseconds, as Docker writes them."""

    json_kind: ClassVar[str] = "healthcheck"

    test: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("Test"))
    interval: int = attrs.field(default=0, metadata=json_key("Interval"))
    timeout: int = attrs.field(default=0, metadata=json_key("Timeout"))
    start_period: int = attrs.field(default=0, metadata=json_key("StartPeriod"))
    start_interval: int = attrs.field(default=0, metadata=json_key("StartInterval"))
    retries: int = attrs.field(default=0, metadata=json_key("Retries"))


@attrs.frozen(kw_only=True)
class Config(Parsed):
    """How to run the image: the ``config`` object of an image configuration."""

    json_kind: ClassVar[str] = "container config"

    attach_stderr: bool = attrs.field(default=False, metadata=json_key("AttachStderr"))
    attach_stdin: bool = attrs.field(default=False, metadata=json_key("AttachStdin"))
    attach_stdout: bool = attrs.field(default=False, metadata=json_key("AttachStdout"))
    cmd: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("Cmd"))
    healthcheck: HealthConfig | None = attrs.field(default=None, metadata=json_key("Healthcheck"))
    domainname: str | None = attrs.field(default=None, metadata=json_key("Domainname"))
    entrypoint: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("Entrypoint"))
    env: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("Env"))
    hostname: str | None = attrs.field(default=None, metadata=json_key("Hostname"))
    image: str | None = attrs.field(default=None, metadata=json_key("Image"))
    labels: Mapping[str, str] = attrs.field(
        factory=FrozenMap, converter=_convert.string_map, metadata=json_key("Labels")
    )
    on_build: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("OnBuild"))
    open_stdin: bool = attrs.field(default=False, metadata=json_key("OpenStdin"))
    stdin_once: bool = attrs.field(default=False, metadata=json_key("StdinOnce"))
    tty: bool = attrs.field(default=False, metadata=json_key("Tty"))
    user: str | None = attrs.field(default=None, metadata=json_key("User"))
    volumes: frozenset[str] = attrs.field(factory=frozenset, converter=_convert.names, metadata=json_key("Volumes"))
    working_dir: str | None = attrs.field(default=None, metadata=json_key("WorkingDir"))
    exposed_ports: frozenset[str] = attrs.field(
        factory=frozenset, converter=_convert.names, metadata=json_key("ExposedPorts")
    )
    args_escaped: bool = attrs.field(default=False, metadata=json_key("ArgsEscaped"))
    network_disabled: bool = attrs.field(default=False, metadata=json_key("NetworkDisabled"))
    mac_address: str | None = attrs.field(default=None, metadata=json_key("MacAddress"))
    stop_signal: str | None = attrs.field(default=None, metadata=json_key("StopSignal"))
    shell: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("Shell"))


@attrs.frozen(kw_only=True)
class RootFS(Parsed):
    """The layer content addresses: ``diff_ids`` are digests of the *uncompressed* layers, base first."""

    json_kind: ClassVar[str] = "rootfs"

    type: str = attrs.field(default="layers", metadata=json_key("type", always=True))
    diff_ids: tuple[Hash, ...] = attrs.field(default=(), converter=_hashes, metadata=json_key("diff_ids", always=True))


@attrs.frozen(kw_only=True)
class History(Parsed):
    """One step of how the image was built; ``empty_layer`` steps added no layer."""

    json_kind: ClassVar[str] = "history entry"

    author: str | None = attrs.field(default=None, metadata=json_key("author"))
    created: datetime | None = attrs.field(default=None, metadata=json_key("created"))
    created_by: str | None = attrs.field(default=None, metadata=json_key("created_by"))
    comment: str | None = attrs.field(default=None, metadata=json_key("comment"))
    empty_layer: bool = attrs.field(default=False, metadata=json_key("empty_layer"))


@attrs.frozen(kw_only=True)
class ConfigFile(Document):
    """An image configuration: platform, run-time defaults, layer diff_ids and build history.

    Its digest is the image ID (``docker images --no-trunc``). Parse with :meth:`from_json`; the
    raw bytes are kept.
    """

    json_kind: ClassVar[str] = "image config"

    architecture: str = attrs.field(default="", metadata=json_key("architecture", always=True))
    author: str | None = attrs.field(default=None, metadata=json_key("author"))
    container: str | None = attrs.field(default=None, metadata=json_key("container"))
    created: datetime | None = attrs.field(default=None, metadata=json_key("created"))
    docker_version: str | None = attrs.field(default=None, metadata=json_key("docker_version"))
    history: tuple[History, ...] = attrs.field(default=(), converter=_history, metadata=json_key("history"))
    os: str = attrs.field(default="", metadata=json_key("os", always=True))
    rootfs: RootFS = attrs.field(factory=RootFS, metadata=json_key("rootfs", always=True))
    config: Config = attrs.field(factory=Config, metadata=json_key("config", always=True))
    os_version: str | None = attrs.field(default=None, metadata=json_key("os.version"))
    variant: str | None = attrs.field(default=None, metadata=json_key("variant"))
    os_features: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("os.features"))

    def platform(self) -> Platform | None:
        """The platform this image is for, or ``None`` if the config names none."""
        if not (self.os or self.architecture or self.os_version or self.variant or self.os_features):
            return None
        return Platform(
            architecture=self.architecture,
            os=self.os,
            os_version=self.os_version,
            os_features=self.os_features,
            variant=self.variant,
        )
