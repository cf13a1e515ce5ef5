"""Inspections: plans, scheduling, checks, sheets."""
