"""The ``ocimodel`` command line: crane's verbs and flags, for scripts and people.

Results (digests, JSON, blobs) go to stdout and messages to stderr (a result line too, when the
output is stdout itself); long verbs draw progress on stderr when it is a terminal (:class:`_Bar`,
the one place). Exit status: 0 on success, 1 when the operation failed, 2 for a usage error (either
way one line on stderr saying why, naming the input; a traceback only with ``-v``: every error a
verb lets out is an ``OCIError`` or an ``OSError``, anything else is a bug), 130 when interrupted
(SIGINT, Ctrl-C) and 143 when terminated (SIGTERM): either signal unwinds the command (no
temporary file is left, no output half-written), worker threads get :data:`GRACE` seconds to
notice, then the process ends whatever they are doing; a second signal ends it at once. A signal
ignored when the process started stays ignored. A reader that goes away (``| head``) ends the
command quietly with 141, as ``SIGPIPE`` ends ``cat``. The library is imported by each verb, so
``ocimodel version`` starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import click

from ocimodel._version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from ocimodel.hashing import Hash
    from ocimodel.image import Image
    from ocimodel.index import ImageIndex
    from ocimodel.layer import Layer
    from ocimodel.mediatype import MediaType
    from ocimodel.name import Reference
    from ocimodel.remote import Session

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + 2  # SIGINT
EXIT_TERMINATED = 128 + 15  # SIGTERM
EXIT_PIPE = 128 + 13  # SIGPIPE: the reader of the output went away


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises :class:`KeyboardInterrupt`, so that
    every ``with`` and ``finally`` runs (temporary files are removed). Not an :class:`Exception`:
    nothing that handles errors may swallow it."""


class _PipeClosed(BaseException):
    """The reader of an output went away (``EPIPE``): the command ends quietly, as ``cat`` or ``tar``
    is ended by ``SIGPIPE``. Not an :class:`Exception`, so that click does not make it its exit 1."""


#: What every session of a command watches: set by the first signal, so that worker threads (which
#: a signal does not interrupt) stop at their next request or chunk. A fresh one for each run.
_cancel = threading.Event()

#: Seconds the worker threads get after a signal to notice :data:`_cancel` and end: then the
#: process ends without them (one blocked in I/O, on a stalled connection or a silent FIFO, would
#: otherwise keep it alive for good).
GRACE = 1.0

#: The exit status the first signal of this run asks for, and when it came.
_interrupt: tuple[int, float] | None = None
_ending = threading.Lock()


def _on_signal(number: int, _frame: object) -> None:
    global _interrupt
    _cancel.set()
    status = EXIT_INTERRUPTED if number == signal.SIGINT else EXIT_TERMINATED
    _interrupt = (status, time.monotonic())
    for each in (signal.SIGINT, signal.SIGTERM):  # a second signal ends the process at once
        if signal.getsignal(each) is _on_signal:
            signal.signal(each, _on_second_signal)
    # If the unwinding itself hangs (joining a blocked worker), the process ends all the same.
    threading.Thread(target=_end_after, args=(GRACE, status), name="ocimodel-grace", daemon=True).start()
    raise KeyboardInterrupt if number == signal.SIGINT else Terminated


def _on_second_signal(number: int, _frame: object) -> None:
    _end_now(EXIT_INTERRUPTED if number == signal.SIGINT else EXIT_TERMINATED)


def _end_after(seconds: float, status: int) -> None:
    time.sleep(seconds)
    _end_now(status)


def _end_now(status: int) -> None:
    """End the process at once with ``status``, waiting for no thread: every temporary file still
    being written is removed first, then stdio is flushed (for a moment at most: a reader that
    stalls must not hold the process). Returns only if another thread is ending it already."""
    if not _ending.acquire(blocking=False):
        return
    files = sys.modules.get("ocimodel._files")  # never imported: no temporary file was made
    if files is not None:
        files.remove_temporaries()
    flushing = threading.Thread(target=_flush_stdio, name="ocimodel-flush", daemon=True)
    flushing.start()
    flushing.join(0.5)
    os._exit(status)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _finish_interrupted(status: int, since: float) -> None:
    """After a signal and the unwinding of the command: give the worker threads what is left of
    :data:`GRACE` to end, then end the process (:func:`_end_now`), whatever they are doing."""
    deadline = since + GRACE
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    _end_now(status)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """While the command runs, SIGINT and SIGTERM raise in the main thread and cancel sessions. A
    signal ignored when the process started (``trap '' INT``, a shell's background job) stays
    ignored, as every tool keeps it."""
    global _cancel, _interrupt
    _cancel = threading.Event()
    _interrupt = None
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        yield
        return
    previous = {each: signal.getsignal(each) for each in (signal.SIGINT, signal.SIGTERM)}
    caught = [each for each, handler in previous.items() if handler is not signal.SIG_IGN]
    for each in caught:
        signal.signal(each, _on_signal)
    try:
        yield
    finally:
        for each in caught:
            handler = previous[each]
            signal.signal(each, signal.SIG_DFL if handler is None else handler)  # None: not set from Python


class _Commands(click.Group):
    """The verbs. A closed pipe (``EPIPE`` writing stdout or a FIFO) ends any of them as
    :class:`_PipeClosed`, once its ``with`` blocks have removed what they made. crane's aliases
    (:data:`ALIASES`) name the same verbs."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            raise _PipeClosed from error


#: Other names of verbs, as crane has them.
ALIASES = {"cp": "copy"}


#: The image-spec's annotations that name the image another was built on.
_BASE_NAME = "org.opencontainers.image.base.name"
_BASE_DIGEST = "org.opencontainers.image.base.digest"


class Globals(NamedTuple):
    """The global options, given before the verb or after it (a named tuple: attrs is imported
    only by verbs that need it)."""

    verbose: bool = False
    insecure: bool = False
    platform: str | None = None
    allow_nondistributable: bool = False

    def write_options(self) -> dict[str, Any]:
        """The keyword options of ``remote.write`` and its kin that the global options set."""
        return {"allow_nondistributable": self.allow_nondistributable}

    def session(self, *, progress: str = "", **options: Any) -> Session:
        """A session with the global options; ``progress`` (what is being done: "pushing") shows
        a bar of the bytes it moves, on a terminal (:func:`_progress`)."""
        from ocimodel import remote

        platform = None if self.platform in (None, "all") else self.platform
        callback = _progress(progress) if progress else None
        options.setdefault("cancel", _cancel)
        return remote.Session(
            insecure=self.insecure, verify=not self.insecure, platform=platform, progress=callback, **options
        )


class _Bar:
    """The one way progress is shown: a tqdm bar on stderr of the bytes a step moves and its rate
    (a percentage too, where the total is known), ``what`` before them. A progress callback
    (``remote.Progress``: blob digest or "" for the whole, bytes done, bytes in all (0: unknown));
    the whole is drawn, each blob's own count is not. The bar is made on the first update, so a
    step that moves nothing draws nothing; :meth:`close` draws its last state and clears the line.
    Safe to call from several threads (uploads and downloads run in a pool)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._bar: Any = None
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, digest: str, done: int, total: int) -> None:
        if digest:
            return
        with self._lock:
            if self._closed:  # the step is over: a later read of the same bytes is not drawn
                return
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    desc=self._what,
                    total=total or None,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=sys.stderr,
                    leave=False,
                    dynamic_ncols=True,
                )
            if total and self._bar.total != total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.refresh()  # the last state, whatever the redraw interval skipped
                self._bar.close()
                self._bar = None


def _progress(what: str) -> _Bar | None:
    """A progress bar for a long step (:class:`_Bar`) when stderr is a terminal and ``-v`` is not
    given (its log lines would tear the bar), else ``None``: nothing is drawn into a file or a
    pipe. The bar is closed when the verb ends, however it ends, before any error line."""
    if not sys.stderr.isatty() or _globals().verbose:
        return None
    bar = _Bar(what)
    _bars.append(bar)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(bar.close)
    return bar


_bars: list[_Bar] = []  # drawn so far: closed (their line cleared) before a result line is printed


