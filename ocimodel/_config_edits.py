"""Edits of an image's run config as ``crane mutate`` and ``docker`` make them, and the flag values
they take, so the command line (and anyone editing a :class:`~ocimodel.configfile.Config`) gets
them right once: an environment variable set where it stands, lists written as crane's flags
take them (comma-separated, repeatable, CSV quoting), ``KEY=VALUE`` pairs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence

from ocimodel.errors import OCIError

__all__ = ["BadFlagValue", "csv_list", "key_values", "set_env"]


class BadFlagValue(OCIError, ValueError):
    """A flag's value is not of the form it takes (``KEY=VALUE``, a CSV list)."""


def _csv(value: str) -> list[str]:
    """One value as a CSV record, as Go's ``pflag`` reads a ``StringSlice``: commas separate,
    double quotes protect commas; an empty value is no item."""
    if not value:
        return []
    try:
        (record,) = list(csv.reader([value], strict=True))
    except (csv.Error, ValueError) as error:
        raise BadFlagValue(f"cannot read {value!r} as a comma-separated list: {error}") from None
    return record


def csv_list(values: Iterable[str]) -> list[str]:
    """The items of a repeatable, comma-separated flag (``--cmd sh,-c --cmd 'echo hi'``), in order:
    each value split as a CSV record, the records joined."""
    return [item for value in values for item in _csv(value)]


def key_values(values: Iterable[str], what: str, *, lists: bool = True) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a repeatable flag, later ones winning. With ``lists``, a value may
    hold several pairs separated by commas, as crane's ``-l a=1,b=2`` does; a value whose
    comma-separated pieces are not all pairs is one pair (``-l 'description=red, green'``), where
    crane refuses it. Without (crane's ``-e``), each value is one pair.

    :raises BadFlagValue: a value without ``=``, or with an empty key, naming ``what`` it is.
    """
    found: dict[str, str] = {}
    for value in values:
        try:
            pieces = _csv(value) if lists and "," in value else [value]
        except BadFlagValue:
            pieces = [value]
        if len(pieces) > 1 and not all("=" in piece and not piece.startswith("=") for piece in pieces):
            pieces = [value]
        for piece in pieces:
            key, equals, item = piece.partition("=")
            if not equals or not key:
                raise BadFlagValue(f"{what} must be KEY=VALUE, got {piece!r}")
            found[key] = item
    return found


def set_env(env: Sequence[str], changes: Mapping[str, str], *, windows: bool = False) -> tuple[str, ...]:
    """``env`` (``KEY=VALUE`` entries, as a config's ``Env``) with ``changes`` made as ``crane
    mutate -e`` and docker's ``ENV`` make them: a variable already there gets its new value where
    it stands; new ones follow, in the order given. On Windows (``windows``) names match without
    regard to case, and new names are written in capitals, as crane writes them.
    """

    def name(key: str) -> str:
        return key.upper() if windows else key

    wanted = {name(key): value for key, value in changes.items()}
    edited, done = [], set()
    for entry in env:
        key = entry.partition("=")[0]
        if name(key) in wanted:  # every time it stands there (the last would win at run time)
            edited.append(f"{key}={wanted[name(key)]}")
            done.add(name(key))
        else:
            edited.append(entry)
    edited.extend(f"{key}={value}" for key, value in wanted.items() if key not in done)
    return tuple(edited)
