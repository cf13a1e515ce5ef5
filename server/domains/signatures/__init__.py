"""Signatures: verification against the sheet, seals, retraction."""
