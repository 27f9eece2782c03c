"""Authenticators and keychains: docker and podman files, credential helpers, precedence."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ocimodel import authn
from ocimodel.authn import Anonymous, AuthConfig, Basic, Bearer, ConfigFileKeychain, IdentityToken
from ocimodel.errors import BadJSONError, CredentialsError
from ocimodel.name import Registry, Repository


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home: no docker, podman or REGISTRY_AUTH_FILE credentials unless a test writes them."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def write(path: Path, config: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``docker-credential-fake`` on PATH: knows two servers, logs what it was asked."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "docker-credential-fake"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(tmp_path / 'asked')!r}, 'a').write(server + '\\n')\n"
        "known = {'helper.example': ('robot', 'helper-secret'), 'token.example': ('<token>', 'refresh-me')}\n"
        "if sys.argv[1] != 'get' or server not in known:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "user, secret = known[server]\n"
        "print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    broken = folder / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'the keyring is locked' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "asked"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("user:pass")}, Basic("user", "pass")),
        ({"auth": b64("user:pass").rstrip("=")}, Basic("user", "pass")),
        ({"username": "u", "password": "p"}, Basic("u", "p")),
        ({"auth": b64("a:b"), "username": "ignored", "password": "ignored"}, Basic("a", "b")),
        ({"auth": b64("user:pa:ss")}, Basic("user", "pa:ss")),
        ({"identitytoken": "refresh"}, IdentityToken("refresh")),
        ({"auth": b64("u:p"), "identitytoken": "refresh"}, IdentityToken("refresh", "u")),
        ({"registrytoken": "tok"}, Bearer("tok")),
        ({}, Anonymous),
        ({"auth": ""}, Anonymous),
    ],
)
def test_auth_config_entries(entry: dict[str, str], expected: object) -> None:
    assert AuthConfig.from_json(entry, "x").authenticator() == expected


@pytest.mark.parametrize("entry", [{"auth": "!!!"}, {"auth": b64("no-colon")}, {"username": 5}, []])
def test_bad_auth_entries_say_where_without_the_secret(entry: object) -> None:
    with pytest.raises(BadJSONError) as caught:
        AuthConfig.from_json(entry, "auths['r.example']").authenticator("auths['r.example']")
    assert "r.example" in str(caught.value)
    assert "no-colon" not in str(caught.value)


def test_secrets_never_show_in_repr() -> None:
    for secret in (
        Basic("user", "hunter2"),
        Bearer("hunter2"),
        IdentityToken("hunter2", "user"),
        AuthConfig(password="hunter2", auth="aHVudGVyMg=="),
    ):
        assert "hunter2" not in repr(secret)
        assert "aHVudGVyMg" not in repr(secret)
    assert Basic("u", "p").header() == "Basic " + b64("u:p")
    assert Bearer("t").header() == "Bearer t"


def test_docker_config_lookup_order(home: Path) -> None:
    write(
        home / ".docker" / "config.json",
        {
            "auths": {
                "test.io/my-repo": {"auth": b64("repo-user:repo-pass")},
                "test.io": {"auth": b64("reg-user:reg-pass")},
                "https://old.example/v1/": {"auth": b64("old:style")},
                "https://index.docker.io/v1/": {"auth": b64("hub:user")},
            }
        },
    )
    keychain = authn.default_keychain
    assert keychain.resolve(Repository("test.io/my-repo")) == Basic("repo-user", "repo-pass")
    assert keychain.resolve(Repository("test.io/other")) == Basic("reg-user", "reg-pass")
    assert keychain.resolve(Registry("test.io")) == Basic("reg-user", "reg-pass")
    assert keychain.resolve(Registry("old.example")) == Basic("old", "style")
    assert keychain.resolve(Repository("ubuntu")) == Basic("hub", "user")
    assert keychain.resolve(Repository("docker.io/library/ubuntu")) == Basic("hub", "user")
    assert keychain.resolve(Registry("unknown.example")) is Anonymous


def test_credentials_scoped_to_a_repository_or_namespace_stay_there(home: Path) -> None:
    """podman's auth.json scopes credentials with keys like ``host/ns/repo`` (a robot account for
    one project, as Harbor gives): they apply to that repository and under that namespace only;
    the rest of the host is anonymous, or gets the host's own entry."""
    write(
        home / ".config" / "containers" / "auth.json",
        {
            "auths": {
                "scoped.example/team/app": {"auth": b64("robot-app:1")},
                "scoped.example/team": {"auth": b64("robot-team:2")},
                "hosted.example/ns/app": {"auth": b64("robot-ns:3")},
                "hosted.example": {"auth": b64("host:4")},
            }
        },
    )
    keychain = authn.default_keychain
    assert keychain.resolve(Repository("scoped.example/team/app")) == Basic("robot-app", "1")
    assert keychain.resolve(Repository("scoped.example/team/other")) == Basic("robot-team", "2")
    assert keychain.resolve(Repository("scoped.example/team/deep/er")) == Basic("robot-team", "2")
    assert keychain.resolve(Repository("scoped.example/public/src")) is Anonymous
    assert keychain.resolve(Registry("scoped.example")) is Anonymous
    assert keychain.resolve(Repository("hosted.example/ns/app")) == Basic("robot-ns", "3")
    assert keychain.resolve(Repository("hosted.example/other/app")) == Basic("host", "4")


