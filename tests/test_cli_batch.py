"""Batches: ``digest``, ``manifest``, ``ls``, ``delete``, ``validate`` and ``copy`` given several
inputs, or ``-`` for a list on stdin, work ``-j`` at a time on one session and print each result
in the order given; a failure is one line naming its input, and the others go on.

Most commands run in this process (``ocimodel.cli.main``, the entry point), stdin replaced; the
ones that need a process of their own (a signal, a pipe kept open) run as one."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel import _batch, cli, empty, mutate, random, remote, tarball
from ocimodel.authn import Basic
from ocimodel.errors import BadJSONError, NotFound
from ocimodel.hashing import Hash
from ocimodel.image import BlobLayer, Image
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.transport import Client
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import Fault, FaultProxy
from tests.harness.tokenserver import PASSWORD, USER, TokenServer

pytestmark = pytest.mark.registry

Run = tuple[int, str, str]


@pytest.fixture
def main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``main(*arguments, stdin="")``: the command run in this process, its stdin the text given:
    its exit status, stdout and stderr."""

    def run(*arguments: str, stdin: str = "") -> Run:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = cli.main(list(arguments))
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="module")
def stored(registry: DistributionRegistry) -> dict[str, Image]:
    """Six images in three repositories, by reference, and one whose layer is not a tar."""
    images = {}
    for number in range(6):
        reference = f"{registry.host}/batch/r{number % 3}:v{number}"
        images[reference] = random.image(200, 1, seed=900 + number)
        remote.write(reference, images[reference])
    broken = BlobLayer(b"not gzip, not a tar", MediaType.DOCKER_LAYER)
    remote.write(f"{registry.host}/batch/broken:v1", mutate.append_layers(empty.image, broken))
    return images


def errors(err: str) -> list[str]:
    """The inputs the error lines name (``ocimodel: INPUT: message``), in order."""
    lines = err.splitlines()
    assert all(line.startswith("ocimodel: ") for line in lines), err
    assert "Traceback" not in err
    return [line.removeprefix("ocimodel: ").split(": ", 1)[0] for line in lines]


def test_several_images_print_a_line_each_in_the_order_given(main: Any, stored: dict[str, Image]) -> None:
    references = list(stored)
    assert main("digest", *references) == (0, "".join(f"{r} {stored[r].digest()}\n" for r in references), "")
    full = [f"{r} {r.rpartition(':')[0]}@{stored[r].digest()}" for r in references]
    assert main("digest", "--full-ref", *references)[1].splitlines() == full
    single = main("digest", references[0])  # one reference: the digest alone, as before
    assert single == (0, f"{stored[references[0]].digest()}\n", "")


def test_stdin_is_a_list_one_a_line(main: Any, stored: dict[str, Image]) -> None:
    first, second, third, fourth = list(stored)[:4]
    listed = f"  {first}  # a comment after it\n\n# a line of comment\n\t{second}\t\r\n{third}"
    status, out, err = main("digest", "-", stdin=listed)
    assert (status, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()] == [first, second, third]
    mixed = main("digest", first, "-", fourth, stdin=f"{second}\n{third}\n")[1]
    assert [line.split()[0] for line in mixed.splitlines()] == [first, second, third, fourth]
    assert main("digest", "-", stdin="") == (0, "", "")  # nothing asked, nothing wrong
    assert main("digest", "-", stdin="\n# only comments\n  \n") == (0, "", "")
    twice = main("digest", "-", "-")
    assert twice[0] == 2
    assert "'-' (stdin) can be given only once" in twice[2]


def test_a_tarball_answers_for_several_tags(main: Any, stored: dict[str, Image], tmp_path: Path) -> None:
    one, two = list(stored.values())[:2]
    tarball.write(tmp_path / "two.tar", {"example.com/a:1": one, "example.com/b:2": two})
    out = main("digest", "--tarball", str(tmp_path / "two.tar"), "example.com/b:2", "example.com/a:1")[1]
    assert out == f"example.com/b:2 {two.digest()}\nexample.com/a:1 {one.digest()}\n"


def test_a_failing_input_is_one_line_and_the_others_go_on(main: Any, stored: dict[str, Image]) -> None:
    good = list(stored)[:2]
    host = good[0].split("/")[0]
    bad = [f"{host}/batch/r0:missing", f"{host}/batch/nothing:v1", "Not A Valid:ref", "127.0.0.1:1/x:v1"]
    status, out, err = main("digest", good[0], *bad, good[1])
    assert status == 1
    assert out.splitlines() == [f"{r} {stored[r].digest()}" for r in good]
    assert errors(err) == bad
    assert "MANIFEST_UNKNOWN" in err.splitlines()[0]


