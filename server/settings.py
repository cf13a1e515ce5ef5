"""Server settings: an explicit object, passed to `create_app`.

Only the command-line entry point reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    demo: bool = False
    max_clock_skew_ms: int = 5 * 60 * 1000
    tombstone_horizon_days: float = 90.0
    max_changes_per_push: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024
    max_pull_limit: int = 1000
    default_pull_limit: int = 500
    token_idle_seconds: int = 30 * 24 * 3600
    read_connections: int = 4

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "fieldsync.db"
