"""References to registries, repositories, tags and digests, with go-containerregistry's rules.

Every class parses in its constructor and raises :class:`BadNameError` (a :class:`ValueError`)
naming the part that is wrong::

    >>> ref = parse_reference("ubuntu")
    >>> ref.name
    'index.docker.io/library/ubuntu:latest'
    >>> str(ref), ref.identifier, ref.repository.path
    ('ubuntu', 'latest', 'library/ubuntu')

The rules, as go-containerregistry's ``pkg/name``:

- The first path component is a registry if it contains ``.`` or ``:`` or is ``localhost`` and a
  ``/`` follows; otherwise the whole string is a repository on the default registry
  (``index.docker.io``; ``docker.io`` is always rewritten to it), where a one-component repository
  gets the ``library/`` namespace.
- Repositories are 1 to 255 characters of ``a-z0-9_-./``, each part between ``/`` holding a
  letter or digit (no ``..``, ``-`` or empty part, which no registry has); tags 1 to 128 of
  ``A-Za-z0-9_.-``; digests are ``sha256:`` (or ``sha512:``) and the right number of lower-case
  hex digits.
- A missing tag defaults to ``latest``. ``strict=True`` turns every default off: the registry, the
  tag and Docker Hub's ``library/`` must all be written out.
- :attr:`Registry.scheme` is ``"http"`` (meaning: http is allowed as a fallback) for
  ``insecure=True``, RFC 1918 addresses, ``localhost:<port>``, ``*.localhost``, ``127.0.0.1`` and
  ``::1``; ``"https"`` otherwise.

Equality ignores how a reference was written: ``Tag("ubuntu") == Tag("docker.io/library/ubuntu:latest")``;
``str()`` gives back the text as it was written, ``.name`` the fully qualified form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final, TypeAlias

import attrs

from ocimodel.errors import BadDigestError, BadNameError
from ocimodel.hashing import Hash

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "BadNameError",
    "Digest",
    "Reference",
    "Registry",
    "Repository",
    "Tag",
    "parse_reference",
]

#: The registry of references that name none (Docker Hub).
DEFAULT_REGISTRY: Final = "index.docker.io"
#: The tag of references that name none.
DEFAULT_TAG: Final = "latest"

_DOCKER_HUB_ALIAS = "docker.io"
_HUB_NAMESPACE = "library"

_REPOSITORY_CHARS = re.compile(r"[a-z0-9_\-./]*")
_HAS_ALNUM = re.compile(r"[a-z0-9]")
_TAG_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")
_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~\-]+)(?::[0-9]{1,5})?")
_LOCALHOST_SUBDOMAIN = re.compile(r".*\.localhost(?::\d{1,5})?")
_LOOPBACK = re.compile(r"127\.0\.0\.1(?::\d{1,5})?")
_IPV6_LOOPBACK = re.compile(r"::1|\[::1\](?::\d{1,5})?")
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _is_bare_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _check_registry(name: str, text: str | None = None) -> None:
    if name and not (_HOST_PORT.fullmatch(name) or _is_bare_ipv6(name)):
        where = f" in {text!r}" if text is not None and text != name else ""
        raise BadNameError(
            f"bad registry {name!r}{where}: expected a host name or IP address with an optional port, "
            "e.g. 'gcr.io' or 'localhost:5000'"
        )


def _check_repository(repository: str, text: str) -> None:
    if not 1 <= len(repository) <= 255:
        raise BadNameError(f"bad repository in {text!r}: a repository must be 1 to 255 characters long")
    if not _REPOSITORY_CHARS.fullmatch(repository):
        raise BadNameError(
            f"bad repository {repository!r} in {text!r}: a repository may contain only "
            "lower-case letters, digits, '_', '-', '.' and '/'"
        )
    # A part with no letter or digit ('..', '.', '-', an empty one) names no repository on any
    # registry (the distribution grammar starts and ends each with one), and '..' in a URL path
    # would reach another repository than the one named: '-' (stdin, for a verb that reads a
    # list) is no repository on Docker Hub either.
    for part in repository.split("/"):
        if not _HAS_ALNUM.search(part):
            raise BadNameError(
                f"bad repository {repository!r} in {text!r}: each part between '/' needs a letter or "
                f"digit, not {part!r}"
            )


def _check_tag(tag: str, text: str) -> None:
    if not 1 <= len(tag) <= 128:
        raise BadNameError(f"bad tag in {text!r}: a tag must be 1 to 128 characters long")
    if not _TAG_CHARS.fullmatch(tag):
        where = f" in {text!r}" if text != tag else ""
        raise BadNameError(f"bad tag {tag!r}{where}: a tag may contain only letters, digits, '_', '.' and '-'")


def _split_tag(text: str) -> tuple[str, str | None]:
    """``repo:tag`` -> (``repo``, ``tag``); a colon followed by a ``/`` is a port, not a tag."""
    base, colon, tag = text.rpartition(":")
    if not colon or "/" in tag:
        return text, None
    if not tag:
        raise BadNameError(f"bad reference {text!r}: expected a tag after the colon")
    return base, tag


@attrs.frozen(init=False)
class Registry:
    """A registry host, such as ``gcr.io``, ``localhost:5000`` or ``index.docker.io``.

    ``Registry("")`` and ``Registry("docker.io")`` are Docker Hub (or ``default_registry``).
    """

    #: The registry host (and port), e.g. ``"index.docker.io"``.
    name: str
    #: Whether plain http is allowed for any host (``insecure=True`` at construction).
    insecure: bool = False

    def __init__(
        self,
        name: str = "",
        *,
        strict: bool = False,
        insecure: bool = False,
        default_registry: str = DEFAULT_REGISTRY,
    ) -> None:
        if strict and not name:
            raise BadNameError("strict validation requires the registry to be named explicitly")
        _check_registry(name)
        name = name or default_registry
        if name == _DOCKER_HUB_ALIAS:
            name = DEFAULT_REGISTRY
        self.__attrs_init__(name=name, insecure=insecure)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Registry({self.name!r}{', insecure=True' if self.insecure else ''})"

    @property
    def scheme(self) -> str:
        """``"http"`` where plain http may be used (as a fallback after https), else ``"https"``."""
        name = self.name
        if (
            self.insecure
            or self._is_rfc1918()
            or name.startswith("localhost:")
            or _LOCALHOST_SUBDOMAIN.fullmatch(name)
            or _LOOPBACK.fullmatch(name)
            or _IPV6_LOOPBACK.fullmatch(name)
        ):
            return "http"
        return "https"

    def _is_rfc1918(self) -> bool:
        try:
            address = ipaddress.IPv4Address(self.name.split(":")[0])
        except ValueError:
            return False
        return any(address in network for network in _RFC1918)

    def scope(self, action: str = "*") -> str:
        """The token scope for registry-wide operations; the only one is the catalog."""
        return "registry:catalog:*"

    def repo(self, *parts: str) -> Repository:
        """The repository of this registry at ``'/'.join(parts)``, validated."""
        path = "/".join(part.strip("/") for part in parts)
        _check_repository(path, path)
        return Repository._make(self, path)


@attrs.frozen(init=False)
class Repository:
    """A repository on a registry, such as ``gcr.io/project/image`` or (on Docker Hub) ``library/ubuntu``."""

    registry: Registry
    #: The repository path as registries see it, ``library/`` included on Docker Hub.
    path: str

    def __init__(
        self,
        name: str,
        *,
        strict: bool = False,
        insecure: bool = False,
        default_registry: str = DEFAULT_REGISTRY,
    ) -> None:
        parsed = _parse_repository(name, name, strict=strict, insecure=insecure, default_registry=default_registry)
        self.__attrs_init__(registry=parsed.registry, path=parsed.path)

    @classmethod
    def _make(cls, registry: Registry, path: str) -> Repository:
        repository = cls.__new__(cls)
        repository.__attrs_init__(registry=registry, path=_with_namespace(registry, path))
        return repository

    @property
    def name(self) -> str:
        """The fully qualified name, e.g. ``index.docker.io/library/ubuntu``."""
        return f"{self.registry.name}/{self.path}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Repository({self.name!r})"

    def scope(self, action: str) -> str:
        """The token scope for ``action`` (``pull``, ``push,pull``, …) on this repository."""
        return f"repository:{self.path}:{action}"

    def tag(self, tag: str) -> Tag:
        """The tag ``tag`` of this repository (validated)."""
        _check_tag(tag, tag)
        return Tag._make(self, tag, f"{self.name}:{tag}")

    def digest(self, digest: Hash | str) -> Digest:
        """The manifest ``digest`` of this repository (validated)."""
        hash_ = _parse_digest(str(digest), str(digest))
        return Digest._make(self, hash_, None, f"{self.name}@{hash_}")


def _parse_repository(name: str, text: str, *, strict: bool, insecure: bool, default_registry: str) -> Repository:
    """The repository ``name``, part of the reference ``text`` (which error messages quote: the
    whole input the user gave, not just the part that is wrong)."""
    if not name:
        missing = "a repository name must be given"
        raise BadNameError(f"bad reference {text!r}: {missing}" if text else missing)
    registry_name, path = "", name
    first, slash, rest = name.partition("/")
    if slash and (first == "localhost" or "." in first or ":" in first):
        registry_name, path = first, rest
    _check_repository(path, text)
    _check_registry(registry_name, text)
    registry = Registry(registry_name, strict=strict, insecure=insecure, default_registry=default_registry)
    if strict and _needs_namespace(registry, path):
        raise BadNameError(
            f"bad repository {text!r}: strict validation requires the full path on Docker Hub "
            f"('{_HUB_NAMESPACE}/{path}')"
        )
    return Repository._make(registry, path)


def _needs_namespace(registry: Registry, path: str) -> bool:
    return "/" not in path and registry.name == DEFAULT_REGISTRY


def _with_namespace(registry: Registry, path: str) -> str:
    return f"{_HUB_NAMESPACE}/{path}" if _needs_namespace(registry, path) else path


def _parse_digest(digest: str, text: str) -> Hash:
    try:
        return Hash.parse(digest)
    except BadDigestError as exc:
        raise BadNameError(f"bad digest in {text!r}: {exc}") from None


class _Reference:
    """What tags and digests share: a repository, and the text they were written as."""

    __slots__ = ()
    repository: Repository
    _original: str

    @property
    def registry(self) -> Registry:
        """The registry of the reference's repository."""
        return self.repository.registry

    def scope(self, action: str) -> str:
        """The token scope for ``action`` on this reference's repository."""
        return self.repository.scope(action)

    def __str__(self) -> str:
        return self._original

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._original!r})"