def inputs_for(verb: str, host: str, stored: dict[str, Image]) -> tuple[list[str], list[str]]:
    """Arguments for ``verb`` over the stored images, failures in the middle; and the inputs that
    fail, in order."""
    broken, missing, bad = f"{host}/batch/broken:v1", f"{host}/batch/r1:missing", "Not A:ref"
    references = [*list(stored)[:3], broken, missing, bad, *list(stored)[3:]]
    if verb == "ls":
        return list(dict.fromkeys(r.rpartition(":")[0] for r in references)), ["Not A"]
    if verb == "validate":
        return [word for r in references for word in ("--remote", r)], [broken, missing, bad]
    return references, [missing, bad]


@pytest.mark.parametrize("verb", ["digest", "manifest", "ls", "validate"])
def test_one_at_a_time_and_four_at_once_print_the_same(
    main: Any, registry: DistributionRegistry, stored: dict[str, Image], verb: str
) -> None:
    arguments, failing = inputs_for(verb, registry.host, stored)
    sequential = main(verb, "-j", "1", *arguments)
    parallel = main(verb, "-j", "4", *arguments)
    assert sequential == parallel
    status, out, err = parallel
    assert status == 1
    assert errors("".join(line for line in err.splitlines(True) if not line.startswith("PASS: "))) == failing
    if verb == "ls":  # each repository's tags together, the repositories in the order given
        firsts = [line.split()[0] for line in out.splitlines()]
        assert list(dict.fromkeys(firsts)) == [a for a in arguments if a not in failing and a in firsts]
        assert len(firsts) == len(stored) + 1  # the broken image's repository has its one tag


def test_manifest_lines_hold_each_document_byte_for_byte(
    main: Any, registry: DistributionRegistry, stored: dict[str, Image]
) -> None:
    """A document written over several lines, with U+2028 in a string (JSON allows it there, and
    str.splitlines takes it for a line break): one line each, the same JSON, the same digest."""
    plain = next(iter(stored))
    document = json.loads(stored[plain].raw_manifest())
    document["annotations"] = {"note": "a\u2028b é", "z": "1e3"}
    raw = json.dumps(document, indent=3, ensure_ascii=False).encode()
    repository = Repository(f"{registry.host}/batch/pretty")
    remote.write(repository.tag("blobs"), stored[plain])  # the blobs the document names
    with Client(repository.registry) as client:
        client.put_manifest(repository, "v1", raw, MediaType.DOCKER_MANIFEST_SCHEMA2)
    pretty = f"{repository.name}:v1"
    status, out, err = main("manifest", pretty, plain)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["reference"] == pretty
    assert first["digest"] == str(Hash.sha256(raw))
    assert first["mediaType"] == MediaType.DOCKER_MANIFEST_SCHEMA2
    assert first["manifest"] == document
    assert raw.decode().replace("\n", " ").replace("\u2028", "\\u2028") in lines[0]
    assert second["manifest"] == json.loads(stored[plain].raw_manifest())
    assert main("manifest", pretty)[1].encode() == raw  # one: the document itself, as before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(value=JSON, indent=st.sampled_from([None, 0, 2, "\t"]), ascii_only=st.booleans())
def test_a_json_line_is_one_line_holding_the_same_value(
    value: object, indent: int | str | None, ascii_only: bool
) -> None:
    document = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode()
    line = _batch.json_line({"reference": "r\u2028x"}, "manifest", document, "a document")
    assert line.endswith(b"\n")
    text = line.decode()
    assert text.splitlines() == [text[:-1]]
    assert json.loads(text) == {"reference": "r\u2028x", "manifest": value}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),  # UTF-16: JSON by the letter, but not on a UTF-8 line
        ("\ufeff{}".encode(), "BOM"),
        (b"NaN", "not valid JSON"),
        (b'{"a": "\x01"}', "not valid JSON"),  # a control character inside a string
    ],
)
def test_a_document_that_is_not_json_in_utf8_is_refused(document: bytes, problem: str) -> None:
    with pytest.raises(BadJSONError, match=problem) as raised:
        _batch.json_line({}, "manifest", document, "manifest of x:1")
    assert "manifest of x:1" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("a\nb\n", ["a", "b"]),
        ("  a  \n\tb\t", ["a", "b"]),
        ("a\r\nb\r\n", ["a", "b"]),
        ("\n\n  \n", []),
        ("# a comment\na # after\n#\n", ["a"]),
        ("a b\n", ["a b"]),  # copy's pairs: a line is one input
        ("", []),
    ],
)
def test_lines_of_a_list(text: str, items: list[str]) -> None:
    assert list(_batch.lines(io.StringIO(text))) == items


