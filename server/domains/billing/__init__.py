"""Charges (issue 13): charge lines priced in the write transaction, the bill, the annual quote."""
