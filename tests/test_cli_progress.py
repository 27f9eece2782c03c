"""Progress on every long verb: on a terminal, a bar of the bytes each step moves and its rate on
stderr; into a file or a pipe, nothing (stderr stays empty on success).

Most verbs run in this process (``ocimodel.cli.main``, the entry point) with stderr on a
pseudo-terminal; one runs as its own process on one, as a user runs it."""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import re
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocimodel import cli, mutate, random, remote, tarball
from tests.harness.distribution import DistributionRegistry

pytestmark = pytest.mark.registry

#: Each layer of the test images: random, so it compresses to about its own size.
LAYER = 400_000
#: The folder ``append`` makes a layer of.
FOLDER = 1 << 20


def drain(master: int, into: bytearray) -> None:
    """Read a pseudo-terminal's master side until its last slave closes."""
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the slave side is closed and everything was read
            return
        if not data:
            return
        into += data


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, bytearray]]:
    """A pseudo-terminal 120 columns wide: its slave descriptor, and what is drawn on it (whole
    once the block has ended)."""
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (24, 120))
    drawn = bytearray()
    reader = threading.Thread(target=drain, args=(master, drawn), daemon=True)
    reader.start()
    try:
        yield slave, drawn
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)


def on_terminal(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> tuple[int, str]:
    """Run ``ocimodel ARGUMENTS`` here with stderr on a terminal: its status and what it drew."""
    with (
        terminal() as (slave, drawn),
        os.fdopen(os.dup(slave), "w", encoding="utf-8") as stderr,  # closed before the drain ends
        monkeypatch.context() as patched,
    ):
        patched.setattr(sys, "stderr", stderr)
        status = cli.main(list(arguments))
    return status, drawn.decode(errors="replace")


_SUFFIXES = {"": 1, "k": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def largest_count(drawn: str, what: str) -> int:
    """The most bytes the bar of step ``what`` showed done (tqdm draws ``what: 1.21MB [...]``,
    or ``what:  50%|███  | 610k/1.21M [...]`` when the total is known), 0 if it drew none."""
    counts = [0]
    for state in drawn.split("\r"):
        if not state.startswith(f"{what}:"):
            continue
        found = re.search(r"(?:\||: )\s*([\d.]+)([kMG]?)B?(?:/[\d.]+[kMG]?B?)? \[", state)
        if found:
            counts.append(int(float(found[1]) * _SUFFIXES[found[2]]))
    return max(counts)


@pytest.fixture(scope="module")
def images(registry: DistributionRegistry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the verbs work on: an image on a base, another base, a tarball, a folder."""
    base = random.image(LAYER, 1, seed=60)
    other_base = random.image(LAYER, 1, seed=61)
    image = mutate.append_layers(base, random.image(LAYER, 1, seed=62).layers()[0])
    host = registry.host
    for name, made in (("base", base), ("other", other_base), ("image", image)):
        remote.write(f"{host}/progress/{name}:v1", made)
    folder = tmp_path_factory.mktemp("progress")
    (folder / "app").mkdir()
    (folder / "app" / "data").write_bytes(os.urandom(FOLDER))
    tarball.write(folder / "image.tar", image, tag="example.com/progress:v1")
    return {"R": f"{host}/progress", "D": str(folder)}


#: verb: (its arguments, {step: the bytes its bar ends at, about}). Two layers of the image are
#: its base's; a flattened or exported image is the tar of its three layers' files.
VERBS: dict[str, tuple[list[str], dict[str, int]]] = {
    "push": (["push", "{D}/image.tar", "{R}/pushed:v1"], {"pushing": 2 * LAYER}),
    "pull": (["pull", "{R}/image:v1", "{T}/pulled.tar"], {"pulling": 2 * LAYER}),
    "pull --format oci": (["pull", "--format", "oci", "{R}/image:v1", "{T}/layout"], {"pulling": 2 * LAYER}),
    "copy": (["copy", "{R}/image:v1", "{R}/copied:v1"], {"copying": 2 * LAYER}),
    "append": (
        ["append", "-f", "{D}/app", "-t", "{R}/appended:v1"],
        {"compressing {D}/app": FOLDER, "pushing": FOLDER},
    ),
    "append -o": (
        ["append", "-b", "{R}/image:v1", "-f", "{D}/app", "-t", "example.com/a:v1", "-o", "{T}/a.tar"],
        {"compressing {D}/app": FOLDER, "writing": 2 * LAYER + FOLDER},
    ),
    "export": (["export", "{R}/image:v1", "{T}/fs.tar"], {"exporting": 2 * LAYER}),
    "flatten": (["flatten", "{R}/image:v1", "-t", "{R}/flat:v1"], {"flattening": 2 * LAYER, "pushing": 2 * LAYER}),
    "mutate": (["mutate", "{R}/image:v1", "-l", "a=b", "-t", "{R}/mutated:v1"], {"pushing": 2 * LAYER}),
    "mutate -o": (["mutate", "{R}/image:v1", "-l", "a=b", "-o", "{T}/m.tar"], {"writing": 2 * LAYER}),
    "rebase": (
        ["rebase", "{R}/image:v1", "--old-base", "{R}/base:v1", "--new-base", "{R}/other:v1", "-t", "{R}/rebased:v1"],
        {"pushing": 2 * LAYER},
    ),
}


def arguments(verb: str, images: dict[str, str], scratch: Path) -> list[str]:
    return [each.format(T=scratch, **images) for each in VERBS[verb][0]]


@pytest.mark.parametrize("verb", VERBS)
def test_a_long_verb_draws_the_bytes_of_each_step_on_a_terminal(
    images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    status, drawn = on_terminal(monkeypatch, *arguments(verb, images, tmp_path))
    assert status == 0, drawn
    for step, size in VERBS[verb][1].items():
        what = step.format(**images)
        assert 0.9 * size <= largest_count(drawn, what) <= 1.3 * size, (what, drawn)
        assert re.search(rf"{re.escape(what)}:.*\d[kMG]?B/s\]", drawn), drawn  # the rate, once known
    assert drawn.endswith("\r"), drawn  # and the bar is cleared for what follows


@pytest.mark.parametrize("verb", VERBS)
def test_a_long_verb_writes_nothing_on_stderr_that_is_no_terminal(
    images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    status = cli.main(arguments(verb, images, tmp_path))
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.err == ""


def test_verbose_draws_no_bar(images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-v`` logs requests on stderr: a bar would tear its lines."""
    logger = logging.getLogger("ocimodel")
    handlers, level = list(logger.handlers), logger.level
    try:
        status, drawn = on_terminal(monkeypatch, "-v", *arguments("export", images, tmp_path))
    finally:  # -v set the logger up for this process: as it was, for the tests that follow
        logger.handlers[:] = handlers
        logger.setLevel(level)
    assert "GET" in drawn  # the log, on the terminal
    assert status == 0, drawn
    assert "exporting" not in drawn
    assert "B/s" not in drawn


def test_a_folder_appended_from_a_terminal_shows_its_compression(images: dict[str, str], tmp_path: Path) -> None:
    """The verb as its own process, stderr a terminal (the folder's layer is the same as without
    one: counting it changes nothing)."""
    command = [sys.executable, "-m", "ocimodel", "append", "-f", f"{images['D']}/app", "-t", "example.com/a:v1"]
    with terminal() as (slave, drawn):
        shown = subprocess.run([*command, "-o", str(tmp_path / "shown.tar")], stderr=slave, timeout=60, check=False)
    quiet = subprocess.run([*command, "-o", str(tmp_path / "quiet.tar")], capture_output=True, timeout=60, check=False)
    assert shown.returncode == quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == b""
    assert largest_count(drawn.decode(errors="replace"), f"compressing {images['D']}/app") >= FOLDER
    assert tarball.image(tmp_path / "shown.tar").digest() == tarball.image(tmp_path / "quiet.tar").digest()


@pytest.mark.parametrize("verb", ["copy", "push", "append", "flatten"])
def test_the_result_line_is_printed_after_the_bar_is_cleared(
    images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    with (
        terminal() as (slave, drawn),
        os.fdopen(os.dup(slave), "w", encoding="utf-8") as stderr,
        os.fdopen(os.dup(slave), "w", encoding="utf-8") as stdout,  # one terminal for both, as usual
        monkeypatch.context() as patched,
    ):
        patched.setattr(sys, "stderr", stderr)
        patched.setattr(sys, "stdout", stdout)
        # into repositories of its own: where the other tests' pushes already are, no bytes move
        fresh = [
            re.sub(r"/(pushed|copied|appended|flat):", r"/again-\1:", each)
            for each in arguments(verb, images, tmp_path)
        ]
        status = cli.main(fresh)
    seen = drawn.decode(errors="replace")
    assert status == 0, seen
    result = re.search(r"[\w.:/-]+@sha256:[0-9a-f]{64}\r?\n", seen)
    assert result is not None, seen
    assert seen[: result.start()].endswith("\r"), seen  # the bar's line was cleared before it
    assert "\r" not in seen[result.start() :].rstrip("\r\n"), seen  # and no bar is drawn after it