@attrs.frozen(init=False, repr=False)
class Tag(_Reference):
    """A tagged image reference, such as ``ubuntu:24.04`` or ``gcr.io/project/image:v1``."""

    repository: Repository
    tag: str
    _original: str = attrs.field(eq=False, hash=False, repr=False)

    def __init__(
        self,
        name: str,
        *,
        strict: bool = False,
        insecure: bool = False,
        default_registry: str = DEFAULT_REGISTRY,
        default_tag: str = DEFAULT_TAG,
    ) -> None:
        base, tag = _split_tag(name)
        if tag is not None:
            _check_tag(tag, name)
        elif strict:
            raise BadNameError(f"bad reference {name!r}: strict validation requires an explicit tag")
        repository = _parse_repository(base, name, strict=strict, insecure=insecure, default_registry=default_registry)
        self.__attrs_init__(repository=repository, tag=tag or default_tag, original=name)

    @classmethod
    def _make(cls, repository: Repository, tag: str, original: str) -> Tag:
        ref = cls.__new__(cls)
        ref.__attrs_init__(repository=repository, tag=tag, original=original)
        return ref

    @property
    def identifier(self) -> str:
        """The tag."""
        return self.tag

    @property
    def name(self) -> str:
        """The fully qualified reference, e.g. ``index.docker.io/library/ubuntu:latest``."""
        return f"{self.repository.name}:{self.tag}"


