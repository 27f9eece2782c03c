"""The platform an image runs on, and the one rule that decides whether an image suits a platform.

go-containerregistry has three different platform matchers; ocimodel has :meth:`Platform.matches`,
used everywhere (remote, layout, the CLI). It normalises the usual aliases first, so ``arm64`` is
``arm64/v8``, ``arm`` is ``arm/v7``, ``x86_64`` is ``amd64`` and ``aarch64`` is ``arm64``, and it never
selects the ``unknown/unknown`` entries that build tools add to indexes for attestations.
"""

from __future__ import annotations

import attrs

from ocimodel._convert import strings
from ocimodel.codec import Parsed, json_key
from ocimodel.errors import BadPlatformError

__all__ = ["Platform"]


# Architecture aliases -> (canonical name, default variant or None).
_ARCHITECTURES: dict[str, tuple[str, str | None]] = {
    "amd64": ("amd64", "v1"),
    "x86_64": ("amd64", "v1"),
    "x86-64": ("amd64", "v1"),
    "arm64": ("arm64", "v8"),
    "aarch64": ("arm64", "v8"),
    "arm": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", None),
    "386": ("386", None),
}
_OPERATING_SYSTEMS = {"macos": "darwin"}


def _normal_variant(variant: str) -> str:
    """``8`` -> ``v8``, ``v8.0`` -> ``v8``; anything else as it is, lower-cased."""
    variant = variant.lower()
    if variant[:1].isdigit():
        variant = "v" + variant
    if variant.endswith(".0") and variant[1:-2].isdigit():
        variant = variant[:-2]
    return variant


@attrs.frozen
class Platform(Parsed):
    """An operating system and CPU architecture, as in an index entry or an image config.

    Fields follow the image-spec (``os.version`` becomes ``os_version``). Equality is structural,
    except that feature lists compare as sets; use :meth:`matches` to ask whether an image *suits*
    a platform.

    >>> p = Platform.parse("linux/arm64/v8")
    >>> p.os, p.architecture, p.variant
    ('linux', 'arm64', 'v8')
    >>> str(p)
    'linux/arm64/v8'
    >>> Platform.parse("linux/arm64").matches(p)
    True
    """

    architecture: str = attrs.field(metadata=json_key("architecture"))
    os: str = attrs.field(metadata=json_key("os"))
    os_version: str | None = attrs.field(default=None, metadata=json_key("os.version"))
    os_features: tuple[str, ...] = attrs.field(
        default=(), converter=strings, eq=frozenset, metadata=json_key("os.features")
    )
    variant: str | None = attrs.field(default=None, metadata=json_key("variant"))
    features: tuple[str, ...] = attrs.field(default=(), converter=strings, eq=frozenset, metadata=json_key("features"))

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant][:os.version]``, e.g. ``linux/arm/v7`` or ``windows/amd64:10.0.17763``.

        Raises :class:`~ocimodel.errors.BadPlatformError` (a :class:`ValueError`) if a part is
        missing or empty, or there are too many.
        """
        stripped = text.strip()
        path, colon, os_version = stripped.partition(":")
        parts = path.split("/")
        if colon and (not os_version or ":" in os_version):
            raise BadPlatformError(f"bad platform {text!r}: expected one non-empty os.version after ':'")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadPlatformError(
                f"bad platform {text!r}: expected 'os/arch[/variant][:os.version]', e.g. 'linux/amd64'"
            )
        return cls(
            architecture=parts[1],
            os=parts[0],
            os_version=os_version or None,
            variant=parts[2] if len(parts) == 3 else None,
        )

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        if self.os_version:
            text += f":{self.os_version}"
        return text

    def normalized(self) -> Platform:
        """The canonical spelling: lower case, architecture aliases resolved, default variant filled in."""
        os_ = self.os.lower()
        architecture, default_variant = _ARCHITECTURES.get(self.architecture.lower(), (self.architecture.lower(), None))
        variant = _normal_variant(self.variant) if self.variant else default_variant
        return attrs.evolve(self, architecture=architecture, os=_OPERATING_SYSTEMS.get(os_, os_), variant=variant)

    def matches(self, wanted: Platform) -> bool:
        """Whether an image of this platform suits ``wanted``: the one matching rule.

        Both sides are :meth:`normalized`. Then the operating system and architecture must be
        equal, and the variant and ``os.version`` too unless ``wanted`` leaves them empty (which
        for ``amd64``, ``arm64`` and ``arm`` it cannot: they have a default variant); every feature
        ``wanted`` lists must be present. An ``unknown/unknown`` platform (an attestation entry)
        matches nothing.
        """
        if self.os.lower() == "unknown" and self.architecture.lower() == "unknown":
            return False
        have, want = self.normalized(), wanted.normalized()
        return (
            (not want.os or have.os == want.os)
            and (not want.architecture or have.architecture == want.architecture)
            and (not want.variant or have.variant == want.variant)
            and (not want.os_version or have.os_version == want.os_version)
            and set(want.os_features) <= set(have.os_features)
            and set(want.features) <= set(have.features)
        )
