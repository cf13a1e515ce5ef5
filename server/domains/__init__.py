"""One package per domain: its controller, service, hooks and read queries."""
