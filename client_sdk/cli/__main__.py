"""`python -m client_sdk.cli`."""

from .main import run

run()
