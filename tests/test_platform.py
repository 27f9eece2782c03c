"""Platform parsing, formatting, equality and the one matching rule."""

from __future__ import annotations

import pytest
from hypothesis import given

from ocimodel import codec
from ocimodel.errors import BadPlatformError
from ocimodel.hypothesis import platforms
from ocimodel.platform import Platform


@pytest.mark.parametrize(
    ("text", "os", "architecture", "variant", "os_version"),
    [
        ("linux/amd64", "linux", "amd64", None, None),
        ("linux/arm/v7", "linux", "arm", "v7", None),
        ("linux/arm64/v8", "linux", "arm64", "v8", None),
        ("windows/amd64:10.0.17763.1234", "windows", "amd64", None, "10.0.17763.1234"),
        ("windows/arm64/v8:10.0.22621", "windows", "arm64", "v8", "10.0.22621"),
        ("  linux/s390x  ", "linux", "s390x", None, None),
    ],
)
def test_parse(text: str, os: str, architecture: str, variant: str | None, os_version: str | None) -> None:
    platform = Platform.parse(text)
    assert (platform.os, platform.architecture, platform.variant, platform.os_version) == (
        os,
        architecture,
        variant,
        os_version,
    )
    assert str(platform) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "linux",
        "linux/",
        "/amd64",
        "linux/arm/v7/extra",
        "linux/arm/",
        "linux/amd64:",
        "linux/amd64:1:2",
        "linux//v7",
    ],
)
def test_parse_refuses_malformed_platforms(text: str) -> None:
    with pytest.raises(BadPlatformError, match="bad platform") as caught:
        Platform.parse(text)
    assert isinstance(caught.value, ValueError)


@given(platforms())
def test_format_then_parse_round_trips(platform: Platform) -> None:
    parsed = Platform.parse(str(platform))
    assert (parsed.os, parsed.architecture, parsed.variant, parsed.os_version) == (
        platform.os,
        platform.architecture,
        platform.variant,
        platform.os_version,
    )


@given(platforms())
def test_json_round_trips(platform: Platform) -> None:
    assert codec.from_json(codec.to_json(platform), Platform) == platform


def test_json_field_names_follow_the_spec() -> None:
    platform = Platform("amd64", "windows", os_version="10.0.1", os_features=["win32k"], variant="v2", features=["x"])
    assert codec.to_json(platform) == (
        b'{"architecture":"amd64","os":"windows","os.version":"10.0.1","os.features":["win32k"],'
        b'"variant":"v2","features":["x"]}'
    )
    assert codec.to_json(Platform("arm64", "linux")) == b'{"architecture":"arm64","os":"linux"}'


def test_equality_ignores_feature_order_but_nothing_else() -> None:
    assert Platform("amd64", "linux", features=["a", "b"]) == Platform("amd64", "linux", features=["b", "a"])
    assert hash(Platform("amd64", "linux", features=["a", "b"])) == hash(
        Platform("amd64", "linux", features=["b", "a"])
    )
    assert Platform("arm64", "linux") != Platform("arm64", "linux", variant="v8")


P = Platform.parse


@pytest.mark.parametrize(
    ("candidate", "wanted", "expected"),
    [
        (P("linux/amd64"), P("linux/amd64"), True),
        (P("linux/amd64"), P("linux/arm64"), False),
        (P("linux/amd64"), P("windows/amd64"), False),
        # the usual aliases, both ways
        (P("linux/arm64"), P("linux/arm64/v8"), True),
        (P("linux/arm64/v8"), P("linux/arm64"), True),
        (P("linux/aarch64"), P("linux/arm64"), True),
        (P("linux/arm64"), P("linux/aarch64"), True),
        (P("linux/arm64/8"), P("linux/arm64/v8"), True),
        (P("linux/x86_64"), P("linux/amd64"), True),
        (P("linux/amd64"), P("linux/x86_64"), True),
        (P("linux/arm"), P("linux/arm/v7"), True),
        (P("linux/arm/v7"), P("linux/arm"), True),
        (P("linux/armhf"), P("linux/arm/v7"), True),
        (P("Linux/AMD64"), P("linux/amd64"), True),
        (P("macos/arm64"), P("darwin/arm64"), True),
        # variants that differ do not match, defaults included
        (P("linux/arm/v6"), P("linux/arm"), False),
        (P("linux/arm/v6"), P("linux/arm/v7"), False),
        (P("linux/arm64/v9"), P("linux/arm64"), False),
        (P("linux/amd64/v3"), P("linux/amd64"), False),
        (P("linux/amd64/v1"), P("linux/amd64"), True),
        # architectures without a default variant: an empty wanted variant is a wildcard
        (P("linux/riscv64/rva22"), P("linux/riscv64"), True),
        (P("linux/riscv64"), P("linux/riscv64/rva22"), False),
        # os.version
        (P("windows/amd64:10.0.17763.1"), P("windows/amd64"), True),
        (P("windows/amd64:10.0.17763.1"), P("windows/amd64:10.0.17763.1"), True),
        (P("windows/amd64:10.0.17763.1"), P("windows/amd64:10.0.20348.1"), False),
        (P("windows/amd64"), P("windows/amd64:10.0.20348.1"), False),
        # features: what is wanted must be present
        (Platform("amd64", "windows", os_features=["win32k"]), Platform("amd64", "windows"), True),
        (Platform("amd64", "windows"), Platform("amd64", "windows", os_features=["win32k"]), False),
        (Platform("amd64", "linux", features=["a", "b"]), Platform("amd64", "linux", features=["b"]), True),
        # attestation entries are never selected
        (Platform("unknown", "unknown"), Platform("unknown", "unknown"), False),
        (Platform("unknown", "unknown"), Platform("", ""), False),
    ],
)
def test_matching_rule(candidate: Platform, wanted: Platform, expected: bool) -> None:
    assert candidate.matches(wanted) is expected


@given(platforms())
def test_every_platform_matches_itself_and_its_normal_form(platform: Platform) -> None:
    assert platform.matches(platform)
    assert platform.normalized().matches(platform)
    assert platform.matches(platform.normalized())
    assert platform.normalized().normalized() == platform.normalized()
