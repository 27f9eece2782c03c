"""The referrers tag schema (distribution-spec 1.1, "Referrers Tag Schema"): where a registry
without the referrers API keeps the index of a subject's referrers, under the tag ``<alg>-<hex>``."""

from __future__ import annotations

from ocimodel._mask import logger as masked_logger
from ocimodel._shown import shown
from ocimodel.errors import NotFound, RegistryError
from ocimodel.hashing import Hash
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.transport import Client

log = masked_logger("ocimodel.remote")


def fallback_tag(subject: Hash) -> str:
    """The tag that stands for ``subject``'s referrers: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    return f"{subject.algorithm}-{subject.hex}"


def fallback_index(client: Client, repository: Repository, subject: Hash) -> IndexManifest | None:
    """The index of ``subject``'s referrers kept under its fallback tag, or ``None`` if there is none.

    A tag stands for something else, so what it gives is checked: some registries resolve a tag
    spelt like a digest to that digest's manifest (registry.gitlab.com: oras-project/oras-go#1396),
    so the "index" would be the subject itself, and an index subject's own platform manifests would
    pass for its referrers. A document whose digest is the subject's is therefore "no fallback
    index", when reading and when writing; so is a 403, which Artifactory answers for a manifest it
    does not have.

    :raises ~ocimodel.errors.RegistryError: the tag holds something that is neither the subject nor
        an OCI index (the spec says to report it rather than read or overwrite it).
    """
    tag = fallback_tag(subject)
    try:
        body = client.get_manifest(repository, tag, accept=[MediaType.OCI_INDEX])
    except NotFound:
        return None
    except RegistryError as error:
        if error.status != 403:  # Artifactory answers 403 for a manifest it does not have (ggcr#1691)
            raise
        log.debug("%s:%s answered %s: taken as no referrers index", repository, tag, error)
        return None
    if Hash.of(body.data, subject.algorithm) == subject:
        log.debug("%s:%s resolves to the subject itself: no referrers index there", repository, tag)
        return None
    try:
        index = IndexManifest.from_json(body.data)
    except ValueError:
        index = None
    declared = index.media_type if index is not None and index.media_type else body.media_type
    if index is None or declared.essence != MediaType.OCI_INDEX:
        raise RegistryError(
            f"the referrers tag {repository.name}:{tag} holds a {shown(str(body.media_type))}, not an OCI image index: "
            "left as it is",
            status=200,
            method="GET",
        )
    return index