def _close_bars() -> None:
    while _bars:
        _bars.pop().close()


@contextlib.contextmanager
def _step(what: str) -> Iterator[_Bar | None]:
    """:func:`_progress` for a step that ends before the verb does (compressing, before pushing)."""
    bar = _progress(what)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _counted(stream: IO[bytes], bar: _Bar | None) -> IO[bytes]:
    """``stream``, its bytes counted on ``bar`` as they are read (the total unknown)."""
    if bar is None:
        return stream
    from ocimodel._streams import CountingReader, binary

    return binary(CountingReader(stream, "", 0, lambda _name, done, _size, _delta: bar("", done, 0)))


def _folder_layer(path: str, bar: _Bar | None) -> Layer:
    """The reproducible layer of a folder, its tar counted on ``bar`` as it is compressed (the
    same bytes, so the same digest, as ``layer.from_directory``'s)."""
    from ocimodel import layer

    folder = layer.from_directory(path)
    if bar is None:
        return folder

    class Counted(layer.UncompressedLayer):
        def media_type(self) -> MediaType:
            return folder.media_type()

        def open_uncompressed(self) -> IO[bytes]:
            return _counted(folder.uncompressed(), bar)

    return Counted()


def _write_tarball(
    output: str,
    images: Image | Mapping[Reference | str, Image],
    what: str,
    tag: Reference | str | None = None,
    *,
    legacy: bool = False,
) -> None:
    """``tarball.write`` (``legacy``: ``tarball.write_legacy``) to a file output (``-``: stdout),
    its bytes counted on a bar: a tarball's size is known before the first byte (``tarball.size``),
    so the bar has a percentage (a legacy one's is not)."""
    from ocimodel import tarball

    write = tarball.write_legacy if legacy else tarball.write
    bar = _progress(what)
    if bar is None:
        write(_destination(output), images, tag=tag)
        return
    from ocimodel._files import output as opened

    total = 0 if legacy else tarball.size(images, tag=tag)
    with opened(_destination(output)) as out:
        write(cast(IO[bytes], _CountingWriter(out, bar, total)), images, tag=tag)


class _CountingWriter(io.RawIOBase):
    """Writes into ``out``, counting the bytes on ``bar``."""

    def __init__(self, out: IO[bytes], bar: _Bar, total: int) -> None:
        super().__init__()
        self._out, self._bar, self._total, self._done = out, bar, total, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        count = memoryview(data).nbytes
        self._out.write(data)
        self._done += count
        self._bar("", self._done, self._total)
        return count

    def flush(self) -> None:
        self._out.flush()


def _globals() -> Globals:
    return click.get_current_context().find_object(Globals) or Globals()


def _destination(path: str) -> str | IO[bytes]:
    """Where a file output goes: ``-`` is stdout; a path is written by ``ocimodel._files.output``'s
    rules (never destroying what is there: a FIFO or a device is written into, a symbolic link
    through to its target, a regular file replaced atomically)."""
    return sys.stdout.buffer if path == "-" else path


def _is_stdout(output: str | None) -> bool:
    """Whether a file output is stdout itself: ``-``, or a path naming the very file or pipe stdout
    is (``/dev/stdout``, ``/dev/fd/1``, ``/proc/self/fd/1``, the file the shell redirected it to).
    Asked before the output is written: a replaced file is a new one."""
    if output is None:
        return False
    if output == "-":
        return True
    from pathlib import Path

    try:
        target, stdout = Path(output).stat(), os.fstat(1)
    except OSError:
        return False
    return (target.st_dev, target.st_ino) == (stdout.st_dev, stdout.st_ino)


def _say(line: str, on_stderr: bool) -> None:
    """Print a result line: on stdout, unless stdout carries the output (:func:`_is_stdout`); the
    progress bars are cleared first, so the line is not printed after a bar's last state."""
    _close_bars()
    click.echo(line, err=on_stderr)


def _global_options() -> list[click.Option]:
    """crane's persistent flags, as options (a new set for each command that takes them)."""
    return [
        click.Option(["-v", "--verbose"], is_flag=True, help="Log requests (redacted) and show tracebacks."),
        click.Option(["--insecure"], is_flag=True, help="Allow plain http and unverified TLS for any registry."),
        click.Option(
            ["--platform"],
            metavar="OS/ARCH[/VARIANT][:OSVERSION]",
            help="The platform to pick from an index ('all': keep indexes).",
        ),
        click.Option(
            ["--allow-nondistributable-artifacts", "allow_nondistributable"],
            is_flag=True,
            help="Push non-distributable (foreign) layers too.",
        ),
    ]


@contextlib.contextmanager
def _about(what: str, subject: str) -> Iterator[None]:
    """Errors of the library raised in the block that do not name ``subject`` (the user's input:
    an image reference) start with ``what`` ("exporting R:v1"), so the one line says what the user
    asked for, not only a layer's digest deep inside it. File errors name their path already."""
    try:
        yield
    except Exception as error:
        errors = sys.modules.get("ocimodel.errors")
        ours = errors is not None and isinstance(error, errors.OCIError) and not isinstance(error, OSError)
        if ours and subject not in str(error) and error.args and isinstance(error.args[0], str):
            error.args = (f"{what}: {error.args[0]}", *error.args[1:])
        raise


