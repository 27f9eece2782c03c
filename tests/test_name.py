"""References: go-containerregistry's name vectors, and properties of parsing."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel import name
from ocimodel.errors import OCIError
from ocimodel.hashing import Hash
from ocimodel.hypothesis import reference_strings, references, repositories
from ocimodel.name import BadNameError, Digest, Registry, Repository, Tag, parse_reference

D = "sha256:deadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33f"

GOOD_STRICT_REGISTRIES = [
    "gcr.io",
    "gcr.io:9001",
    "index.docker.io",
    "us.gcr.io",
    "example.text",
    "localhost",
    "localhost:9090",
]
GOOD_WEAK_REGISTRIES = [""]
BAD_REGISTRIES = ["white space", "gcr?com", "user@host", "host:port", "a/b"]

GOOD_STRICT_REPOSITORIES = [
    "gcr.io/g-convoy/hello-world",
    "gcr.io/google.com/project-id/hello-world",
    "us.gcr.io/project-id/sub-repo",
    "example.text/foo/bar",
    "mirror.gcr.io/ubuntu",
    "index.docker.io/library/ubuntu",
    "example.com/a",
    "example.com/a/b",
]
GOOD_WEAK_REPOSITORIES = ["namespace/pathcomponent/image", "library/ubuntu", "ubuntu", "a", "0", "a-", "_a", "a/.b"]
BAD_REPOSITORIES = [
    "white space",
    "b@char/image",
    "",
    "UPPER/case",
    "x" * 256,
    # parts with no letter or digit: no registry has them, and '..' would reach another repository
    "-",
    "_",
    "..",
    "a/../b",
    "a/./b",
    "a//b",
    "x/-/y",
    "a/",
]

GOOD_STRICT_TAGS = [
    "gcr.io/g-convoy/hello-world:latest",
    "gcr.io/google.com/g-convoy/hello-world:latest",
    "gcr.io/project-id/with-nums:v2",
    "us.gcr.io/project-id/image:with.period.in.tag",
    "gcr.io/project-id/image:w1th-alpha_num3ric.PLUScaps",
    "domain.with.port:9001/image:latest",
]
GOOD_WEAK_TAGS = [
    "namespace/pathcomponent/image",
    "library/ubuntu",
    "gcr.io/project-id/implicit-latest",
    "www.example.test:12345/repo/path",
]
BAD_TAGS = [
    "gcr.io/project-id/bad_chars:c@n'tuse",
    "gcr.io/project-id/wrong-length:white space",
    "gcr.io/project-id/too-many-chars:thisisthetagthatneverendsitgoesonandonmyfriendsomepeoplestartedtaggingit"
    "notknowingwhatitwasandtheyllcontinuetaggingitforeverjustbecausethisisthetagthatneverends",
    "library/ubuntu:",
]

GOOD_STRICT_DIGESTS = [
    f"gcr.io/g-convoy/hello-world@{D}",
    f"gcr.io/google.com/project-id/hello-world@{D}",
    f"us.gcr.io/project-id/sub-repo@{D}",
    f"example.text/foo/bar@{D}",
]
GOOD_STRICT_TAG_DIGESTS = [
    f"example.text/foo/bar:latest@{D}",
    f"example.text:8443/foo/bar:latest@{D}",
    f"example.text/foo/bar:v1.0.0-alpine@{D}",
]
GOOD_WEAK_DIGESTS = [f"namespace/pathcomponent/image@{D}", f"library/ubuntu@{D}"]
GOOD_WEAK_TAG_DIGESTS = [f"nginx:latest@{D}", f"library/nginx:latest@{D}"]
BAD_DIGESTS = [
    "gcr.io/project-id/unknown-alg@unknown:abc123",
    "gcr.io/project-id/wrong-length@sha256:d34db33fd34db33f",
    "gcr.io/project-id/missing-digest@",
    "repo@sha256:" + ":" * 64,
    "repo@sha256:" + "sh" * 32,
    f"repo@sha256:{D}@{D}",
    f"library/nginx:@{D}",
]


@pytest.mark.parametrize("text", GOOD_STRICT_REGISTRIES)
def test_strict_registries(text: str) -> None:
    registry = Registry(text, strict=True)
    assert registry.name == text
    assert str(registry) == text


@pytest.mark.parametrize("text", GOOD_WEAK_REGISTRIES + BAD_REGISTRIES)
def test_registries_refused_by_strict_validation(text: str) -> None:
    with pytest.raises(BadNameError):
        Registry(text, strict=True)


@pytest.mark.parametrize("text", GOOD_STRICT_REGISTRIES + GOOD_WEAK_REGISTRIES)
@pytest.mark.parametrize("insecure", [False, True])
def test_weak_registries(text: str, insecure: bool) -> None:
    assert Registry(text, insecure=insecure).insecure is insecure


@pytest.mark.parametrize("text", BAD_REGISTRIES)
@pytest.mark.parametrize("insecure", [False, True])
def test_bad_registries(text: str, insecure: bool) -> None:
    with pytest.raises(BadNameError, match="bad registry"):
        Registry(text, insecure=insecure)


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("docker.io", name.DEFAULT_REGISTRY, "index.docker.io"),
        ("", name.DEFAULT_REGISTRY, "index.docker.io"),
        ("docker.io", "gcr.io", "index.docker.io"),
        ("", "gcr.io", "gcr.io"),
    ],
)
def test_default_registry(text: str, default: str, expected: str) -> None:
    assert Registry(text, default_registry=default).name == expected


def test_registry_scope() -> None:
    assert Registry("gcr.io", strict=True).scope("whatever") == "registry:catalog:*"


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("foo.svc.localhost:1234", "http"),
        ("foo.svc.local:1234", "https"),
        ("registry.local", "https"),
        ("127.0.0.1:1234", "http"),
        ("127.0.0.1", "http"),
        ("127.0.0.1.evil.com", "https"),
        ("my127.0.0.1registry.io", "https"),
        ("localhost:8080", "http"),
        ("localhost", "https"),
        ("gcr.io", "https"),
        ("index.docker.io", "https"),
        ("::1", "http"),
        ("[::1]:5000", "http"),
        ("[2001:db8::1]:5000", "https"),
        ("10.2.3.4:5000", "http"),
        ("8.8.8.8", "https"),
        ("172.16.3.4:3000", "http"),
        ("192.168.3.4", "http"),
        ("10.256.0.0:5000", "https"),
    ],
)
def test_scheme(text: str, scheme: str) -> None:
    assert Registry(text).scheme == scheme


def test_insecure_registry_uses_http() -> None:
    assert Registry("gcr.io", insecure=True).scheme == "http"


@pytest.mark.parametrize("text", GOOD_STRICT_REPOSITORIES)
def test_strict_repositories(text: str) -> None:
    assert Repository(text, strict=True).name == text


@pytest.mark.parametrize("text", GOOD_WEAK_REPOSITORIES + BAD_REPOSITORIES)
def test_repositories_refused_by_strict_validation(text: str) -> None:
    with pytest.raises(BadNameError):
        Repository(text, strict=True)


@pytest.mark.parametrize("text", GOOD_STRICT_REPOSITORIES + GOOD_WEAK_REPOSITORIES)
def test_weak_repositories(text: str) -> None:
    Repository(text)


@pytest.mark.parametrize("text", BAD_REPOSITORIES)
def test_bad_repositories(text: str) -> None:
    with pytest.raises(BadNameError, match="repository"):
        Repository(text)


def test_repository_components_and_scope() -> None:
    repository = Repository("gcr.io/project-id/image", strict=True)
    assert (repository.registry.name, repository.path) == ("gcr.io", "project-id/image")
    assert repository.scope("pull") == "repository:project-id/image:pull"
    assert Repository("ubuntu").path == "library/ubuntu"
    assert Repository("ubuntu").scope("push,pull") == "repository:library/ubuntu:push,pull"


def test_strict_docker_hub_needs_the_library_namespace() -> None:
    with pytest.raises(BadNameError, match="library/foo"):
        Repository("index.docker.io/foo", strict=True)


def test_children_of_a_repository() -> None:
    repository = Repository("example.com/repo", insecure=True)
    tag = repository.tag("foo")
    assert tag.registry.scheme == "http"
    assert str(tag) == "example.com/repo:foo"
    digest = repository.digest(D)
    assert digest.registry.scheme == "http"
    assert str(digest) == f"example.com/repo@{D}"
    assert repository.registry.repo("other", "path").name == "example.com/other/path"
    # go-containerregistry accepts any identifier here ("badf00d"); ocimodel validates it
    with pytest.raises(BadNameError, match="bad digest"):
        repository.digest("badf00d")
    with pytest.raises(BadNameError, match="bad tag"):
        repository.tag("no spaces")


@pytest.mark.parametrize("text", GOOD_STRICT_TAGS)
def test_strict_tags(text: str) -> None:
    tag = Tag(text, strict=True)
    assert tag.name == text
    assert parse_reference(text, strict=True) == tag


@pytest.mark.parametrize("text", GOOD_WEAK_TAGS + BAD_TAGS)
def test_tags_refused_by_strict_validation(text: str) -> None:
    with pytest.raises(BadNameError):
        Tag(text, strict=True)


@pytest.mark.parametrize("text", GOOD_STRICT_TAGS + GOOD_WEAK_TAGS)
def test_weak_tags(text: str) -> None:
    assert parse_reference(text) == Tag(text)


@pytest.mark.parametrize("text", BAD_TAGS)
def test_bad_tags(text: str) -> None:
    with pytest.raises(BadNameError, match="tag"):
        Tag(text)
    with pytest.raises(BadNameError, match="tag"):
        parse_reference(text)


def test_tag_components() -> None:
    tag = Tag("gcr.io/project-id/image:latest", strict=True)
    assert (tag.registry.name, tag.repository.path, tag.tag, tag.identifier) == (
        "gcr.io",
        "project-id/image",
        "latest",
        "latest",
    )
    assert str(tag.repository) == "gcr.io/project-id/image"
    assert tag.scope("pull") == "repository:project-id/image:pull"


@pytest.mark.parametrize(("default_tag", "expected"), [("latest", "latest"), ("other", "other")])
def test_default_tag(default_tag: str, expected: str) -> None:
    assert Tag("ubuntu", default_tag=default_tag).name == f"index.docker.io/library/ubuntu:{expected}"


@pytest.mark.parametrize("text", GOOD_STRICT_DIGESTS + GOOD_STRICT_TAG_DIGESTS)
def test_strict_digests(text: str) -> None:
    digest = Digest(text, strict=True)
    assert str(digest) == text
    assert parse_reference(text, strict=True) == digest


@pytest.mark.parametrize("text", GOOD_WEAK_DIGESTS + GOOD_WEAK_TAG_DIGESTS)
def test_digests_refused_by_strict_validation(text: str) -> None:
    with pytest.raises(BadNameError):
        Digest(text, strict=True)


@pytest.mark.parametrize(
    "text", GOOD_STRICT_DIGESTS + GOOD_STRICT_TAG_DIGESTS + GOOD_WEAK_DIGESTS + GOOD_WEAK_TAG_DIGESTS
)
def test_weak_digests(text: str) -> None:
    assert parse_reference(text) == Digest(text)


@pytest.mark.parametrize("text", BAD_DIGESTS)
def test_bad_digests(text: str) -> None:
    with pytest.raises(BadNameError):
        Digest(text)
    with pytest.raises(BadNameError):
        parse_reference(text)


def test_digest_components() -> None:
    digest = Digest(f"gcr.io/project-id/image@{D}", strict=True)
    assert str(digest) == f"gcr.io/project-id/image@{D}"
    assert digest.identifier == D
    assert digest.digest == Hash.parse(D)
    assert digest.tag is None
    assert str(digest.repository) == "gcr.io/project-id/image"


def test_a_tag_beside_a_digest_is_kept_but_does_not_identify() -> None:
    text = f"example.text/foo/bar:v1.0.0@{D}"
    reference = parse_reference(text, strict=True)
    assert isinstance(reference, Digest)
    assert reference.identifier == D
    assert reference.name == f"example.text/foo/bar@{D}"
    assert str(reference) == text
    assert reference.tag == "v1.0.0"
    assert reference == Digest(f"example.text/foo/bar@{D}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crossplane/provider-gcp", "registry.upbound.io/crossplane/provider-gcp:stable"),
        ("crossplane/provider-gcp:v0.14.0", "registry.upbound.io/crossplane/provider-gcp:v0.14.0"),
        ("ubuntu", "registry.upbound.io/ubuntu:stable"),
        ("gcr.io/crossplane/provider-gcp:latest", "gcr.io/crossplane/provider-gcp:latest"),
        ("localhost/testimage:mytag", "localhost/testimage:mytag"),
    ],
)
def test_parse_reference_defaulting(text: str, expected: str) -> None:
    reference = parse_reference(text, default_registry="registry.upbound.io", default_tag="stable")
    assert reference.name == expected


def test_the_design_examples() -> None:
    ref = parse_reference("ubuntu")
    assert ref.name == "index.docker.io/library/ubuntu:latest"
    assert str(ref) == "ubuntu"
    assert ref.identifier == "latest"
    assert ref.repository.path == "library/ubuntu"
    assert ref.repository.registry.name == "index.docker.io"
    assert ref.repository.registry.scheme == "https"
    assert ref.repository.scope("pull") == "repository:library/ubuntu:pull"
    assert parse_reference("localhost:5000/x").repository.registry.scheme == "http"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("UPPER", "bad repository 'UPPER' in 'UPPER': a repository may contain only lower-case letters"),
        ("repo:bad tag", "bad tag 'bad tag' in 'repo:bad tag'"),
        ("repo:", "expected a tag after the colon"),
        ("repo@sha256:abc", "bad digest in 'repo@sha256:abc'"),
        ("repo@latest", "bad digest in 'repo@latest': bad digest 'latest': expected 'algorithm:hex'"),
        ("repo:c@nt", "bad tag 'c@nt' in 'repo:c@nt'"),
        ("white space/x", "bad repository"),
        ("a:b:c/d", "bad registry 'a:b:c'"),
    ],
)
def test_error_messages_name_the_wrong_part(text: str, complaint: str) -> None:
    with pytest.raises(BadNameError, match=complaint.replace("(", r"\(")) as caught:
        parse_reference(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, OCIError)


def test_parse_reference_refuses_non_strings() -> None:
    with pytest.raises(BadNameError, match="must be a string"):
        parse_reference(None)  # type: ignore[arg-type]


@given(reference_strings())
def test_every_generated_reference_parses_back_to_itself(text: str) -> None:
    reference = parse_reference(text)
    assert str(reference) == text
    assert parse_reference(str(reference)) == reference
    assert parse_reference(reference.name) == reference
    assert parse_reference(reference.name).name == reference.name
    assert reference.name.startswith(reference.repository.name)


@given(references())
def test_references_are_values(reference: name.Reference) -> None:
    assert pickle.loads(pickle.dumps(reference)) == reference
    assert str(pickle.loads(pickle.dumps(reference))) == str(reference)
    assert {reference: 1}[parse_reference(reference.name)] == 1
    assert eval(repr(reference), {"Tag": Tag, "Digest": Digest}) == reference  # noqa: S307


@given(repositories())
def test_repositories_round_trip_through_their_name(repository: Repository) -> None:
    assert Repository(repository.name) == repository
    assert Repository(repository.name, strict=True) == repository
    assert repository.scope("pull") == f"repository:{repository.path}:pull"


@given(
    st.one_of(
        st.text(min_size=1, max_size=40),
        st.builds(lambda good, bad: good + bad, reference_strings(), st.text(min_size=1, max_size=8)),
        st.builds(lambda bad, good: bad + good, st.text(min_size=1, max_size=8), reference_strings()),
    )
)
def test_a_bad_reference_is_quoted_whole_in_its_error(text: str) -> None:
    """The user sees what they typed, not the part the parser had split off (``'Not A Valid'``
    for ``Not A Valid:ref``)."""
    message = ""
    try:
        parse_reference(text)
    except BadNameError as error:
        message = str(error)
    assert not message or repr(text) in message


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("Not A Valid:ref", "repository 'Not A Valid'"),
        ("Bad Repo@sha256:" + "a" * 64, "repository 'Bad Repo'"),
        ("bad_host.com!/x:v1", "registry 'bad_host.com!'"),
        ("localhost:99999999/x", "registry 'localhost:99999999'"),
        ("repo:bad tag", "tag 'bad tag'"),
    ],
)
def test_a_bad_reference_names_the_bad_part_and_the_whole(text: str, part: str) -> None:
    with pytest.raises(BadNameError) as raised:
        parse_reference(text)
    assert f"bad {part} in {text!r}" in str(raised.value)
