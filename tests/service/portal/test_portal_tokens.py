"""Session cookies and share links are signed, expire, and cannot stand in for each
other; the signing secret comes from the settings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from models.settings import Settings
from service.portal.tokens import (
    SHARE_SALT,
    ExpiredTokenError,
    InvalidTokenError,
    PortalSigner,
    signing_secret,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_reads_back_until_it_expires() -> None:
    clock = Clock()
    signer = PortalSigner("s" * 32, clock=clock)
    token = signer.session(7, "GC00001", ttl_seconds=60)
    claims = signer.read_session(token)
    assert (claims.key_id, claims.contractor_id) == (7, "GC00001")
    assert claims.expires_at == datetime.fromtimestamp(clock.now + 60, UTC)
    clock.now += 59
    assert signer.read_session(token).key_id == 7
    clock.now += 1
    with pytest.raises(ExpiredTokenError):
        signer.read_session(token)


def test_an_altered_or_foreign_token_is_invalid() -> None:
    signer = PortalSigner("s" * 32)
    token = signer.session(7, "GC00001", ttl_seconds=60)
    payload, signature = token.split(".")
    other = PortalSigner("t" * 32).session(7, "GC00001", ttl_seconds=60)
    forged = PortalSigner("s" * 32).session(8, "GC00002", ttl_seconds=60).split(".")[0]
    for bad in (
        f"{payload}.{signature[::-1]}",
        f"{forged}.{signature}",  # another payload under this signature
        payload,
        other,  # signed with another secret
        "",
        "x" * 2000,
    ):
        with pytest.raises(InvalidTokenError):
            signer.read_session(bad)


def test_a_share_link_is_not_a_session_and_the_other_way_round() -> None:
    signer = PortalSigner("s" * 32)
    expires = datetime.now(UTC) + timedelta(days=1)
    link = signer.share("q-1", "SITE-1", expires, 7)
    claims = signer.read_share(link)
    assert (claims.quote_id, claims.site_id, claims.key_id) == ("q-1", "SITE-1", 7)
    assert claims.expires_at == expires.replace(microsecond=0)
    with pytest.raises(InvalidTokenError):
        signer.read_session(link)
    with pytest.raises(InvalidTokenError):
        signer.read_share(signer.session(1, "GC1", ttl_seconds=60))
    gone = signer.share("q-1", "SITE-1", datetime.now(UTC) - timedelta(seconds=1), 7)
    with pytest.raises(ExpiredTokenError):
        signer.read_share(gone)


def test_the_secret_is_the_configured_one_or_derived_from_the_pepper() -> None:
    configured = Settings(portal_secret="my-portal-secret", key_pepper="p1")
    assert signing_secret(configured) == "my-portal-secret"
    derived = signing_secret(Settings(portal_secret=None, key_pepper="p1"))
    assert derived != "p1"
    assert len(derived) == 64
    assert derived == signing_secret(Settings(portal_secret=None, key_pepper="p1"))
    assert derived != signing_secret(Settings(portal_secret=None, key_pepper="p2"))
    with pytest.raises(ValueError, match="empty"):
        PortalSigner("")


def test_a_share_link_without_the_key_that_made_it_is_refused() -> None:
    """Every link names its maker's API key, so that revoking the key withdraws it; a
    signed token without one (or with a non-number) is not a link."""
    secret = "s" * 32
    signer = PortalSigner(secret)
    serializer = URLSafeSerializer(
        secret, salt=SHARE_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    expires = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    for key in ({}, {"k": "7"}, {"k": True}, {"k": None}):
        token = str(serializer.dumps({"q": "q-1", "s": "SITE-1", "e": expires, **key}))
        with pytest.raises(InvalidTokenError):
            signer.read_share(token)
    token = str(serializer.dumps({"q": "q-1", "s": "SITE-1", "e": expires, "k": 7}))
    assert signer.read_share(token).key_id == 7