def test_docker_config_env_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home / ".docker" / "config.json", {"auths": {"r.example": {"auth": b64("home:1")}}})
    write(home / "elsewhere" / "config.json", {"auths": {"r.example": {"auth": b64("env:2")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(home / "elsewhere"))
    assert authn.default_keychain.resolve(Registry("r.example")) == Basic("env", "2")


def test_registry_auth_file_then_podman(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert authn.credentials_file() is None
    assert authn.default_keychain.resolve(Registry("r.example")) is Anonymous
    podman = write(home / ".config" / "containers" / "auth.json", {"auths": {"docker.io": {"auth": b64("pod:man")}}})
    assert authn.credentials_file() == podman
    assert authn.default_keychain.resolve(Repository("alpine")) == Basic("pod", "man")
    runtime = write(home / "run" / "containers" / "auth.json", {"auths": {"r.example": {"auth": b64("run:time")}}})
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    assert authn.credentials_file() == runtime
    explicit = write(home / "auth.json", {"auths": {"r.example": {"auth": b64("explicit:3")}}})
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert authn.default_keychain.resolve(Registry("r.example")) == Basic("explicit", "3")
    docker = write(home / ".docker" / "config.json", {"auths": {}})
    assert authn.credentials_file() == docker


def test_cred_helpers_and_store(home: Path, helper: Path) -> None:
    write(
        home / ".docker" / "config.json",
        {"credsStore": "fake", "credHelpers": {"special.example": "broken"}, "auths": {"helper.example": {}}},
    )
    keychain = authn.default_keychain
    assert keychain.resolve(Repository("helper.example/app")) == Basic("robot", "helper-secret")
    assert helper.read_text().splitlines() == ["helper.example/app", "helper.example"]
    assert keychain.resolve(Registry("token.example")) == IdentityToken("refresh-me")
    assert keychain.resolve(Registry("nobody.example")) is Anonymous
    with pytest.raises(
        CredentialsError, match=r"docker-credential-broken failed for special\.example: the keyring is locked"
    ):
        keychain.resolve(Registry("special.example"))


def test_a_missing_helper_is_an_error(home: Path) -> None:
    write(home / ".docker" / "config.json", {"credsStore": "nonexistent"})
    with pytest.raises(CredentialsError, match="docker-credential-nonexistent is not on PATH"):
        authn.default_keychain.resolve(Registry("r.example"))


def test_an_empty_config_is_no_credentials(home: Path) -> None:
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text("\n")
    assert authn.default_keychain.resolve(Registry("r.example")) is Anonymous


def test_unreadable_config_is_an_error(home: Path) -> None:
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(CredentialsError, match="cannot read credentials file"):
        authn.default_keychain.resolve(Registry("r.example"))


def test_multi_keychain(tmp_path: Path) -> None:
    empty = ConfigFileKeychain(write(tmp_path / "a.json", {"auths": {}}))
    full = ConfigFileKeychain(write(tmp_path / "b.json", {"auths": {"r.example": {"username": "u", "password": "p"}}}))
    broken = ConfigFileKeychain(write(tmp_path / "c.json", ["not", "an", "object"]))
    assert authn.multi_keychain(empty, full).resolve(Registry("r.example")) == Basic("u", "p")
    assert authn.multi_keychain(empty).resolve(Registry("r.example")) is Anonymous
    with pytest.raises(BadJSONError):
        authn.multi_keychain(broken, full).resolve(Registry("r.example"))
    assert authn.StaticKeychain(Bearer("t")).resolve(Registry("x.example")) == Bearer("t")
