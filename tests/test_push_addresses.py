"""Which addresses count as public for push endpoints (server/push/addresses.py, pure)."""

from __future__ import annotations

import pytest

from server.push.addresses import public_ip


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible form
        ("64:ff9b::a00:5", False),  # NAT64 of 10.0.0.5
        ("2002:a00:5::1", False),  # 6to4 of 10.0.0.5
        ("push.example.org", None),
        ("localhost", None),
    ],
)
def test_an_address_is_public_only_when_what_it_reaches_is(text: str, public: bool | None) -> None:
    assert public_ip(text) is public
