"""The keyword edits of :func:`ocimodel.mutate.config` and :func:`ocimodel.mutate.config_file`:
the fields of :class:`~ocimodel.Config` and :class:`~ocimodel.ConfigFile`, typed for checkers and
editors, and checked when the edit is asked for (not later, when the image is first read)."""

from __future__ import annotations

import types
import typing
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
    fields = ConfigChanges if cls is Config else ConfigFileChanges
    check_options(changes, fields, what)
    hints = typing.get_type_hints(fields)
    blank = cls()
    for name, value in changes.items():
        try:
            made = getattr(attrs.evolve(blank, **{name: value}), name)
        except TypeError as error:
            raise TypeError(f"{what}: {name}={value!r}: {error}") from None
        except ValueError as error:
            raise ValueError(f"{what}: {name}={value!r}: {error}") from None
        if not _fits(made, hints[name]):  # what no converter turned into the field's type
            raise TypeError(f"{what}: {name}={value!r}: expected {_shown(hints[name])}")


def _fits(value: object, hint: Any) -> bool:
    """Whether ``value`` is of the type ``hint`` (the unions, containers and classes above)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, each) for each in arguments)
    if hint is type(None):
        return value is None
    if origin is None:
        return isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    if origin is Mapping or origin is dict:
        key, item = arguments
        return isinstance(value, Mapping) and all(_fits(k, key) and _fits(v, item) for k, v in value.items())
    if origin is Iterable or origin in (list, tuple, frozenset):
        return isinstance(value, (tuple, list, frozenset)) and all(_fits(each, arguments[0]) for each in value)
    return True


def _shown(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("collections.abc.", "").replace("typing.", "").replace("ocimodel.configfile.", "")