def test_stdin_is_read_where_the_dash_stands_and_only_then() -> None:
    read: list[str] = []

    def stdin() -> io.StringIO:
        read.append("read")
        return io.StringIO("b\nc\n")

    found = _batch.inputs(["a", "-", "d"], stdin)
    assert next(found) == "a"
    assert read == []
    assert list(found) == ["b", "c", "d"]
    assert list(_batch.inputs(["a"], lambda: pytest.fail("stdin read"))) == ["a"]
    with pytest.raises(ValueError, match="only once"):
        _batch.inputs(["-", "x", "-"], stdin)


def test_run_keeps_the_order_and_a_bounded_window() -> None:
    taken: list[int] = []
    handed: list[int] = []
    busy, most = [0], [0]
    lock = threading.Lock()

    def items() -> Iterator[int]:
        for number in range(40):
            taken.append(number)
            assert len(taken) - len(handed) <= 2 * 3 + 1, "more than the window taken ahead"
            yield number

    def work(number: int) -> int:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.001 * (number % 5))
        with lock:
            busy[0] -= 1
        if number % 7 == 3:
            raise ValueError(f"bad {number}")
        return number * 10

    for number, result in _batch.run(items(), work, jobs=3):
        handed.append(number)
        if number % 7 == 3:
            assert isinstance(result, ValueError)
            assert str(result) == f"bad {number}"
        else:
            assert result == number * 10
    assert handed == list(range(40))
    assert most[0] <= 3


def test_run_one_at_a_time_works_in_this_thread_and_an_early_end_cancels() -> None:
    here = threading.get_ident()
    assert [r for _, r in _batch.run(range(3), lambda _: threading.get_ident(), jobs=1)] == [here] * 3
    cancel = threading.Event()
    results = _batch.run(range(100), lambda n: n, jobs=4, cancel=cancel)
    assert next(results) == (0, 0)
    assert not cancel.is_set()
    results.close()  # the reader went away: what is under way is told to stop
    assert cancel.is_set()
    done = threading.Event()
    assert [n for n, _ in _batch.run(range(5), lambda n: n, jobs=2, cancel=done)] == list(range(5))
    assert not done.is_set()  # a batch that ran to its end cancels nothing
    with pytest.raises(ValueError, match="at least 1"):
        next(_batch.run([1], lambda n: n, jobs=0))


def test_delete_several(main: Any, registry: DistributionRegistry) -> None:
    references = []
    for number in range(3):
        image = random.image(100, 1, seed=950 + number)
        remote.write(f"{registry.host}/batch/deleted:v{number}", image)
        references.append(f"{registry.host}/batch/deleted@{image.digest()}")
    missing = f"{registry.host}/batch/deleted@{Hash.sha256(b'never pushed')}"
    status, out, err = main("delete", references[0], "-", stdin=f"{missing}\n{references[1]}\n{references[2]}\n")
    assert (status, out) == (1, "")
    assert errors(err) == [missing]
    for reference in references:
        with pytest.raises(NotFound):
            remote.head(reference)


def test_validate_several_says_pass_or_why_for_each_in_order(
    main: Any, registry: DistributionRegistry, stored: dict[str, Image]
) -> None:
    good, other = list(stored)[:2]
    broken = f"{registry.host}/batch/broken:v1"
    status, out, err = main("validate", "--remote", good, "--remote", broken, "--remote", "-", stdin=other)
    assert (status, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == f"PASS: {good}"
    assert lines[1].startswith(f"ocimodel: {broken}: ")
    assert lines[2:] == [f"PASS: {other}"]


def test_copy_several_to_a_prefix_or_by_pairs(
    main: Any, registry: DistributionRegistry, stored: dict[str, Image]
) -> None:
    host = registry.host
    first, second = list(stored)[:2]
    by_digest = f"{host}/batch/r2@{stored[list(stored)[2]].digest()}"
    status, out, err = main("copy", first, by_digest, f"{host}/mirror/")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"{host}/mirror/batch/r0@{stored[first].digest()}",
        f"{host}/mirror/batch/r2@{stored[list(stored)[2]].digest()}",
    ]
    assert remote.head(f"{host}/mirror/batch/r0:v0").digest == stored[first].digest()
    pairs = f"{first} {host}/paired/one:x\n{second} {host}/paired/two:y extra\n\n{second} {host}/paired/two:y\n"
    status, out, err = main("copy", "-", stdin=pairs)
    assert status == 1
    assert out.splitlines() == [
        f"{host}/paired/one@{stored[first].digest()}",
        f"{host}/paired/two@{stored[second].digest()}",
    ]
    assert errors(err) == [f"{second} {host}/paired/two:y extra"]
    assert "expected a line 'SOURCE DESTINATION', got 3 words" in err
    status, out, err = main("copy", "-a", "-", f"{host}/all/", stdin=f"{host}/batch/r0\n{host}/batch/r1\n")
    assert (status, err) == (0, "")
    assert sorted(remote.list_tags(f"{host}/all/batch/r0")) == ["v0", "v3"]
    assert sorted(remote.list_tags(f"{host}/all/batch/r1")) == ["v1", "v4"]
    assert len(out.splitlines()) == 4


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["copy", "a:1", "b:1", "c:1"], "prefix ending in '/'"),
        (["copy", "a:1"], "give a SOURCE and a DESTINATION"),
        (["copy", "-", "b:1"], "prefix ending in '/'"),
        (["copy", "a:1", "//"], "names no registry"),
        (["ls", "-", "-"], "only once"),
    ],
)
def test_a_batch_form_misused_is_a_usage_error(main: Any, arguments: list[str], complaint: str) -> None:
    status, out, err = main(*arguments)
    assert (status, out) == (2, "")
    assert complaint in err
    assert err.count("\n") == 1


