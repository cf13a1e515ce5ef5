"""Identity: users, clients, tokens, memberships, sign-in throttling, passwords and the audit trail."""
