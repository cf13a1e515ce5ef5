"""The on-call duty (issue 13): the monthly roster, the duty calls, who is on duty, the month's log."""
