"""Hosted registries' quirks: a :class:`Profile` per registry, each a small declarative list of
the behaviours (:mod:`tests.harness.quirk_behaviours`) it is publicly reported to show, the report
cited beside each. :class:`tests.harness.quirk_site.Site` makes a profile real for one test, in
front of the real distribution registry (or the embedded one).
"""

from __future__ import annotations

import re

import attrs

from tests.harness.quirk_behaviours import (
    AcceptBasicCredentials,
    AnswerStatus,
    BasicAuth,
    BasicChallengeAfterBearer,
    Behaviour,
    CheckContentRange,
    DigestTagIsSubject,
    DropResponseHeader,
    Paginate,
    RedirectAllTo,
    RedirectBlobsToStorage,
    RefuseMount,
    ReplaceStatus,
    TokenFields,
    error_body,
)

#: The account the harness itself seeds and checks content with (never sent through a site).
ADMIN = ("quirks-admin", "quirks-admin-password")


@attrs.frozen
class Account:
    """Credentials a registry knows: everything on the repositories matching ``repositories``
    (searched in the path), ``elsewhere`` on the rest (every repository is public to read)."""

    user: str
    password: str
    repositories: str = ""
    elsewhere: tuple[str, ...] = ("pull",)
    identity_token: bool = False  # the keychain holds an OAuth2 refresh token (docker's ``identitytoken``)
    on_mirror: bool = False  # an account of the mirror host, not of the profile's own

    def may(self, repository: str) -> bool:
        return re.search(self.repositories, repository) is not None


@attrs.frozen
class TokenRealm:
    """Bearer tokens from the token server, at ``path`` on the registry's host (or on a host of
    its own), with the token service's ``quirks``."""

    path: str = "/token"
    own_host: bool = False
    quirks: tuple[Behaviour, ...] = ()


@attrs.frozen
class Profile:
    """A hosted registry, as the behaviours it is reported to show."""

    name: str
    registry: str  # who behaves like this, for people
    behaviours: tuple[Behaviour, ...] = ()
    token: TokenRealm | None = None
    accounts: tuple[Account, ...] = ()

    @property
    def mirrored(self) -> bool:
        """Whether the registry sends everything to a mirror host (which then holds the content)."""
        return any(isinstance(b, RedirectAllTo) for b in self.behaviours)

    @property
    def needs_tokens(self) -> bool:
        return self.token is not None or self.mirrored

    @property
    def writable(self) -> bool:
        """Whether pushes go through the registry (a redirecting gateway is read-only)."""
        return not self.mirrored


