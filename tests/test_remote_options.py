"""The keyword options of ``remote.*`` are declared once (``SessionOptions``, ``WriterOptions``):
type checkers see them (the ``type: ignore`` marks below would be unused, and so errors under
mypy strict, if they did not), a misspelt one fails at once, and each is documented."""

from __future__ import annotations

import inspect
import re

import pytest

from ocimodel import random, remote
from ocimodel._options import option_names
from ocimodel.remote import Session, SessionOptions, WriteOptions, WriterOptions

IMAGE = random.image(10, 1, seed=1)
NOWHERE = "127.0.0.1:9/nothing:here"  # never asked: the options are refused before any request


def test_a_misspelt_option_is_a_type_error_before_any_request() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword\(s\) timout; it takes: .*timeout"):
        remote.image(NOWHERE, timout=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"chunk_sise; it takes: .*chunk_size"):
        remote.write(NOWHERE, IMAGE, chunk_sise=1 << 20)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="chunk_size"):
        remote.image(NOWHERE, chunk_size=1 << 20)  # type: ignore[call-arg]  # a writer option, not a reader's
    with pytest.raises(TypeError, match="timout"):
        Session(timout=5)  # type: ignore[call-arg]


def test_an_option_of_the_wrong_type_is_seen_by_type_checkers() -> None:
    with pytest.raises(TypeError):
        remote.list_tags(NOWHERE, jobs="4")  # type: ignore[arg-type]


def test_options_beside_a_session_are_refused() -> None:
    session = Session(timeout=5.0)
    with pytest.raises(TypeError, match="pass options to the Session, not beside it: timeout"):
        remote.image(NOWHERE, session=session, timeout=1.0)


def test_writer_options_go_beside_a_session() -> None:
    session = Session(timeout=5.0)
    with pytest.raises(TypeError, match="not beside it: jobs"):
        remote.write(NOWHERE, IMAGE, session=session, chunk_size=1 << 20, jobs=2)


def test_every_remote_function_takes_the_declared_options() -> None:
    for name in remote.__all__:
        function = getattr(remote, name)
        if not inspect.isfunction(function) or "options" not in inspect.signature(function).parameters:
            continue
        pushes = name.startswith(("write", "multi_write")) or name == "copy_repository"
        expected = "WriteOptions" if pushes else "SessionOptions"
        assert function.__annotations__["options"] == f"Unpack[{expected}]", name


def test_write_options_are_the_session_and_writer_options() -> None:
    assert option_names(WriteOptions) == option_names(SessionOptions) | option_names(WriterOptions)
    assert not option_names(SessionOptions) & option_names(WriterOptions)


@pytest.mark.parametrize("options", [SessionOptions, WriterOptions])
def test_every_option_is_documented(options: type) -> None:
    documented = set(re.findall(r"^    - ``(\w+)``:", options.__doc__ or "", flags=re.MULTILINE))
    assert documented == option_names(options)


def test_the_docs_give_units_and_what_progress_receives() -> None:
    assert "``timeout``: seconds" in (SessionOptions.__doc__ or "")
    source = inspect.getsource(remote._session)
    assert "progress(digest, done, size)" in source
    assert ":raises" in (remote.image.__doc__ or "")
    assert "NotFound" in (remote.__doc__ or "")
