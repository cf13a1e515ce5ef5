"""`fieldsync-client`, the technician's command line: `main` (parser and dispatch),
`commands` (one function per command), `common` (references, files, progress) and
`messages` (all text shown)."""

from .main import main, run
from .messages import MESSAGES, _text, display_width, pad

__all__ = ["MESSAGES", "_text", "display_width", "main", "pad", "run"]
