"""Passwords (scrypt, from the standard library) and their rule, and opaque tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sync import errors as E

from ...settings import Settings

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


# A fixed hash to check against when the username is unknown, so a wrong
# username costs as much time as a wrong password.
DUMMY_HASH = hash_password(secrets.token_hex(8))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The passwords every credential-stuffing list starts with; a longer list would be
# a file, but length already rules out most of any such list.
_COMMON = {
    "password", "password1", "password123", "passw0rd", "123456789012", "1234567890", "qwertyuiop",
    "qwerty123456", "iloveyou", "admin", "administrator", "welcome", "letmein", "changeme", "fieldsync",
    "111111111111", "000000000000", "abc123456789", "p@ssw0rd", "p@ssword", "supervisor", "technician",
}


def check_password_strength(password: str, username: str, settings: Settings) -> None:
    """The password rule outside demo mode: long enough, not built from the username, not a common one.

    No composition rules (NIST SP 800-63B): length is what makes a password hard to guess.
    """
    minimum = settings.min_password_length
    lowered = password.lower()
    if len(password) < minimum:
        raise E.WeakPassword(f"a password has at least {minimum} characters", min_length=minimum)
    if len(set(password)) < 5:
        raise E.WeakPassword("a password uses at least 5 different characters", min_length=minimum)
    if username and username.lower() in lowered:
        raise E.WeakPassword("a password does not contain the username", min_length=minimum)
    if lowered in _COMMON or lowered.rstrip("0123456789!") in _COMMON:
        raise E.WeakPassword("this password is on every list of common passwords", min_length=minimum)
