"""Stream tokens: bound to one session, one scope and a time; anything malformed is simply refused."""

from __future__ import annotations

import pytest

from api import session_tokens
from api.session_tokens import READ, WRITE

KEY = b"k" * 32
BOTH = frozenset({READ, WRITE})


def test_a_token_opens_its_session_in_its_scope_until_it_expires() -> None:
    token = session_tokens.issue(KEY, "s1", 60, now=1000, scope=READ)

    assert session_tokens.verify(KEY, "s1", token, BOTH, now=1059)
    assert not session_tokens.verify(KEY, "s1", token, frozenset({WRITE}), now=1000)
    assert not session_tokens.verify(KEY, "s2", token, BOTH, now=1000)
    assert not session_tokens.verify(KEY, "s1", token, BOTH, now=1061)
    assert session_tokens.expiry(token) == 1060


def test_a_read_token_cannot_be_turned_into_a_write_one() -> None:
    token = session_tokens.issue(KEY, "s1", 60, now=1000, scope=READ)

    assert not session_tokens.verify(KEY, "s1", token.replace(".r.", ".w."), BOTH, now=1000)


@pytest.mark.parametrize("token", ["", "..", "1.w.", "\u00b2.w." + "0" * 64, "9" * 5000 + ".w." + "0" * 64,
                                   "\u0661\u0662.w." + "0" * 64, "1.w." + "0" * 64 + "\n", "1.x." + "0" * 64,
                                   "1.w." + "\u00e9" * 64, "x" * 100_000])
def test_a_malformed_token_is_refused_without_an_error(token: str) -> None:
    assert not session_tokens.verify(KEY, "s1", token, BOTH, now=0)
    assert session_tokens.expiry(token) == 0
