"""The response headers we parse, in every form registries are known to send them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel.errors import RegistryError
from ocimodel.transport import next_link, upload_offset

UPLOAD_RANGES = [
    ("0-1023", 1024),  # the spec's form: distribution, Harbor, Quay, Artifactory
    ("bytes=0-1023", 1024),  # distribution's old documentation
    ("Bytes = 0 - 1023", 1024),
    ("0-0", 0),  # distribution for an upload holding nothing: read as "nothing held"
    ("bytes=0-0", 0),
    ("0--1", 0),  # the inclusive end of nothing (Gitea)
    ("0-1023/4096", 1024),  # the Content-Range form
    ("bytes 0-1023/*", 1024),
    ("524288-1048575", 1048576),  # a registry that names the last chunk's range, not the whole
    ("", 0),  # no Range: nothing held, or nothing said
    (None, 0),
    ("garbage", 0),
    ("0-", 0),
    ("-5", 0),
]


@pytest.mark.parametrize(("value", "offset"), UPLOAD_RANGES)
def test_upload_offsets_as_registries_send_them(value: str | None, offset: int) -> None:
    assert upload_offset(value) == offset


@given(st.integers(1, 2**40))
def test_an_upload_range_names_the_next_byte_expected(last: int) -> None:
    assert upload_offset(f"0-{last}") == last + 1
    assert upload_offset(f"bytes=0-{last}") == last + 1


NEXT = "/v2/app/tags/list?last=t2&n=2"
LINKS = [
    (f'<{NEXT}>; rel="next"', NEXT),  # the spec's form
    (f'{NEXT}; rel="next"', NEXT),  # Quay: no angle brackets
    (f"{NEXT}; rel=next", NEXT),
    (f"<{NEXT}>", NEXT),  # no rel: go-containerregistry follows it
    (NEXT, NEXT),  # bare, no rel
    (f'</v2/app/tags/list?n=2>; rel="prev", <{NEXT}>; rel="next"', NEXT),  # several links
    (f'<{NEXT}>; rel="next prev"', NEXT),  # several relations
    (f'<{NEXT}>; title="a, b"; rel="next"', NEXT),  # a comma inside quotes
    ('</v2/app/tags/list?n=2>; rel="prev"', None),  # only a previous page
    ('<>; rel="next"', None),  # go-containerregistry: empty means no next page
    ("", None),
    (None, None),
    (f'https://registry.example{NEXT}; rel="next"', f"https://registry.example{NEXT}"),
    (f"<{NEXT}>; rel='next'", NEXT),  # single quotes
    (f'/v2/app/tags/list?n=2; rel="prev", {NEXT}; rel="next"', NEXT),  # bare links, prev and next
    (f'/v2/app/tags/list?n=2; rel="prev",{NEXT}; rel="next"', NEXT),
    (f'{NEXT}; rel="next", /v2/app/tags/list?n=2; rel="prev"', NEXT),
    ("/v2/app/tags/list?last=a,b&n=2; rel=next", "/v2/app/tags/list?last=a,b&n=2"),  # a comma in a bare URL
]


@pytest.mark.parametrize(("value", "expected"), LINKS)
def test_link_headers_as_registries_send_them(value: str | None, expected: str | None) -> None:
    assert next_link(value, "tags of app") == expected


@pytest.mark.parametrize("value", ['"/v2/x"; rel="next"', '<no end; rel="next"', "a b; rel=next"])
def test_a_link_header_that_cannot_be_read_is_an_error_not_the_last_page(value: str) -> None:
    with pytest.raises(RegistryError, match="cannot read the Link header"):
        next_link(value, "tags of app")
