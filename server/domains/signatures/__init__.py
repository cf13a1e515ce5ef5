"""Signatures: verified at their place in a push, sealing what the customer signed; retracted by supervisors."""