@attrs.frozen(init=False, repr=False)
class Digest(_Reference):
    """A reference by manifest digest, such as ``ubuntu@sha256:…`` or ``gcr.io/p/i:v1@sha256:…``.

    A tag written before the digest is checked and kept in :attr:`tag` and ``str()``, but the
    digest alone identifies the content, so it is not part of :attr:`name` or of equality.
    """

    repository: Repository
    digest: Hash
    tag: str | None = attrs.field(eq=False, hash=False)
    _original: str = attrs.field(eq=False, hash=False, repr=False)

    def __init__(
        self,
        name: str,
        *,
        strict: bool = False,
        insecure: bool = False,
        default_registry: str = DEFAULT_REGISTRY,
        default_tag: str = DEFAULT_TAG,
    ) -> None:
        base, at, digest = name.partition("@")
        if not at or "@" in digest:
            raise BadNameError(f"bad reference {name!r}: a digest reference has exactly one '@', as in 'repo@sha256:…'")
        hash_ = _parse_digest(digest, name)
        try:
            tagged = Tag(
                base, strict=strict, insecure=insecure, default_registry=default_registry, default_tag=default_tag
            )
        except BadNameError:
            tag = None
        else:
            base, tag = tagged.repository.name, _split_tag(str(tagged))[1]
        repository = _parse_repository(base, name, strict=strict, insecure=insecure, default_registry=default_registry)
        self.__attrs_init__(repository=repository, digest=hash_, tag=tag, original=name)

    @classmethod
    def _make(cls, repository: Repository, digest: Hash, tag: str | None, original: str) -> Digest:
        ref = cls.__new__(cls)
        ref.__attrs_init__(repository=repository, digest=digest, tag=tag, original=original)
        return ref

    @property
    def identifier(self) -> str:
        """The digest string, ``sha256:…``."""
        return str(self.digest)

    @property
    def name(self) -> str:
        """The fully qualified reference, e.g. ``gcr.io/project/image@sha256:…``."""
        return f"{self.repository.name}@{self.digest}"


#: A tag or a digest reference: what ``parse_reference`` returns.
Reference: TypeAlias = Tag | Digest


def parse_reference(
    text: str,
    *,
    strict: bool = False,
    insecure: bool = False,
    default_registry: str = DEFAULT_REGISTRY,
    default_tag: str = DEFAULT_TAG,
) -> Reference:
    """Parse an image reference into a :class:`Tag` or, failing that, a :class:`Digest`.

    Raises :class:`BadNameError` saying which part is wrong.
    """
    if not isinstance(text, str):
        raise BadNameError(f"a reference must be a string, not {type(text).__name__}")
    try:
        return Tag(text, strict=strict, insecure=insecure, default_registry=default_registry, default_tag=default_tag)
    except BadNameError as tag_error:
        if "@" not in text:
            raise
        try:
            return Digest(
                text, strict=strict, insecure=insecure, default_registry=default_registry, default_tag=default_tag
            )
        except BadNameError as digest_error:
            # Blame the tag only if one was written ('repo:t@g') and what follows '@' is no digest.
            before, _, after = text.rpartition("@")
            if ":" not in after and ":" in before.rpartition("/")[2]:
                raise tag_error from None
            raise digest_error from None
