"""Run-config edits as crane mutate and docker make them (ocimodel._config_edits)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel._config_edits import BadFlagValue, csv_list, key_values, set_env
from ocimodel.errors import OCIError


@pytest.mark.parametrize(
    ("env", "changes", "windows", "expected"),
    [
        (["A=1", "B=2"], {"A": "9"}, False, ("A=9", "B=2")),  # where it stands, not moved to the end
        (["A=1", "B=2"], {"C": "3", "A": "9"}, False, ("A=9", "B=2", "C=3")),
        (["PATH=/bin", "A=1"], {"PATH": "/usr/bin:/bin"}, False, ("PATH=/usr/bin:/bin", "A=1")),
        (["A=1", "B=2", "A=3"], {"A": "9"}, False, ("A=9", "B=2", "A=9")),  # every place it stands
        (["A=x=y"], {"A": "z=w"}, False, ("A=z=w",)),
        (["FLAG"], {"FLAG": "1"}, False, ("FLAG=1",)),
        ([], {"B": "2", "A": "1"}, False, ("B=2", "A=1")),  # new ones in the order given
        (["a=1"], {"A": "2"}, False, ("a=1", "A=2")),  # Linux: names are case-sensitive
        (["Path=C:\\"], {"PATH": "D:\\"}, True, ("Path=D:\\",)),  # Windows: they are not
        ([], {"path": "C:\\"}, True, ("PATH=C:\\",)),  # new names in capitals, as crane writes them
    ],
)
def test_set_env(env: list[str], changes: dict[str, str], windows: bool, expected: tuple[str, ...]) -> None:
    assert set_env(env, changes, windows=windows) == expected


names = st.text("ABCXYZ_", min_size=1, max_size=3)
values = st.text("abc=,1 ", max_size=4)


@given(
    st.lists(st.tuples(names, values), unique_by=lambda pair: pair[0]),
    st.dictionaries(names, values),
)
def test_set_env_keeps_places_and_sets_every_change(env: list[tuple[str, str]], changes: dict[str, str]) -> None:
    before = [f"{key}={value}" for key, value in env]
    after = set_env(before, changes)
    assert len(after) == len(before) + len(set(changes) - {key for key, _ in env})
    for place, (key, value) in enumerate(env):  # each old variable where it was
        assert after[place] == f"{key}={changes.get(key, value)}"
    assert dict(entry.partition("=")[::2] for entry in after) == {**dict(env), **changes}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["/bin/sh,-c"], ["/bin/sh", "-c"]),
        (["/bin/sh", "-c"], ["/bin/sh", "-c"]),  # repeated, as pflag's StringSlice
        (['-c,"echo a, b"'], ["-c", "echo a, b"]),  # CSV quotes keep commas
        ([""], []),  # empty: nothing
        (["80/tcp,443/tcp", "53/udp"], ["80/tcp", "443/tcp", "53/udp"]),
    ],
)
def test_csv_list(given: list[str], expected: list[str]) -> None:
    assert csv_list(given) == expected


@pytest.mark.parametrize(
    ("given", "lists", "expected"),
    [
        (["a=1"], True, {"a": "1"}),
        (["a=1,b=2"], True, {"a": "1", "b": "2"}),  # crane's -l a=1,b=2
        (["description=red, green"], True, {"description": "red, green"}),  # not all pairs: one pair
        (["a=1", "a=2"], True, {"a": "2"}),  # later wins
        (["a="], True, {"a": ""}),
        (["a=x=y"], True, {"a": "x=y"}),
        (["A=1,B=2"], False, {"A": "1,B=2"}),  # -e: one pair per value, as crane's -e
    ],
)
def test_key_values(given: list[str], lists: bool, expected: dict[str, str]) -> None:
    assert key_values(given, "a label", lists=lists) == expected


@pytest.mark.parametrize("bad", ["novalue", "=1", ""])
def test_key_values_refuses_what_is_not_a_pair(bad: str) -> None:
    with pytest.raises(BadFlagValue, match=f"a label must be KEY=VALUE, got {bad!r}") as raised:
        key_values([bad], "a label")
    assert isinstance(raised.value, OCIError)