_MANIFEST = r"/v2/.+/manifests/"
_BLOB_PATH = r"/v2/.+/blobs/sha256:"
_PATCH_UPLOAD = r"/v2/.+/blobs/uploads/."

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "ecr",
            "Amazon ECR",
            (
                # opa#6580: ECR asks for basic credentials (user AWS, a token as password)
                BasicAuth('Basic realm="{url}/",service="ecr.amazonaws.com"'),
                # google/containerregistry#10, apple/containerization#715: HEAD of a manifest
                # answered 200 without Docker-Content-Digest
                DropResponseHeader("HEAD", _MANIFEST, "Docker-Content-Digest"),
                # opa#6580: blob GETs redirect to pre-signed S3 URLs, which refuse an Authorization
                # header (400 "Only one auth mechanism allowed")
                RedirectBlobsToStorage(),
                # aws/containers-roadmap#2860: a mount ECR cannot make starts a plain upload (202)
                RefuseMount("upload"),
                # genuinetools/reg#206 and docker-archive/migrator#96: tags come in pages (100 on
                # ECR, 2 here) linked by Link; go-containerregistry#681: n over 1000 refused
                Paginate(2, max_n=1000),
            ),
            accounts=(Account("AWS", "ecr-authorization-token"),),
        ),
        Profile(
            "ecr-public",
            "Amazon ECR Public (public.ecr.aws)",
            # SgtSilvio/gradle-oci#154: HEAD of a blob refused with 403 while GET of it works
            # (buildbuddy-io/buildbuddy#12566: the same with 401)
            (AnswerStatus("HEAD", _BLOB_PATH, 403, body=b""),),
            TokenRealm("/token"),
            (Account("ecr-public-publisher", "ecr-public-token"),),
        ),
        Profile(
            "artifactory",
            "JFrog Artifactory",
            (
                # go-containerregistry#1691, sigstore/cosign#2973: a manifest that is not there is
                # a 403 (virtual repositories), not a 404
                ReplaceStatus(
                    "HEAD|GET",
                    _MANIFEST,
                    404,
                    403,
                    error_body("UNAUTHORIZED", "The client does not have permission for manifest"),
                ),
            ),
            TokenRealm("/artifactory/api/docker/docker-local/v2/token"),
            (Account("jfrog-deployer", "artifactory-api-key"),),
        ),
        Profile(
            "harbor",
            "Harbor",
            (
                # goharbor/harbor#18856: a request carrying a bearer token that is not enough is
                # challenged with Basic realm="harbor", not with the scope it lacks
                BasicChallengeAfterBearer(),
                # ... and basic credentials are accepted on the registry API itself
                AcceptBasicCredentials(),
            ),
            TokenRealm("/service/token"),
            # go-containerregistry#1609, goharbor/harbor#17097: a robot account limited to its
            # project; mounting from a repository it cannot read is refused with 401
            (Account("robot$ci+quirks", "harbor-robot-secret", repositories=r"/(app|dst)$", elsewhere=()),),
        ),
        Profile(
            "quay",
            "Quay",
            (
                # heroku/docker-registry-client#11: Link headers without the <…>, small pages
                Paginate(2, brackets=False),
                # oauth2-proxy#3395, podman#17802: a transient 502 on a blob GET
                AnswerStatus("GET", _BLOB_PATH, 502, times=1),
                # konflux-ci/release-service-catalog#996: a 502 on an upload request; this one is
                # lost before the registry sees it, so the upload status then says `Range: 0-0`
                # (distribution#2363: "nothing held")
                AnswerStatus("PATCH", _PATCH_UPLOAD, 502, times=1),
            ),
            # podman#17802: the token request itself answered 502 once
            TokenRealm("/v2/auth", quirks=(AnswerStatus("GET", r"^/v2/auth", 502, times=1),)),
            (Account("quirks+robot", "quay-robot-token"),),
        ),
        Profile(
            "gitlab",
            "GitLab container registry",
            (
                # oras-project/oras-go#1396, oras-project/oras#2148: sha256-<hex> resolves to the
                # manifest sha256:<hex> itself
                DigestTagIsSubject(),
                # oras-project/oras#2148: no referrers API
                AnswerStatus("GET", r"/v2/.+/referrers/", 404, body=error_body("NOT_FOUND", "404 page not found")),
            ),
            # dotnet/sdk-container-builds#284: the realm is the GitLab host's /jwt/auth, not the
            # registry's host
            TokenRealm("/jwt/auth", own_host=True),
            (Account("gitlab-ci-token", "glpat-quirks"),),
        ),
        Profile(
            "dockerhub",
            "Docker Hub (registry-1.docker.io and auth.docker.io)",
            (
                # docker/hub-feedback#1669: 429 Too Many Requests with Retry-After
                AnswerStatus(
                    "GET",
                    _MANIFEST,
                    429,
                    (("Retry-After", "1"),),
                    error_body("TOOMANYREQUESTS", "You have reached your pull rate limit."),
                    times=1,
                ),
                # docker/roadmap#724: no referrers API
                AnswerStatus("GET", r"/v2/.+/referrers/", 404, body=error_body("NOT_FOUND", "not found")),
            ),
            TokenRealm(
                # distribution#1203: the realm is auth.docker.io, another host than the registry's
                "/token",
                own_host=True,
                quirks=(
                    # the OAuth2 answer (POST, a refresh token given) names the token access_token
                    # only (distribution's docs/spec/auth/oauth.md); the GET answer only token, with
                    # no expires_in (optional: distribution#979, then 60 s)
                    TokenFields("POST", ("token",)),
                    TokenFields("GET", ("access_token", "expires_in")),
                ),
            ),
            (Account("quirkshub", "dckr-pat-quirks", identity_token=True),),
        ),
        Profile(
            "presigned",
            "a registry on object storage (distribution's S3 driver, Docker Hub's and GHCR's CDNs)",
            # renovatebot/renovate#3877, distribution#432, oras-project/oras-java#334: blobs are
            # served from pre-signed URLs that reject an Authorization header
            (RedirectBlobsToStorage(),),
            TokenRealm("/token"),
            (Account("storage-user", "storage-password"),),
        ),
        Profile(
            "cross-host",
            "a gateway that sends a whole registry to another host with its own realm",
            (
                # go-containerregistry#2333, #2359 (fixed by #2360): registry A (basic auth) answers
                # 307 to registry B for every /v2/<name>/… request; B challenges with its own realm
                BasicAuth('Basic realm="registry-a"'),
                RedirectAllTo(),
            ),
            accounts=(Account("alice", "alice-secret"), Account("bob", "bob-secret", on_mirror=True)),
        ),
        Profile(
            "zot",
            "zot and olareg (strict chunk order)",
            (
                # a chunk the registry took while its answer was lost (a proxy's 502): the client
                # sends it again ...
                AnswerStatus("PATCH", _PATCH_UPLOAD, 502, times=1, after_forwarding=True),
                # ... and opencontainers/distribution-spec#590 (zot, olareg), distribution#3496:
                # an out-of-order chunk is a 416
                CheckContentRange(),
            ),
        ),
    )
}


def token_users() -> dict[str, str]:
    """Every account the token server must know (the sites' and the harness's own)."""
    users = {ADMIN[0]: ADMIN[1]}
    for profile in PROFILES.values():
        for account in profile.accounts:
            if account.on_mirror or profile.token is not None:
                users[account.user] = account.password
    return users


def grant(user: str | None, kind: str, name: str, actions: list[str]) -> list[str]:
    """The token server's policy: each account as its profile says, every repository public to read."""
    if user == ADMIN[0]:
        return actions
    if kind != "repository":
        return []
    accounts = {a.user: a for profile in PROFILES.values() for a in profile.accounts}
    account = accounts.get(user or "")
    if account is None:
        return [a for a in actions if a == "pull"]
    return actions if account.may(name) else [a for a in actions if a in account.elsewhere]
