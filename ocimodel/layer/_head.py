"""A first look at content offered as a layer: is it a tar at all?

A layer is a tar (compressed or not). Makers look at the first 512-byte block of the uncompressed
content, where a tar starts with a member's header, so that a file that is not a tar is refused
when it is first used rather than pushed as a layer; the whole tar is read where layers are read
anyway (``validate``, ``mutate.extract``, ``mutate.time``) by :func:`~ocimodel.layer._members.tar_members`.
"""

from __future__ import annotations

from typing import IO

from ocimodel._streams import PrefixedReader, binary, read_head
from ocimodel.compression import Compression, decompressing_reader, detect
from ocimodel.errors import BadLayerError

BLOCK = 512
_CHUNK = 1 << 20
_CHECKSUM = slice(148, 156)  # the header's chksum field: octal digits, then NUL or space


def tar_head_problem(head: bytes) -> str | None:
    """Why ``head`` (the first 512 bytes of the content; fewer if it is shorter) cannot start a
    tar, or ``None`` if it can.

    Empty content is an empty tar (docker, containerd and umoci accept 0-byte layers), and so is a
    first block of zeros (the end-of-archive marker). Anything else must be a header whose
    checksum is right: the unsigned or the signed sum of its bytes, its checksum field counted as
    eight spaces (POSIX ustar; Go's ``archive/tar`` and :mod:`tarfile` accept either sum).
    """
    if not head or head == bytes(BLOCK):
        return None
    if len(head) < BLOCK:
        return f"{len(head)} bytes, shorter than one tar header (512 bytes)"
    text = head[_CHECKSUM].split(b"\0", 1)[0].strip(b" ")
    try:
        recorded = int(text or b"0", 8)
    except ValueError:
        return "the first 512 bytes are not a tar header: no checksum where a header has one"
    rest = head[: _CHECKSUM.start] + head[_CHECKSUM.stop :]
    unsigned = sum(rest) + 8 * ord(" ")
    signed = unsigned - 256 * sum(1 for byte in rest if byte >= 0x80)
    if recorded not in (unsigned, signed):
        return "the first 512 bytes are not a tar header: wrong checksum"
    return None


def not_a_tar(name: str, problem: str) -> BadLayerError:
    """The error for content (``name``: where it came from) that is not a tar."""
    return BadLayerError(
        f"{name}: not a tar ({problem}); a layer is a tar, gzip'd, zstd'd or plain "
        "(to add a blob that is not a layer, give it its own media type, as an artifact)"
    )


def check_head(head: bytes, name: str) -> None:
    """Raise :func:`not_a_tar` if ``head`` (the uncompressed content's first 512 bytes) cannot
    start a tar."""
    problem = tar_head_problem(head)
    if problem is not None:
        raise not_a_tar(name, problem)


def sniff(stream: IO[bytes], name: str, *, check: bool = True) -> Compression:
    """The compression of the content in ``stream`` (from its magic number), after checking (if
    ``check``) that the content, decompressed, starts as a tar.

    Reads the first few blocks; ``stream`` is then spent (the caller closes it; it may be closed
    already). Raises :class:`~ocimodel.errors.BadLayerError` (naming ``name``) for content that
    is not a tar, or whose compression is corrupt from its first bytes. Compressed content whose
    first block is not a tar header is read to its end first: if the compressed stream is corrupt
    further on (a bad CRC), that, not "not a tar", is what is wrong, and it is left to be
    reported where the layer is read whole, naming the layer and the entry.
    """
    magic = read_head(stream, 4)
    found = detect(magic)
    if not check:
        return found
    if found is Compression.NONE:
        check_head(magic + read_head(stream, BLOCK - len(magic)), name)
        return found
    # the standard library's gzip reader decompresses no more than it is asked for
    backend = "zlib" if found is Compression.GZIP else None
    problem: str | None = None
    try:
        with decompressing_reader(binary(PrefixedReader(magic, stream)), found, backend=backend) as content:
            problem = tar_head_problem(read_head(content, BLOCK))
            if problem is None:
                return found
            while content.read(_CHUNK):
                pass
    except BadLayerError as error:
        if problem is None:  # the very first bytes do not decompress
            raise BadLayerError(f"{name}: {error}") from error
        return found  # corrupt further on: not this check's to say
    raise not_a_tar(name, problem)
