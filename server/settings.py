"""Server settings: an explicit object, passed to `create_app`.

Only the command-line entry point reads the environment.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from sync.collections.callbacks import DEFAULT_POINTS
from sync.pricing import DEFAULT_TAX_BPS, MAX_TAX_BPS
from sync.schema import MAX_SIGNATURES_PER_INSPECTION, MAX_SIGNATURES_PER_PUSH

# The sheets' QR codes print the public URL: an operator's setting, bounded all the same.
MAX_PUBLIC_URL_CHARS = 200


def public_url(text: str) -> str:
    """`--public-url`: where customers reach the server (`http(s)://host[:port]`), bounded.

    No path: the console's links and redirects and an upload's `Location` are absolute (`/console/…`,
    `/files/…`), so fieldsync needs a host or port of its own (docs/operations.md); a sub-path
    behind a proxy would print QR codes that work beside a console and photo uploads that do not."""
    if len(text) > MAX_PUBLIC_URL_CHARS or not text.startswith(("http://", "https://")) or any(
            c.isspace() or c in "?#" for c in text):
        raise ValueError(f"an http:// or https:// URL without query, at most {MAX_PUBLIC_URL_CHARS} characters")
    if "/" in text.split("://", 1)[1].rstrip("/"):
        raise ValueError("a host and port only, without a path: fieldsync needs a host (or a port) of its own,"
                         " not a sub-path such as /fieldsync (docs/operations.md)")
    return text.rstrip("/")


# `--database`: an operator's setting too, bounded; it may hold a password, which is never printed.
MAX_DATABASE_URL_CHARS = 1000


def database_url(text: str) -> str:
    """`--database`: a `postgresql://` URL (libpq's form), bounded; ValueError without quoting it."""
    from urllib.parse import urlsplit

    problem = f"a postgresql://user@host[:port]/name URL, at most {MAX_DATABASE_URL_CHARS} characters"
    if len(text) > MAX_DATABASE_URL_CHARS or not text.startswith(("postgresql://", "postgres://")) or any(
            c.isspace() or not c.isprintable() for c in text):
        raise ValueError(problem)
    try:
        urlsplit(text).port  # noqa: B018  # a port that is no number
    except ValueError:
        raise ValueError(problem) from None
    return text


def shown_database(url: str) -> str:
    """A database URL as printed and logged: its password, if any, replaced by `***`."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}").geturl()


def served_url(host: str, port: int) -> str:
    """`--public-url`'s default: the address served; on every interface, this machine's name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


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
    # Uploads and blobs (issue 4).
    max_upload_bytes: int = 64 * 1024 * 1024  # Tus-Max-Size
    upload_expiry_seconds: int = 24 * 3600  # a partial upload untouched this long is deleted
    max_image_pixels: int = 50_000_000
    thumbnail_sizes: tuple[int, ...] = (160, 320, 640, 1280)
    # Where blobs live (issue 16; docs/operations.md): None is `blobs/` under data_dir, else a
    # directory or `s3://bucket/prefix`. A bucket's blobs are read through a local cache this big.
    blobs: str | None = None
    blob_cache_bytes: int = 1024 * 1024 * 1024
    # Access and limits (issue 5; docs/security.md).
    max_open_uploads_per_client: int = 8  # unfinished uploads one client may hold at once
    # Sign-in throttle (issue 9 #14, issue 10 #7): failed sign-ins within `login_window_seconds`
    # before 429 login_throttled, per username and address, per username from anywhere, and per
    # address across every username (only against guessing many usernames: one office NAT is one address).
    login_max_failures: int = 5
    login_max_failures_per_user: int = 20
    login_max_failures_per_address: int = 100
    login_window_seconds: int = 300
    refresh_idle_seconds: int = 90 * 24 * 3600  # a client's refresh credential dies unused this long
    min_password_length: int = 12  # outside demo mode (server/domains/identity/passwords.py)
    # Client strings (issue 9; docs/security.md).
    max_conflict_page_bytes: int = 1024 * 1024  # a GET /api/conflicts page stops here (next_after set)
    max_logged_field_chars: int = 256  # a rejected field's value, as JSON, logged whole up to this ...
    max_logged_change_chars: int = 16 * 1024  # ... and a rejected change's fields; longer: length and hash
    max_detail_chars: int = 512  # a rejection's `detail`, in receipts and the conflict log; any problem body's texts
    # Receipts kept per client once it has confirmed them (issue 15; server/storage/receipts.py).
    receipts_kept_per_client: int = 1000
    # Connections and bodies in flight (issue 9 #10; server/transport.py, docs/security.md).
    header_read_timeout_seconds: int = 10  # a request's headers must arrive within this (granian; 1-60)
    body_idle_timeout_seconds: int = 30  # a body that sends nothing this long is cut off: 408
    max_connections: int = 512  # connections served at once; more wait in the kernel's accept queue (granian)
    # Quotas and blob garbage collection (issue 9 #7, #9; server/domains/identity/quotas.py, server/domains/media/gc.py and service.py).
    max_clients_per_user: int = 10  # enrolled, not revoked; one more sign-in without a client_id is 429
    console_sessions_per_user: int = 5  # a console sign-in revokes the user's older console sessions past this
    max_open_upload_bytes_per_user: int = 256 * 1024 * 1024  # Upload-Length of a user's open uploads, summed
    image_workers: int = 2  # threads making thumbnails, so image work never holds the request threads
    gc_grace_hours: float = 7 * 24  # a blob no row, upload or sheet references is removed this long after upload
    gc_interval_seconds: int = 6 * 3600  # the server collects blob garbage at startup and this often (0: never)
    # Signatures (issue 9 #3; docs/security.md): more are rejected (`invalid_field`).
    max_signatures_per_push: int = MAX_SIGNATURES_PER_PUSH
    max_signatures_per_inspection: int = MAX_SIGNATURES_PER_INSPECTION  # not counting retracted ones
    # Call-back points per rating, in the order of sync.collections.callbacks.RATINGS (issue 13).
    callback_points: tuple[int, ...] = DEFAULT_POINTS
    # Reverse proxies whose X-Forwarded-For names the client's address (audit, sign-in throttle).
    trusted_proxies: tuple[str, ...] = ()
    # Where customers reach the server: the printed sheets' QR codes open `<public_url>/api/signatures/<id>`
    # (a sheet rendered ahead prints the same as a request's). `fieldsync serve --public-url`, by default
    # its host and port (`served_url`).
    public_url: str = "http://127.0.0.1:8000"
    # Where the database is (issue 16): None is the SQLite file under data_dir (`db_path`), else a
    # `postgresql://` URL that several server processes share (`database_url`; never printed whole).
    database: str | None = None
    # Tax on a bill's subtotal, in basis points (600: 6 %), one rate, rounded half up to the fen.
    tax_bps: int = DEFAULT_TAX_BPS

    def __post_init__(self) -> None:
        if isinstance(self.tax_bps, bool) or not isinstance(self.tax_bps, int) or not 0 <= self.tax_bps <= MAX_TAX_BPS:
            raise ValueError(f"tax_bps is a whole number of basis points from 0 to {MAX_TAX_BPS}")
        public_url(self.public_url)
        if self.database is not None:
            database_url(self.database)

    @property
    def database_shown(self) -> str:
        """Where the database is, as printed: the SQLite file, or the URL without its password."""
        return str(self.db_path) if self.database is None else shown_database(self.database)

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "fieldsync.db"
