"""The audit trail (issue 5; docs/security.md): the kinds of entries, and `audit`, which writes
one in the transaction of what it records."""

from __future__ import annotations

from ...storage.identity import audit

__all__ = ["KINDS", "audit"]

# Kinds of audit entries, as stored in `audit.kind`.
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGIN_THROTTLED = "login_throttled"
CLIENT_REVOKED = "client_revoked"
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
PUSH_FORBIDDEN = "push_forbidden"
SIGNATURE_RETRACTED = "signature_retracted"
PASSWORD_CHANGED = "password_changed"
USER_DISABLED = "user_disabled"
USER_ENABLED = "user_enabled"
SERVICE_TERMS_CHANGED = "service_terms_changed"
USER_CREATED = "user_created"
SITE_REGISTERED = "site_registered"
DISPATCH = "dispatch"  # a request's `assigned_to` as stored changed (domains/service/dispatch.py)
KINDS = (LOGIN, LOGIN_FAILED, LOGIN_THROTTLED, CLIENT_REVOKED, MEMBER_ADDED, MEMBER_REMOVED, PUSH_FORBIDDEN,
         SIGNATURE_RETRACTED, PASSWORD_CHANGED, USER_DISABLED, USER_ENABLED, SERVICE_TERMS_CHANGED,
         USER_CREATED, SITE_REGISTERED, DISPATCH)