@pytest.fixture
def token_images(token_fault_proxy: FaultProxy) -> list[str]:
    """Eight images in two repositories of the token-auth registry, behind the proxy."""
    image = random.image(100, 1, seed=960)
    references = [f"{token_fault_proxy.host}/batch/s{number % 2}:v{number}" for number in range(8)]
    for reference in references:
        remote.write(reference, image, auth=Basic(USER, PASSWORD))
    return references


def test_a_batch_is_one_session_one_ping_one_token_a_repository(
    main: Any,
    token_fault_proxy: FaultProxy,
    token_server: TokenServer,
    token_images: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # anonymous: pull is granted
    token_fault_proxy.reset()
    before = token_server.count()
    status, out, err = main("digest", "-j", "4", "-", stdin="\n".join(token_images))
    assert (status, err) == (0, "")
    assert len(out.splitlines()) == 8
    assert len(token_fault_proxy.requests("GET", "^/v2/$")) == 1
    assert token_server.count() - before == 2
    assert len(token_fault_proxy.requests("HEAD")) == 8  # each once: the token was there before it


def test_threads_sharing_a_session_share_its_ping_and_tokens(
    token_fault_proxy: FaultProxy, token_server: TokenServer, token_images: list[str]
) -> None:
    token_fault_proxy.reset()
    before = token_server.count()
    session = remote.Session(auth=Basic(USER, PASSWORD))
    start = threading.Barrier(len(token_images))
    found: list[Hash] = []

    def head(reference: str) -> None:
        start.wait()
        found.append(remote.head(reference, session=session).digest)

    threads = [threading.Thread(target=head, args=(reference,)) for reference in token_images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert len(token_fault_proxy.requests("GET", "^/v2/$")) == 1
    assert token_server.count() - before == 2


def test_ctrl_c_ends_a_batch_at_once(distribution_proxy: FaultProxy, stored: dict[str, Image]) -> None:
    """The first two answers come, the rest stall: Ctrl-C ends the command (130) without waiting
    for them, and stdin (still open: more could come) is not waited for either."""
    references = [r.replace(r.split("/")[0], distribution_proxy.host) for r in stored]
    distribution_proxy.inject(Fault("HEAD", "/manifests/", skip=2, times=100, delay=10))
    with subprocess.Popen(
        [sys.executable, "-m", "ocimodel", "digest", "-j", "2", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write("".join(f"{r}\n" for r in references).encode())
            process.stdin.flush()
            printed = [process.stdout.readline(), process.stdout.readline()]
            assert [line.split()[0].decode() for line in printed] == references[:2]
            time.sleep(0.2)  # the next ones are under way
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=10)
            took = time.monotonic() - started
            rest, err = process.stdout.read(), process.communicate()[1]
        finally:
            process.kill()  # nothing left running for a later test to meet, however this one ends
    assert status == 130, err.decode()
    assert took < 4, took  # the stalled answers would take 10 s
    assert rest == b""
    assert b"Traceback" not in err


def test_the_process_reads_a_pipe(registry: DistributionRegistry, stored: dict[str, Image]) -> None:
    """As a script runs it: a list piped in, the lines out, one process."""
    listed = "".join(f"{r}\n" for r in stored)
    done = subprocess.run(
        [sys.executable, "-m", "ocimodel", "digest", "-"],
        input=listed.encode(),
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.decode().splitlines() == [f"{r} {image.digest()}" for r, image in stored.items()]
