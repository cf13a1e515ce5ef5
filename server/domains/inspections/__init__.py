"""Inspections: maintenance plans, scheduling, and the supervisor's questions (coverage, history, lists, sheets)."""
