"""The keyword edits of :func:`ocimodel.mutate.config` and :func:`ocimodel.mutate.config_file`:
the fields of :class:`~ocimodel.Config` and :class:`~ocimodel.ConfigFile`, typed for checkers and
editors, and checked when the edit is asked for (not later, when the image is first read)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict

import attrs

from ocimodel._options import check_options
from ocimodel.configfile import Config, ConfigFile, HealthConfig, History, RootFS


class ConfigChanges(TypedDict, total=False):
    """Fields of :class:`~ocimodel.Config` (the run-time part of an image config) to set."""

    attach_stderr: bool
    attach_stdin: bool
    attach_stdout: bool
    cmd: Iterable[str]
    healthcheck: HealthConfig | None
    domainname: str | None
    entrypoint: Iterable[str]
    env: Iterable[str]
    hostname: str | None
    image: str | None
    labels: Mapping[str, str] | None
    on_build: Iterable[str]
    open_stdin: bool
    stdin_once: bool
    tty: bool
    user: str | None
    volumes: Iterable[str]
    working_dir: str | None
    exposed_ports: Iterable[str]
    args_escaped: bool
    network_disabled: bool
    mac_address: str | None
    stop_signal: str | None
    shell: Iterable[str]


class ConfigFileChanges(TypedDict, total=False):
    """Fields of :class:`~ocimodel.ConfigFile` (the whole image config) to set."""

    architecture: str
    author: str | None
    container: str | None
    created: datetime | None
    docker_version: str | None
    history: Iterable[History]
    os: str
    rootfs: RootFS
    config: Config
    os_version: str | None
    variant: str | None
    os_features: Iterable[str]


def checked(cls: type[Config] | type[ConfigFile], changes: Mapping[str, Any], what: str) -> None:
    """Raise now, naming the field, for a keyword that is not a field of ``cls``
    (:class:`TypeError`) or a value its converter or validator refuses (``cmd="sh"``: a lone
    string is not a list of arguments)."""
    check_options(changes, ConfigChanges if cls is Config else ConfigFileChanges, what)
    blank = cls()
    for name, value in changes.items():
        try:
            attrs.evolve(blank, **{name: value})
        except TypeError as error:
            raise TypeError(f"{what}: {name}={value!r}: {error}") from None
        except ValueError as error:
            raise ValueError(f"{what}: {name}={value!r}: {error}") from None
