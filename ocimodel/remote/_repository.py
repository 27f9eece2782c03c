"""Copying the tags of one repository into another (go-containerregistry's ``CopyRepository``):
several tags at once, each blob the tags share moved once, memory bounded however many tags."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from ocimodel.descriptor import Descriptor as SpecDescriptor
from ocimodel.errors import OCIError
from ocimodel.hashing import Hash
from ocimodel.name import Repository
from ocimodel.remote._objects import Descriptor, fetch_manifest
from ocimodel.remote._session import Session
from ocimodel.remote._write import Writer, in_context

#: Tags copied with one writer before the next is made. A writer remembers each blob it pushed,
#: so that the tags sharing it move it once; a fresh one now and then keeps memory flat over any
#: number of tags, for one ``HEAD`` per shared blob again.
WRITER_SPAN = 128

#: Called with each tag copied and the digest now under it (from the copying threads, one at a time).
Copied = Callable[[str, Hash], None]


def copy_tags(
    session: Session,
    source: Repository,
    destination: Repository,
    tags: Iterable[str],
    writers: Callable[[], Writer],
    *,
    platform_only: bool = False,
    copied: Copied | None = None,
) -> None:
    """Copy each of ``tags`` from ``source`` to the same tag in ``destination``: ``session.jobs``
    tags at a time, each fetched (its manifest), then written by a writer from ``writers``
    shared with the tags before and after it. The first failure stops the copy: tags not yet
    started are left, those under way finish, and the error, naming the tag, is raised.

    :param platform_only: from an index, copy only the image for the session's platform (else
        the index whole, as every image is).
    """
    report = threading.Lock()

    def one(tag: str, writer: Writer) -> None:
        here, there = source.tag(tag), destination.tag(tag)
        try:
            body = fetch_manifest(session, here)
            found = Descriptor(here, SpecDescriptor(body.media_type, len(body.data), body.digest), body, session)
            target = found.image_index() if found.media_type.is_index() and not platform_only else found.image()
            writer.write({there: target})
            digest = target.digest()
        except OCIError as error:
            raise in_context(error, f"copying {here.name} to {there.name}") from None
        if copied is not None:
            with report:
                copied(tag, digest)

    ahead = 2 * session.jobs  # tags handed to the pool before waiting: a few, never all of them
    pending: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=session.jobs, thread_name_prefix="ocimodel-copy") as pool:
        try:
            writer, used = writers(), 0
            for tag in tags:
                if used == WRITER_SPAN:
                    writer, used = writers(), 0
                used += 1
                pending.add(pool.submit(one, tag, writer))
                if len(pending) >= ahead:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    _raise_first(done)
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            _raise_first(done)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _raise_first(done: Iterable[Future[None]]) -> None:
    for future in done:
        error = future.exception()
        if error is not None:
            raise error
