"""Service work (issue 12): customer requests, their visits and events."""
