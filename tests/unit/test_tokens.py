"""The token codec remembers access tokens it verified, and that memory never accepts what verification
would refuse: an expired token, another kind, or any other text (a forged signature)."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from app.domain.accounts import tokens
from app.domain.accounts.tokens import LEEWAY_SECONDS, TokenCodec
from app.errors import Unauthorized

SECRET = "a-test-secret-of-at-least-32-bytes!!"


def codec() -> TokenCodec:
    return TokenCodec(SECRET, "HS256", {"access": 60, "refresh": 3600, "ticket": 30})


def test_a_remembered_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens_codec = codec()
    token = tokens_codec.issue("access", 7, uuid.uuid4()).token
    first = tokens_codec.decode(token, "access")
    monkeypatch.setattr(jwt, "decode", lambda *_, **__: pytest.fail("verified twice"))
    assert tokens_codec.decode(token, "access") == first
    assert first.user_id == 7


def test_a_remembered_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens_codec = codec()
    token = tokens_codec.issue("access", 7, uuid.uuid4()).token
    claims = tokens_codec.decode(token, "access")
    later = claims.exp + LEEWAY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        tokens_codec.decode(token, "access")
    assert token not in tokens_codec._verified  # forgotten: the next use is verified again


def test_a_remembered_token_is_still_only_its_own_kind() -> None:
    tokens_codec = codec()
    token = tokens_codec.issue("access", 7, uuid.uuid4()).token
    tokens_codec.decode(token, "access")
    assert token in tokens_codec._verified
    with pytest.raises(Unauthorized, match="Invalid token"):
        tokens_codec.decode(token, "refresh")


def test_tokens_used_once_are_not_kept() -> None:
    tokens_codec = codec()
    for kind in ("refresh", "ticket"):
        token = tokens_codec.issue(kind, 7, uuid.uuid4()).token
        tokens_codec.decode(token, kind)
        assert token not in tokens_codec._verified


def test_another_signature_on_a_remembered_token_is_refused() -> None:
    tokens_codec = codec()
    token = tokens_codec.issue("access", 7, uuid.uuid4()).token
    tokens_codec.decode(token, "access")
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(Unauthorized, match="Invalid token"):
        tokens_codec.decode(forged, "access")


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS", 3)
    tokens_codec = codec()
    issued = [tokens_codec.issue("access", n, uuid.uuid4()).token for n in range(5)]
    for token in issued:
        tokens_codec.decode(token, "access")
    assert list(tokens_codec._verified) == issued[-3:]  # the oldest went first