def _log_requests() -> None:
    """-v: ocimodel's own loggers at DEBUG on stderr (they redact URLs and never log headers,
    while urllib3's DEBUG lines carry whole URLs: upload state, pre-signed signatures)."""
    import logging

    logger = logging.getLogger("ocimodel")
    if logger.level == logging.DEBUG:
        return
    from ocimodel._shown import scrubbed

    class _Scrubbed(logging.Formatter):  # a registry's text: no secret, one line, no escape sequences
        def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
            return scrubbed(super().formatMessage(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Scrubbed("%(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _set_global(context: click.Context, parameter: click.Parameter, value: Any) -> None:
    """A global option given after the verb: it changes :class:`Globals` as if given before it."""
    if value is None or value is False or parameter.name is None:
        return
    node: click.Context | None = context
    while node is not None:  # each context keeps the object it inherited: change them all
        if isinstance(node.obj, Globals):
            node.obj = node.obj._replace(**{parameter.name: value})
        node = node.parent
    if parameter.name == "verbose":
        _log_requests()


def _accept_globals_everywhere(group: click.Group) -> None:
    """Let every verb (and group of verbs) take the global options anywhere on its line, as
    crane's persistent flags are taken: hidden copies, unless the verb has an option of that
    name itself (``index filter --platform``)."""
    for command in group.commands.values():
        taken = {name for parameter in command.params for name in (*parameter.opts, *parameter.secondary_opts)}
        for option in _global_options():
            if taken.isdisjoint(option.opts):
                option.hidden = True
                option.expose_value = False
                option.callback = _set_global
                command.params.append(option)
        if isinstance(command, click.Group):
            _accept_globals_everywhere(command)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(context: click.Context, /, **options: Any) -> None:
    """Work with container images and registries (OCI and Docker formats).

    The global options may also come after the verb, anywhere on the line (as crane takes them):
    ocimodel manifest REF --platform linux/arm64."""
    context.obj = Globals(**options)
    if context.obj.verbose:
        _log_requests()


cli.params.extend(_global_options())


@cli.command()
def version() -> None:
    """Print the version of ocimodel."""
    click.echo(__version__)


def _target(reference: str, session: Session, *, whole: bool | None = None) -> Image | ImageIndex:
    """An image, or (with --platform all, or none given) an index, as the reference names.
    ``whole``: whether an index is kept whole, decided by the caller (as a worker thread, which
    has no click context to read the global options from, must)."""
    from ocimodel import remote

    found = remote.get(reference, session=session)
    if whole is None:
        whole = _globals().platform in (None, "all")
    if found.media_type.is_index() and whole:
        return found.image_index()
    return found.image()


def _jobs(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``-j/--jobs`` option of a verb that takes several inputs: how many are worked on at once."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(1),
        default=4,
        show_default=True,
        help=f"With several {what}: how many are worked on at once (1: one after another).",
    )


def _each(
    arguments: Sequence[str],
    work: Callable[[str], _T],
    show: Callable[[str, _T], None],
    *,
    jobs: int,
) -> None:
    """A verb's batch form (README, "Batches"): ``work`` on each input (``arguments``, ``-`` read
    from stdin, a line for each), ``jobs`` at a time on worker threads (which must not touch
    click: the main thread reads the options first); ``show`` prints each result, in the order of
    the inputs. A failure is one line on stderr, ``ocimodel: INPUT: what went wrong``, and the
    others go on; then the exit status is 1. Ctrl-C stops the work under way (at its next
    request) and drops the rest."""
    from ocimodel import _batch

    try:
        items = _batch.inputs(arguments, _stdin)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    failed = 0
    for item, result in _batch.run(items, work, jobs=jobs, cancel=_cancel):
        if isinstance(result, Exception):
            if not _reportable(result):
                raise result
            failed += 1
            if _globals().verbose:
                _trace(result)
            _complain(f"{item}: {str(result) or type(result).__name__}", result)
        else:
            show(item, result)
            sys.stdout.flush()  # each result as it comes, for a reader that acts on it at once
    if failed:
        raise click.exceptions.Exit(EXIT_ERROR)


@cli.command()
@click.argument("images", metavar="[IMAGE]...", nargs=-1)
@click.option("--full-ref", is_flag=True, help="Print the reference with its digest.")
@click.option("--tarball", "tarball_path", type=click.Path(exists=True, dir_okay=False), help="Read a tarball instead.")
@_jobs("images")
def digest(images: Sequence[str], full_ref: bool, tarball_path: str | None, jobs: int) -> None:
    """Print the digest of an image (by HEAD, falling back to GET), or of one in a tarball
    (IMAGE then picks the tag, if it holds several). Several IMAGEs, or - (a list on stdin),
    print a line 'IMAGE DIGEST' for each."""
    from ocimodel import remote
    from ocimodel._batch import is_batch
    from ocimodel.errors import RegistryError

    several = is_batch(images)
    if tarball_path is not None:
        from ocimodel import tarball

        path = tarball_path
        if several:
            _each(images, lambda tag: str(tarball.image(path, tag).digest()), _item_line, jobs=jobs)
            return
        click.echo(str(tarball.image(tarball_path, images[0] if images else None).digest()))
        return
    if not images:
        raise click.UsageError("give an IMAGE, or --tarball")
    session = _globals().session()
    by_image = _globals().platform not in (None, "all")

    def found(image: str) -> str:
        if by_image:
            digest = str(remote.image(image, session=session).digest())
        else:
            try:
                digest = str(remote.head(image, session=session).digest)
            except RegistryError:
                digest = str(remote.get(image, session=session).descriptor.digest)
        return f"{session.reference(image).repository.name}@{digest}" if full_ref else digest

    if several:
        _each(images, found, _item_line, jobs=jobs)
    else:
        click.echo(found(images[0]))


def _stdin() -> IO[str]:
    """stdin as text, read as UTF-8 whatever the locale; bytes that are not UTF-8 are replaced
    (the line is then refused as the bad input it is, naming it, not as a traceback)."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    return sys.stdin


def _item_line(item: str, value: str) -> None:
    """A batch's result line: the input as given, a space, what was found for it."""
    click.echo(f"{item} {value}")


def _item_lines(item: str, values: Sequence[str]) -> None:
    """A batch's result lines (:func:`_item_line`), one for each value found for ``item``."""
    for value in values:
        _item_line(item, value)


@cli.command()
@click.argument("images", metavar="IMAGE...", nargs=-1, required=True)
@_jobs("images")
def manifest(images: Sequence[str], jobs: int) -> None:
    """Print an image's manifest (the platform's, for an index, with --platform). Several IMAGEs,
    or - (a list on stdin), print a JSON line for each: {"reference", "digest", "mediaType",
    "manifest"}, the manifest as the registry holds it."""
    from ocimodel import remote
    from ocimodel._batch import is_batch, json_line

    session = _globals().session()
    by_image = _globals().platform not in (None, "all")
    if not is_batch(images):
        if by_image:
            data = remote.image(images[0], session=session).raw_manifest()
        else:
            data = remote.get(images[0], session=session).raw_manifest()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return

    def line(image: str) -> bytes:
        if by_image:
            found = remote.image(image, session=session)
            digest, media_type, data = found.digest(), found.media_type(), found.raw_manifest()
        else:
            got = remote.get(image, session=session)
            digest, media_type, data = got.digest, got.media_type, got.raw_manifest()
        fields = {"reference": image, "digest": str(digest), "mediaType": str(media_type)}
        return json_line(fields, "manifest", data, f"manifest of {image}")

    _each(images, line, _write_line, jobs=jobs)


def _write_line(_item: str, line: bytes) -> None:
    sys.stdout.buffer.write(line)


@cli.command()
@click.argument("image")
def config(image: str) -> None:
    """Print an image's config."""
    from ocimodel import remote

    sys.stdout.buffer.write(remote.image(image, session=_globals().session()).raw_config_file())
    sys.stdout.buffer.flush()


@cli.command(name="ls")
@click.argument("repositories", metavar="REPOSITORY...", nargs=-1, required=True)
@click.option("--full-ref", is_flag=True, help="Print full references, not just tags.")
@click.option("-O", "--omit-digest-tags", is_flag=True, help="Leave out sha256-… tags (referrers and signatures).")
@_jobs("repositories")
def list_tags(repositories: Sequence[str], full_ref: bool, omit_digest_tags: bool, jobs: int) -> None:
    """List the tags of a repository. Several REPOSITORYs, or - (a list on stdin), print a line
    'REPOSITORY TAG' for each tag."""
    from ocimodel import remote
    from ocimodel._batch import is_batch
    from ocimodel._shown import printable  # names the registry wrote: no escape sequences

    session = _globals().session()

    def tags(repository: str) -> list[str]:
        repo = session.repository(repository)
        return [
            printable(f"{repo.name}:{tag}" if full_ref else tag)
            for tag in remote.list_tags(repo, session=session)
            if not (omit_digest_tags and tag.startswith(("sha256-", "sha512-")))
        ]

    if is_batch(repositories):
        _each(repositories, tags, _item_lines, jobs=jobs)
        return
    for tag in tags(repositories[0]):
        click.echo(tag)


@cli.command()
@click.argument("registry")
@click.option("--full-ref", is_flag=True, help="Print REGISTRY/REPOSITORY, not just the repository.")
def catalog(registry: str, full_ref: bool) -> None:
    """List the repositories of a registry."""
    from ocimodel import remote
    from ocimodel._shown import printable

    for name in remote.catalog(registry, session=_globals().session()):
        click.echo(printable(f"{registry.rstrip('/')}/{name}" if full_ref else name))


@cli.command()
@click.argument("image")
@click.argument("tag")
def tag(image: str, tag: str) -> None:
    """Give an image another tag in its repository (nothing else is copied)."""
    from ocimodel import remote

    session = _globals().session()
    found = remote.get(image, session=session)
    remote.tag(found.reference.repository.tag(tag), found, session=session)


@cli.command()
@click.argument("images", metavar="IMAGE...", nargs=-1, required=True)
@_jobs("images")
def delete(images: Sequence[str], jobs: int) -> None:
    """Delete what IMAGE names: REPO:TAG the tag alone, REPO@DIGEST the manifest (and so every tag
    on it). A registry that refuses to delete tags is an error: the manifest is never deleted
    in the tag's place. Several IMAGEs, or - (a list on stdin), are deleted -j at a time (-j 1:
    in the order given)."""
    from ocimodel import remote
    from ocimodel._batch import is_batch

    session = _globals().session()
    if is_batch(images):
        _each(images, lambda image: remote.delete(image, session=session), lambda _item, _none: None, jobs=jobs)
        return
    remote.delete(images[0], session=session)


@cli.command()
@click.argument("blob")
@click.option(
    "--blob-limit",
    type=click.IntRange(1),
    default=None,
    metavar="BYTES",
    help="The most bytes read of a blob whose size the registry states nowhere (default 1 GiB).",
)
def blob(blob: str, blob_limit: int | None) -> None:
    """Write a blob (repository@sha256:…) to stdout, verified. It stops at the size the registry
    states for it (Content-Length of its GET, else of its HEAD); where the registry states none,
    at --blob-limit bytes."""
    from ocimodel import remote

    options: dict[str, Any] = {} if blob_limit is None else {"blob_limit": blob_limit}
    with remote.layer(blob, session=_globals().session(**options)).compressed() as stream:
        while chunk := stream.read(1 << 20):
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


@cli.command()
@click.argument("arguments", metavar="SOURCE DESTINATION | SOURCE... PREFIX/ | - [PREFIX/]", nargs=-1, required=True)
@click.option("-a", "--all-tags", is_flag=True, help="Copy every tag of the source repository (-j tags at once).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Blobs moved at once (with several sources: images copied at once, too).",
)
@click.option(
    "-n", "--no-clobber", is_flag=True, help="Refuse to overwrite an existing tag (with -a: leave out those there)."
)
def copy(arguments: Sequence[str], all_tags: bool, jobs: int, no_clobber: bool) -> None:
    """Copy an image or index between repositories (mounting blobs within a registry); also
    spelt cp, as in crane.

    Several at once: SOURCE... PREFIX/ copies each source to PREFIX/ followed by its repository
    path and tag (or digest); - reads a list on stdin, a line 'SOURCE DESTINATION' for each
    copy, or with PREFIX/ a line 'SOURCE'. With -a, sources and destinations are repositories."""
    write_options = _globals().write_options()
    whole = _globals().platform in (None, "all")
    several = "-" in arguments or len(arguments) > 2 or (len(arguments) == 2 and arguments[-1].endswith("/"))
    if not several:
        if len(arguments) < 2:
            raise click.UsageError("give a SOURCE and a DESTINATION, or - for a list on stdin")
        session = _globals().session(jobs=jobs, progress="copying")
        _copy(
            arguments[0],
            arguments[1],
            session,
            all_tags,
            no_clobber,
            write_options,
            whole,
            lambda line: _say(line, False),
        )
        return
    prefix = arguments[-1] if arguments[-1].endswith("/") else None
    if prefix is None and list(arguments) != ["-"]:
        raise click.UsageError("with several sources, the destination is a prefix ending in '/' (REGISTRY/PATH/)")
    if prefix is not None and not prefix.strip("/"):
        raise click.UsageError(f"the prefix {prefix!r} names no registry")
    session = _globals().session(jobs=jobs)

    def copied(item: str) -> list[str]:
        if prefix is None:
            pair = item.split()
            if len(pair) != 2:
                from ocimodel.errors import OCIError

                raise OCIError(f"expected a line 'SOURCE DESTINATION', got {len(pair)} words")
            source, destination = pair
        else:
            source, destination = item, _under(prefix, item, session, all_tags)
        lines: list[str] = []
        _copy(source, destination, session, all_tags, no_clobber, write_options, whole, lines.append)
        return lines

    _each(arguments[:-1] if prefix is not None else arguments, copied, lambda _item, lines: _say_all(lines), jobs=jobs)


def _say_all(lines: Sequence[str]) -> None:
    for line in lines:
        _say(line, False)


def _under(prefix: str, source: str, session: Session, all_tags: bool) -> str:
    """Where ``source`` goes under ``prefix`` (``REGISTRY/PATH/``): its repository's path (without
    its registry) after the prefix, then its tag or digest (none for a repository, with -a)."""
    from ocimodel.name import Digest

    if all_tags:
        return prefix.rstrip("/") + "/" + session.repository(source).path
    found = session.reference(source)
    where = prefix.rstrip("/") + "/" + found.repository.path
    return f"{where}@{found.identifier}" if isinstance(found, Digest) else f"{where}:{found.identifier}"


def _copy(
    source: str,
    destination: str,
    session: Session,
    all_tags: bool,
    no_clobber: bool,
    write_options: dict[str, Any],
    whole: bool,
    done: Callable[[str], None],
) -> None:
    """Copy ``source`` to ``destination`` (with ``all_tags``, every tag of one repository to the
    other, ``session.jobs`` tags at a time: :func:`ocimodel.remote.copy_repository`); ``done`` is
    given ``REPOSITORY@DIGEST`` of each copy made."""
    from ocimodel import remote
    from ocimodel.errors import OCIError

    if all_tags:
        from ocimodel._arenas import cap_arenas

        cap_arenas()  # tags are copied -j at a time, each with its own blob workers: many threads
        target_name = session.repository(destination).name
        remote.copy_repository(
            source,
            destination,
            no_clobber=no_clobber,
            platform_only=not whole,
            copied=lambda _, digest: done(f"{target_name}@{digest}"),
            session=session,
            **write_options,
        )
        return
    pairs = [(session.reference(source), session.reference(destination))]
    for src, dst in pairs:
        if no_clobber and _exists(dst, session):
            raise OCIError(f"refusing to overwrite {dst}: it exists (-n)")
        target = _target(str(src), session, whole=whole)
        remote.multi_write({dst: target}, session=session, **write_options)
        done(f"{dst.repository.name}@{target.digest()}")


def _exists(reference: Reference, session: Session) -> bool:
    """Whether a manifest is at ``reference``: by HEAD, and by GET where the HEAD says nothing
    (refused, no digest, a server error: HEAD is optional), as crane's digest falls back. A 403
    is "not there": Artifactory answers so for a manifest it does not have."""
    from ocimodel import remote
    from ocimodel.errors import NotFound, RegistryError, TransportError

    try:
        remote.head(reference, session=session)
        return True
    except NotFound:
        return False
    except (RegistryError, TransportError):
        pass
    try:
        remote.get(reference, session=session)
    except NotFound:
        return False
    except RegistryError as error:
        if error.status != 403:
            raise
        return False
    return True


@cli.command()
@click.argument("images", nargs=-1, required=True)
@click.argument("path", type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "output",
    type=click.Choice(["tarball", "legacy", "oci"]),
    default="tarball",
    show_default=True,
    help="tarball: docker save's (with an OCI layout inside); legacy: the classic docker save; oci: an OCI layout.",
)
@click.option(
    "--annotate-ref", is_flag=True, help="With --format oci: name each entry by its full reference, not as given."
)
def pull(images: Sequence[str], path: str, output: str, annotate_ref: bool) -> None:
    """Pull images into a docker tarball ('-' for stdout) or an OCI layout at PATH."""
    import attrs

    from ocimodel import layout, remote

    if output == "oci" and path == "-":
        raise click.UsageError("an OCI layout is a folder: give its path, not '-'")
    session = _globals().session(progress="pulling")
    if output == "oci":
        place = layout.Layout(path)
        for reference in images:
            target = _target(reference, session)
            remote.pull(target, place, jobs=session.jobs, progress=session.progress)
            named = session.reference(reference).name if annotate_ref else str(reference)
            entry = attrs.evolve(target.descriptor(), annotations={layout.REF_NAME: named})
            place.append_descriptor(entry)
        return
    chosen: dict[Reference | str, Image] = {reference: remote.image(reference, session=session) for reference in images}
    _write_tarball(path, chosen, "pulling", legacy=output == "legacy")


def _layout_entry(root: ImageIndex, path: str) -> Image | ImageIndex:
    """What ``push LAYOUT`` pushes without ``--index``: index.json's one entry, an image or an
    index (as crane does, so a layout pulled with ``--platform all`` pushes back under its own
    digest), else the one image among its entries."""
    from ocimodel.errors import OCIError
    from ocimodel.image import Image

    entries = root.index_manifest().manifests
    if len(entries) == 1 and entries[0].media_type.is_index():
        return root.image_index(entries[0].digest)
    images = [child for _, child in root.children() if isinstance(child, Image)]
    if len(images) != 1:
        raise OCIError(
            f"the layout at {path} holds {len(entries)} entries, {len(images)} of them images: "
            "push index.json itself with --index"
        )
    return images[0]


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("image")
@click.option("--index", "as_index", is_flag=True, help="Push a layout's index.json itself, as an index.")
@click.option("--image-refs", type=click.Path(allow_dash=True), help="Also write the digest reference to this file.")
def push(path: str, image: str, as_index: bool, image_refs: str | None) -> None:
    """Push a docker tarball or an OCI layout to IMAGE; print its digest reference.

    A layout's one entry is pushed (an image, or an index such as a pull with --platform all
    made), or its one image; --index pushes index.json itself."""
    from pathlib import Path

    from ocimodel import remote

    session = _globals().session(progress="pushing")
    target: Image | ImageIndex
    if Path(path).is_dir():
        from ocimodel import layout

        root = layout.Layout(path).image_index()
        target = root if as_index else _layout_entry(root, path)
    else:
        from ocimodel import tarball

        target = tarball.image(path)
    remote.multi_write({image: target}, session=session, **_globals().write_options())
    pushed = f"{session.reference(image).repository.name}@{target.digest()}"
    _say(pushed, False)
    if image_refs is not None:
        from ocimodel._files import write_file

        write_file(_destination(image_refs), [f"{pushed}\n".encode()])


def _layers_of(paths: Sequence[str], *, compressing: bool = False) -> list[Layer]:
    """A layer for each path: a tar file as it is, a directory made into a reproducible tar.
    ``compressing``: each is compressed now, a folder's tar counted on a bar as it goes, so
    that the push then only moves bytes."""
    from pathlib import Path

    from ocimodel import layer

    made = []
    for path in paths:
        if Path(path).is_dir():
            with _step(f"compressing {path}") if compressing else contextlib.nullcontext() as bar:
                made.append(_folder_layer(path, bar))
                if compressing:
                    made[-1].digest()
            continue
        made.append(_whole_tar(layer.from_file(path), path))
    return made


def _whole_tar(made: Layer, path: str) -> Layer:
    """``made`` once its file has been read to the end as a tar: one cut short or corrupt is
    refused here, naming the file and the entry, not pushed to fail where it is unpacked."""
    from ocimodel.layer._members import tar_members

    with made.uncompressed() as stream:
        for _member, _content in tar_members(stream, lambda: path):
            pass
    return made


def _new_layers(start: Image, paths: Sequence[str]) -> Image:
    """``start`` with a layer on top for each path, in the family of its manifest (OCI or Docker)."""
    from ocimodel import mutate

    return mutate.append_layers(start, *_layers_of(paths))


def _empty_oci_image() -> Image:
    """The empty image with OCI media types (manifest and config)."""
    from ocimodel import empty, mutate
    from ocimodel.mediatype import MediaType

    return mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)


@cli.command()
@click.option("-b", "--base", help="The image to add to (default: an empty one).")
@click.option(
    "-f",
    "--new-layer",
    "--new_layer",
    "new_layers",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="A tar file or a directory, added as a layer (repeatable).",
)
@click.option("-t", "--new-tag", "--new_tag", "new_tag", required=True, help="Where to push the result.")
@click.option(
    "-o", "--output", type=click.Path(allow_dash=True), help="Write a tarball here ('-': stdout) instead of pushing."
)
@click.option("--oci-empty-base", is_flag=True, help="Without -b: start from an empty image with OCI media types.")
@click.option(
    "--set-base-image-annotations",
    "annotate_base",
    is_flag=True,
    help="Annotate the result with the base's digest (and name, for a tag).",
)
def append(
    base: str | None,
    new_layers: Sequence[str],
    new_tag: str,
    output: str | None,
    oci_empty_base: bool,
    annotate_base: bool,
) -> None:
    """Add layers (tar files, or directories made into reproducible tars) on top of an image.

    The layers take the media types of the base's family (OCI or Docker), as crane's do; with no
    base, the image is Docker's, or OCI's with --oci-empty-base or if a layer is zstd'd (Docker has
    no zstd type). A file that is not a tar (gzip'd, zstd'd or plain) is refused. Layers are gzip'd
    by the standard library's zlib, so a folder gives the same digest on every machine;
    OCIMODEL_GZIP_BACKEND=isal (or zlib-ng) is faster, with digests that may differ from one
    machine to another."""
    from ocimodel import empty, mutate, remote
    from ocimodel.name import Tag

    if base and oci_empty_base:
        raise click.UsageError("--oci-empty-base is for an empty base: it cannot go with -b")
    session = _globals().session(progress="pushing")
    made = _layers_of(new_layers, compressing=True)
    if base:
        start = remote.image(base, session=session)
    elif oci_empty_base or any(each.media_type().compression() == "zstd" for each in made):
        start = _empty_oci_image()
    else:
        start = empty.image
    result = mutate.append_layers(start, *made)
    if base and annotate_base:
        annotations = {_BASE_DIGEST: str(start.digest())}
        base_reference = session.reference(base)
        if isinstance(base_reference, Tag):
            annotations[_BASE_NAME] = base_reference.name
        result = mutate.annotations(result, annotations)
    on_stderr = _is_stdout(output)
    if output:
        _write_tarball(output, result, "writing", tag=new_tag)
    else:
        remote.write(new_tag, result, session=session, **_globals().write_options())
    _say(f"{session.reference(new_tag).repository.name}@{result.digest()}", on_stderr)


@cli.command()
@click.argument("image")
@click.argument("output", type=click.Path(allow_dash=True), default="-")
def export(image: str, output: str) -> None:
    """Write an image's flattened filesystem as a tar to OUTPUT ('-', the default: stdout)."""
    from ocimodel import mutate, remote
    from ocimodel._files import write_file
    from ocimodel._streams import chunks

    with _about(f"exporting {image}", image):
        found = remote.image(image, session=_globals().session())
        with mutate.extract(found) as stream:  # the flattened size is known only at the end
            write_file(_destination(output), chunks(_counted(stream, _progress("exporting")), 1 << 20))


@cli.command(name="validate")
@click.option("--remote", "remote_refs", multiple=True, help="An image in a registry (repeatable; -: a list on stdin).")
@click.option("--tarball", "tarball_path", type=click.Path(exists=True), help="A docker tarball.")
@click.option("--fast", is_flag=True, help="Check manifests and configs only, no blob bytes.")
@_jobs("images")
def validate_command(remote_refs: Sequence[str], tarball_path: str | None, fast: bool, jobs: int) -> None:
    """Recompute every digest of an image and check it agrees with itself. Several --remote
    images, or --remote - (a list on stdin), are each checked: a line 'PASS: IMAGE' for each that
    passes, one error line for each that does not."""
    from ocimodel import tarball
    from ocimodel._batch import is_batch

    if bool(remote_refs) == (tarball_path is not None):
        raise click.UsageError("give exactly one of --remote and --tarball")
    if is_batch(remote_refs):
        session = _globals().session()
        whole = _globals().platform in (None, "all")

        def checked(image: str) -> None:
            _validated(_target(image, session, whole=whole), image, fast)

        _each(remote_refs, checked, lambda item, _none: click.echo(f"PASS: {item}", err=True), jobs=jobs)
        return
    subject = remote_refs[0] if remote_refs else tarball_path or ""
    with _about(f"validating {subject}", subject):
        target = tarball.image(tarball_path) if tarball_path else _target(subject, _globals().session())
    _validated(target, subject, fast)
    click.echo(f"PASS: {subject}", err=True)


def _validated(target: Image | ImageIndex, subject: str, fast: bool) -> None:
    """``validate.image`` or ``validate.index``; errors that do not name ``subject`` say they
    came from validating it (:func:`_about`)."""
    from ocimodel import validate
    from ocimodel.image import Image

    with _about(f"validating {subject}", subject):
        if isinstance(target, Image):
            validate.image(target, fast=fast)
        else:
            validate.index(target, fast=fast)


def _flag_values(parse: Callable[[], _T]) -> _T:
    """A flag value read by :mod:`ocimodel._config_edits`; one that cannot be read is a usage error."""
    from ocimodel._config_edits import BadFlagValue

    try:
        return parse()
    except BadFlagValue as error:
        raise click.UsageError(str(error)) from None


def _publish(
    image: Image | ImageIndex,
    tag: str | None,
    source: str,
    output: str | None,
    session: Session,
    *,
    repository: str | None = None,
    from_index: bool = False,
) -> None:
    """Push (or, with ``output``, write a tarball of) a changed image; print its digest reference.

    Where, as crane decides it: ``tag``; else by digest into ``repository``; else ``source``
    itself, so its tag now names the result (or, for a digest reference, the result goes by its
    own digest into that repository). A digest reference given as ``tag`` is read the same way.
    One image made from an index (``from_index``) never takes the index's tag without being
    told to: the index's other platforms would be lost (crane would push it there)."""
    from ocimodel import remote
    from ocimodel.image import Image
    from ocimodel.name import Digest

    replaced = from_index and not tag and repository is None and not output and isinstance(image, Image)
    if replaced and not isinstance(session.reference(source), Digest):
        raise click.UsageError(
            f"{source} is an index: its tag would name one image and lose the other platforms; give -t"
        )
    if repository is not None:
        destination: Reference = session.repository(repository).digest(image.digest())
    else:
        destination = session.reference(tag or source)
        if isinstance(destination, Digest):
            destination = destination.repository.digest(image.digest())
    on_stderr = _is_stdout(output)
    if output:
        if not isinstance(image, Image):
            raise click.UsageError("a tarball holds images: -o cannot write an index")
        _write_tarball(output, image, "writing", tag=destination)
    elif isinstance(image, Image):
        remote.write(destination, image, session=session, **_globals().write_options())
    else:
        remote.write_index(destination, image, session=session, **_globals().write_options())
    _say(f"{destination.repository.name}@{image.digest()}", on_stderr)


@cli.command(name="mutate")
@click.argument("image")
@click.option("-a", "--annotation", "annotations", multiple=True, help="KEY=VALUE manifest annotation (a=1,b=2 too).")
@click.option("-l", "--label", "labels", multiple=True, help="KEY=VALUE config label (a=1,b=2 too).")
@click.option("-e", "--env", "env", multiple=True, help="KEY=VALUE environment variable, set where it stands.")
@click.option("--entrypoint", multiple=True, help="The entrypoint, comma-separated; clears the command.")
@click.option("--cmd", multiple=True, help="The command, comma-separated.")
@click.option("-u", "--user", help="The user to run as.")
@click.option("-w", "--workdir", help="The working directory.")
@click.option("--exposed-ports", multiple=True, help="The ports to expose, comma-separated (80/tcp,53/udp).")
@click.option("--set-platform", help="os/arch[/variant][:osversion] written into the config.")
@click.option(
    "--append",
    "appended",
    multiple=True,
    type=click.Path(exists=True),
    help="A tar file or a directory, added as a layer first (repeatable).",
)
@click.option("-t", "--tag", help="Where to push the result (default: IMAGE itself; by digest for a digest).")
@click.option("--repo", help="Push by digest into this repository instead.")
@click.option(
    "-o", "--output", type=click.Path(allow_dash=True), help="Write a tarball ('-': stdout) instead of pushing."
)
def mutate_command(
    image: str,
    annotations: Sequence[str],
    labels: Sequence[str],
    env: Sequence[str],
    entrypoint: Sequence[str],
    cmd: Sequence[str],
    user: str | None,
    workdir: str | None,
    exposed_ports: Sequence[str],
    set_platform: str | None,
    appended: Sequence[str],
    tag: str | None,
    repo: str | None,
    output: str | None,
) -> None:
    """Change an image's config and annotations as crane mutate and docker do; push the result
    and print its digest.

    -e sets a variable where it stands in Env (new ones go last); --entrypoint clears the command
    unless --cmd is given too (as docker does); --exposed-ports replaces the set; -l and -a add
    to what is there. An empty --entrypoint or --cmd ("") clears it. Without -t or --repo the
    result goes where IMAGE is: its tag is moved to the result, as crane does."""
    import attrs

    from ocimodel import mutate, remote
    from ocimodel._config_edits import csv_list, key_values, set_env
    from ocimodel.platform import Platform

    if tag and repo:
        raise click.UsageError("give -t or --repo, not both")
    new_labels = _flag_values(lambda: key_values(labels, "a label"))
    new_annotations = _flag_values(lambda: key_values(annotations, "an annotation"))
    new_env = _flag_values(lambda: key_values(env, "an environment variable", lists=False))
    session = _globals().session(progress="pushing")
    source = remote.get(image, session=session)
    found = source.image()  # from an index, the platform's image
    if appended:
        found = _new_layers(found, appended)
    config_file = found.config_file()
    run = config_file.config
    changes: dict[str, Any] = {}
    if new_labels:
        changes["labels"] = {**run.labels, **new_labels}
    if new_env:
        changes["env"] = set_env(run.env, new_env, windows=config_file.os == "windows")
    if entrypoint:
        changes["entrypoint"] = _flag_values(lambda: csv_list(entrypoint))
        changes["cmd"] = ()  # docker's rule: a new entrypoint does not inherit the old command
    if cmd:
        changes["cmd"] = _flag_values(lambda: csv_list(cmd))
    if user is not None:
        changes["user"] = user
    if workdir is not None:
        changes["working_dir"] = workdir
    if exposed_ports:
        changes["exposed_ports"] = frozenset(_flag_values(lambda: csv_list(exposed_ports)))
    edited = bool(changes or set_platform)
    if changes:
        config_file = attrs.evolve(config_file, config=attrs.evolve(run, **changes))
    if set_platform:
        platform = Platform.parse(set_platform)
        config_file = attrs.evolve(
            config_file,
            os=platform.os,
            architecture=platform.architecture,
            variant=platform.variant,
            os_version=platform.os_version,
        )
    changed: Image = mutate.config_file(found, config_file) if edited else found
    if new_annotations:
        changed = mutate.annotations(changed, new_annotations)
    _publish(changed, tag, image, output, session, repository=repo, from_index=source.media_type.is_index())


def _flattened(found: Image, name: str) -> Image:
    """``found`` with its layers squashed into one (the old history kept in the new entry's
    comment), of its kind (OCI or Docker), with its annotations; ``name``, the user's reference,
    in errors."""
    import json

    import attrs

    from ocimodel import codec, configfile, empty, layer, mutate
    from ocimodel.mediatype import MediaType

    oci = found.media_type() == MediaType.OCI_MANIFEST
    kind = MediaType.OCI_LAYER_GZIP if oci else MediaType.DOCKER_LAYER
    with _step("flattening") as bar, _about(f"flattening {name}", name):
        squashed = layer.from_opener(lambda: _counted(mutate.extract(found), bar), media_type=kind)
        squashed.digest()  # flattened and compressed now, under its bar: the push then only moves bytes
    old = found.config_file()
    history = json.dumps([codec.converter.unstructure(entry) for entry in old.history])
    start = _empty_oci_image() if oci else empty.image
    result = mutate.append(
        mutate.config_file(start, attrs.evolve(old, history=[], rootfs=configfile.RootFS())),
        mutate.Addendum(squashed, configfile.History(created_by=f"ocimodel flatten {found.digest()}", comment=history)),
    )
    if found.manifest().annotations:
        result = mutate.annotations(result, found.manifest().annotations)
    return result


def _flattened_index(
    found: ImageIndex, name: str, depth: int = 1, done: dict[Hash, Image | ImageIndex] | None = None
) -> ImageIndex:
    """Every image of ``found`` flattened (nested indexes too, each distinct one once, no deeper
    than the cap), each entry keeping its platform and annotations, the index its annotations and
    media type; attestations (platform ``unknown/unknown``) are left out, as crane leaves them."""
    from ocimodel import empty, mutate
    from ocimodel.image import Image
    from ocimodel.index import ImageIndex, deeper

    done = {} if done is None else done
    addenda = []
    for descriptor, child in found.children():
        platform = descriptor.platform
        if platform is not None and (platform.os, platform.architecture) == ("unknown", "unknown"):
            continue
        if isinstance(child, Image | ImageIndex) and descriptor.digest in done:
            flat: Image | ImageIndex | Layer = done[descriptor.digest]
        elif isinstance(child, Image):
            flat = done[descriptor.digest] = _flattened(child, name)
        elif isinstance(child, ImageIndex):
            flat = done[descriptor.digest] = _flattened_index(child, name, deeper(depth, descriptor.digest), done)
        else:  # a blob: kept as it is
            flat = child
        addenda.append(mutate.IndexAddendum(flat, platform=platform, annotations=descriptor.annotations))
    result = mutate.media_type(mutate.append_manifests(empty.index, *addenda), found.media_type())
    if found.index_manifest().annotations:
        result = mutate.annotations(result, found.index_manifest().annotations)
    return result


@cli.command()
@click.argument("image")
@click.option("-t", "--tag", help="Where to push the flattened image (default: IMAGE itself; by digest for a digest).")
def flatten(image: str, tag: str | None) -> None:
    """Squash an image's layers into one (the old history kept in the new entry's comment); for
    an index (without --platform), every image in it. As crane: without -t the result goes
    where IMAGE is, its tag moved to the result; a digest reference gets the result's digest."""
    from ocimodel import remote
    from ocimodel.image import Image

    session = _globals().session(progress="pushing")
    source = remote.get(image, session=session)
    whole = source.media_type.is_index() and _globals().platform in (None, "all")
    found = source.image_index() if whole else source.image()
    flat = _flattened(found, image) if isinstance(found, Image) else _flattened_index(found, image)
    _publish(flat, tag, image, None, session, from_index=source.media_type.is_index())


@cli.command()
@click.argument("image")
@click.option(
    "--old-base", "--old_base", "old_base", help="The base IMAGE was built on (default: from its annotations)."
)
@click.option(
    "--new-base", "--new_base", "new_base", help="The base to put its layers on (default: from its annotations)."
)
@click.option(
    "-t", "--tag", "--rebased", "tag", help="Where to push the result (default: IMAGE itself; by digest for a digest)."
)
def rebase(image: str, old_base: str | None, new_base: str | None, tag: str | None) -> None:
    """Move an image's own layers from one base onto another, as crane rebase does: the bases
    default to the image's org.opencontainers.image.base.name and .base.digest annotations, and
    the result is annotated with the new base's name and digest."""
    from ocimodel import mutate, remote

    session = _globals().session(progress="pushing")
    source = remote.get(image, session=session)
    found = source.image()  # from an index, the platform's image
    annotations = found.manifest().annotations or {}
    new_base = new_base or annotations.get(_BASE_NAME)
    if not new_base:
        raise click.UsageError(f"give --new-base: {image} has no {_BASE_NAME} annotation")
    if not old_base:
        if _BASE_DIGEST not in annotations:
            raise click.UsageError(f"give --old-base: {image} has no {_BASE_DIGEST} annotation")
        old_base = f"{session.reference(new_base).repository.name}@{annotations[_BASE_DIGEST]}"
    new = remote.image(new_base, session=session)
    with _about(f"rebasing {image} from {old_base} onto {new_base}", image):
        result = mutate.rebase(found, remote.image(old_base, session=session), new)
    new_digest = remote.head(new_base, session=session).digest
    result = mutate.annotations(result, {_BASE_DIGEST: str(new_digest), _BASE_NAME: new_base})
    _publish(result, tag, image, None, session, from_index=source.media_type.is_index())


@cli.group()
def index() -> None:
    """Look at and build image indexes."""


@index.command(name="list")
@click.argument("image")
def index_list(image: str) -> None:
    """Print each entry of an index: digest, media type, platform."""
    from ocimodel import remote
    from ocimodel._shown import printable

    for entry in remote.index(image, session=_globals().session()).index_manifest().manifests:
        click.echo(printable(f"{entry.digest} {entry.media_type} {entry.platform or ''}".rstrip()))


@index.command(name="filter")
@click.argument("image")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    required=True,
    help="Platforms to keep: os/arch[/variant][:osversion] or just os, comma-separated or repeated.",
)
@click.option("-t", "--tag", help="Where to push the filtered index (default: IMAGE itself, in place).")
def index_filter(image: str, platforms: Sequence[str], tag: str | None) -> None:
    """Keep only the entries of an index that suit the given platforms."""
    from ocimodel import mutate, remote
    from ocimodel._config_edits import csv_list
    from ocimodel.platform import Platform

    session = _globals().session()
    wanted = [
        Platform.parse(p) if "/" in p else Platform(os=p, architecture="")
        for p in _flag_values(lambda: csv_list(platforms))
    ]
    kept = mutate.remove_manifests(
        remote.index(image, session=session),
        lambda d: d.platform is None or not any(d.platform.matches(w) for w in wanted),
    )
    _publish(kept, tag, image, None, session)


@index.command(name="append")
@click.option("-b", "--base", help="The index to add to (default: an empty OCI index).")
@click.option("-m", "--manifest", "manifests", multiple=True, required=True, help="An image or index to add.")
@click.option("-t", "--tag", required=True, help="Where to push the index.")
def index_append(base: str | None, manifests: Sequence[str], tag: str) -> None:
    """Build an index from images (their platforms from their configs) and indexes."""
    from ocimodel import empty, mutate, remote

    session = _globals().session()
    start = remote.index(base, session=session) if base else empty.index
    addenda = []
    for reference in manifests:
        found = remote.get(reference, session=session)
        if found.media_type.is_index():
            addenda.append(mutate.IndexAddendum(found.image_index()))
        else:
            child = found.image()
            addenda.append(mutate.IndexAddendum(child, platform=child.config_file().platform()))
    result = mutate.append_manifests(start, *addenda)
    remote.write_index(tag, result, session=session, **_globals().write_options())
    _say(f"{session.reference(tag).repository.name}@{result.digest()}", False)


@cli.group()
def registry() -> None:
    """Run a registry."""


def _address(_context: click.Context, _parameter: click.Parameter, value: str) -> str:
    """``--address``: ``HOST:PORT`` (the host may be empty: every address), checked before use."""
    _, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, such as 127.0.0.1:5000, got {value!r}")
    return value


@registry.command()
@click.option(
    "--address", default="127.0.0.1:5000", show_default=True, callback=_address, help="host:port to listen on."
)
@click.option("--disk", type=click.Path(file_okay=False), help="Keep blobs in this folder (default: memory).")
@click.option(
    "--upload-limit",
    type=click.IntRange(min=1),
    default=1 << 30,
    show_default=True,
    help="Refuse (413) a blob larger than this many bytes.",
)
def serve(address: str, disk: str | None, upload_limit: int) -> None:
    """Serve an in-process OCI registry until interrupted."""
    from ocimodel.registry import Registry

    try:
        served = Registry(disk, address=address, upload_limit=upload_limit)
    except OSError as error:  # the address is taken, or not this machine's
        raise OSError(error.errno, f"cannot listen on {address}: {error.strerror or error}") from None
    click.echo(f"serving on {served.host}", err=True)
    try:
        served.serve_forever()
    finally:  # no new request; blobs still being written are removed as the process ends (130, 143)
        served.stop()


@cli.group()
def auth() -> None:
    """Log in and out of registries (docker's config.json)."""


def _docker_config() -> Path:
    import os
    from pathlib import Path

    folder = os.environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def _read_docker_config(path: Path) -> dict[str, Any]:
    """docker's ``config.json``: nothing there, or an empty file, is an empty config (as docker
    reads it); anything but a JSON object (whose ``auths``, if any, is an object) is a
    :class:`~ocimodel.errors.CredentialsError` naming the file, not a traceback."""
    from ocimodel._json import loads
    from ocimodel._reading import read_credentials
    from ocimodel.errors import CredentialsError

    try:
        data = read_credentials(path)  # a FIFO, a directory, /dev/zero: refused, one line naming it
    except FileNotFoundError:
        return {}
    if not data.strip():
        return {}
    try:
        found = loads(data.decode(), str(path))
    except ValueError as error:  # not UTF-8 (UnicodeDecodeError is a ValueError), or not JSON, or too deep
        raise CredentialsError(f"cannot read credentials file {path}: it is not JSON ({error})") from None
    if not isinstance(found, dict):
        raise CredentialsError(f"cannot read credentials file {path}: it is not a JSON object")
    auths = found.get("auths")
    if auths is not None and not isinstance(auths, dict):
        raise CredentialsError(f"cannot read credentials file {path}: its auths is not a JSON object")
    return found


def _host_key(registry_name: str) -> str:
    from ocimodel.name import DEFAULT_REGISTRY, Registry

    name = Registry(registry_name).name
    return "https://index.docker.io/v1/" if name == DEFAULT_REGISTRY else name


@auth.command()
@click.argument("registry_name", metavar="REGISTRY")
@click.option("-u", "--username", required=True)
@click.option("-p", "--password", help="The password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def login(registry_name: str, username: str, password: str | None, password_stdin: bool) -> None:
    """Store credentials for a registry in docker's config.json."""
    import base64
    import json

    from ocimodel._files import write_file

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.UsageError("give --password or --password-stdin")
    path = _docker_config()
    current = _read_docker_config(path)
    entry = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    current["auths"] = {**(current.get("auths") or {}), _host_key(registry_name): entry}
    write_file(path, json.dumps(current, indent=2).encode(), secret=True, folders=True)
    click.echo(f"logged in to {registry_name}", err=True)


@auth.command()
@click.argument("registry_name", metavar="REGISTRY")
def logout(registry_name: str) -> None:
    """Remove a registry's credentials from docker's config.json."""
    import json

    from ocimodel._files import write_file

    path = _docker_config()
    key = _host_key(registry_name)  # a bad name is refused, whether or not there is a file
    if path.exists():
        current = _read_docker_config(path)
        (current.get("auths") or {}).pop(key, None)
        write_file(path, json.dumps(current, indent=2).encode(), secret=True)
    click.echo(f"logged out of {registry_name}", err=True)


@auth.command()
@click.argument("repository")
@click.option("--push", is_flag=True, help="Ask for push access too.")
@click.option("-m", "--mount", "mounts", multiple=True, help="A repository to mount from (adds its pull scope).")
@click.option("-H", "--header", is_flag=True, help="Print an Authorization header instead of JSON.")
def token(repository: str, push: bool, mounts: Sequence[str], header: bool) -> None:
    """Print the token the registry's token server gives for a repository."""
    import json

    from ocimodel.transport import pull_scope, push_scope

    session = _globals().session()
    repo = session.repository(repository)
    scopes = [push_scope(repo) if push else pull_scope(repo)]
    scopes += [pull_scope(session.repository(m)) for m in mounts]
    value = session.client(repo.registry).token(scopes)
    if value is None:
        from ocimodel.errors import OCIError

        raise OCIError(f"{repo.registry} asks for no authentication")
    if header:
        click.echo(f"Authorization: {value}")
    else:
        kind, _, secret = value.partition(" ")
        click.echo(json.dumps({"token": secret, "scheme": kind.lower()}))


@auth.command(name="get")
@click.argument("registry_name", metavar="[REGISTRY]", required=False)
def auth_get(registry_name: str | None) -> None:
    """Print the credentials the default keychain finds for REGISTRY (read from stdin when not
    given), as a docker credential helper's get does: {"Username":…,"Secret":…}, or "credentials
    not found in native keychain" and exit status 1."""
    import json

    from ocimodel import authn
    from ocimodel.name import Registry

    if registry_name is None:
        registry_name = sys.stdin.read().strip()
    # docker asks helpers with a server URL (https://index.docker.io/v1/ for Docker Hub): its host
    host = registry_name.split("://", 1)[-1].split("/", 1)[0]
    found = authn.default_keychain.resolve(Registry(host))
    if isinstance(found, authn.Basic):
        answer = {"Username": found.username, "Secret": found.password}
    elif isinstance(found, authn.IdentityToken):
        answer = {"Username": "<token>", "Secret": found.token}
    elif isinstance(found, authn.Bearer):
        answer = {"Username": "", "Secret": found.token}
    else:  # the message docker's credential helper protocol gives for "none" (on stdout, as helpers do)
        click.echo("credentials not found in native keychain")
        raise click.exceptions.Exit(EXIT_ERROR)
    click.echo(json.dumps(answer, separators=(",", ":")))


_accept_globals_everywhere(cli)


def _reportable(error: Exception) -> bool:
    """Whether ``error`` is one the library or the system raises on purpose (one line, exit 1),
    rather than a bug (a traceback). ``ocimodel.errors`` is looked up, not imported: a command that
    never imported it cannot have raised one of its errors, and ``version`` stays fast."""
    errors = sys.modules.get("ocimodel.errors")
    return isinstance(error, OSError) or (errors is not None and isinstance(error, errors.OCIError))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status. After SIGINT or SIGTERM it does not return:
    once the command has unwound and its worker threads have ended (or :data:`GRACE` is over), the
    process ends with 130 or 143 (:func:`_end_now`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    with _signals_unwind():
        try:
            status = _run(arguments)
        except KeyboardInterrupt:  # a signal that came after the command, as it was ending
            status = EXIT_INTERRUPTED
        except Terminated:
            status = EXIT_TERMINATED
        if _interrupt is not None:
            _finish_interrupted(*_interrupt)
    return status


def _run(arguments: list[str]) -> int:
    """Run the command; its exit status."""
    verbose = "-v" in arguments or "--verbose" in arguments
    try:
        returned = cli.main(args=arguments, prog_name="ocimodel", standalone_mode=False)
    except click.exceptions.Exit as exit_:
        return int(exit_.exit_code)
    except click.ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `ocimodel` or `ocimodel index` alone (click 8.2+)
            error.show()  # the help, as asked
            return EXIT_USAGE
        _complain(error.format_message(), error)
        return EXIT_USAGE if isinstance(error, click.UsageError) else EXIT_ERROR
    except click.exceptions.Abort as abort:
        if isinstance(abort.__cause__, KeyboardInterrupt):  # click's way of passing Ctrl-C on
            return EXIT_INTERRUPTED
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except Terminated:
        return EXIT_TERMINATED
    except _PipeClosed:
        return _pipe_closed()
    except Exception as error:
        if not _reportable(error):
            raise
        if verbose:
            _trace(error)
        _complain(str(error) or type(error).__name__, error)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return returned if isinstance(returned, int) else EXIT_OK  # click gives a verb's Exit(n) back as n


def _trace(error: BaseException) -> None:
    """The traceback of ``error`` on stderr (``-v``), each line scrubbed as :func:`_complain`'s."""
    import traceback

    from ocimodel._shown import scrubbed

    lines = "".join(traceback.format_exception(error)).splitlines()
    click.echo("\n".join(scrubbed(line) for line in lines), err=True)


def _complain(message: str, error: Exception) -> None:
    """Print an error as the one line on stderr the README promises: ``ocimodel: message``; a
    usage error says where the verb's help is. A message of several lines (a registry's detail,
    a list of problems) is joined into one; no credential the process sent is in it, in any
    spelling, and nothing in it reaches the terminal as a control character (an escape sequence a
    registry wrote is shown as ``\\x1b``)."""
    from ocimodel._mask import mask, sent
    from ocimodel._shown import printable

    masked = mask(message, sent(), short=False)  # before the lines are joined, which could cut a secret
    line = printable("; ".join(part.strip() for part in masked.splitlines() if part.strip()))
    context = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and context is not None:
        line = f"{line.rstrip('.')} (see '{context.command_path} -h')"
    _close_bars()
    click.echo(f"ocimodel: {line}", err=True)


def _pipe_closed() -> int:
    """The exit status after a closed pipe, as ``SIGPIPE`` would end ``cat``: 141, no message. If
    stdout is the closed pipe, it is pointed at ``/dev/null``, so that the interpreter's last flush
    of what is still buffered says nothing either."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_PIPE
