"""One package per domain: its controller, service, hooks, read queries (a Protocol) and schemas."""
