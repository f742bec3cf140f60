"""Service settings, read from the environment (MLA_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _positive(env: Mapping[str, str], name: str, default: int, *, zero: bool = False) -> int:
    value = _int(env, name, default)
    if value < 0 or (value == 0 and not zero):
        raise ConfigError(f"{name} must be {'0 or more' if zero else 'more than 0'}, got {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be more than 0, got {raw}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _witnesses(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """MLA_WITNESSES: `<witness verifier key> <URL>` pairs, separated by commas or newlines."""
    from .crypto.cosignature import WitnessVerifier
    from .crypto.errors import CryptoError

    raw = env.get("MLA_WITNESSES", "")
    pairs: list[tuple[str, str]] = []
    for item in raw.replace("\n", ",").split(","):
        if not item.strip():
            continue
        fields = item.split()
        if len(fields) != 2:
            raise ConfigError(
                f"MLA_WITNESSES: each witness is '<verifier key> <URL>', got {item.strip()!r}"
            )
        vkey, url = fields
        try:
            WitnessVerifier.from_vkey(vkey)
        except CryptoError as exc:
            raise ConfigError(f"MLA_WITNESSES: {vkey!r} is not a witness key: {exc}") from exc
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"MLA_WITNESSES: {url!r} is not an http(s) URL")
        if any(vkey == known for known, _ in pairs):
            raise ConfigError(f"MLA_WITNESSES: {vkey} is listed twice")
        pairs.append((vkey, url))
    return tuple(pairs)


def _log_format(env: Mapping[str, str]) -> str:
    value = env.get("MLA_LOG_FORMAT", "").strip().lower() or "json"
    if value not in ("json", "text"):
        raise ConfigError(f"MLA_LOG_FORMAT must be json or text, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str = ""
    operator_token: str | None = None
    max_body_bytes: int = 1_048_576
    blob_dir: Path | None = None
    max_package_bytes: int = 64 * 1024**3
    #: How long an agency's session token lives (MLA_SESSION_TTL_SECONDS).
    session_ttl_seconds: int = 3600
    #: How long a recovery key waits before it can sign (MLA_RECOVERY_DELAY_HOURS).
    recovery_delay_hours: int = 72
    #: Operator's legal data (TOML) over the built-in defaults (MLA_LEGAL_FILE); None: defaults.
    legal_file: Path | None = None
    #: How long an append waits for its log index before answering `pending`
    #: (MLA_LOG_WAIT_MS, in milliseconds).
    log_wait_seconds: float = 1.0
    #: Wrong bearer tokens one client address may present per window before it gets 429s
    #: (MLA_AUTH_FAILURE_LIMIT; 0 turns the limit off) and the window
    #: (MLA_AUTH_FAILURE_WINDOW_SECONDS).
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 60
    #: `mla serve` closes a connection whose request line and headers take longer than this
    #: (MLA_HEADER_TIMEOUT_SECONDS) or are larger than MLA_MAX_HEADER_BYTES.
    header_timeout_seconds: float = 10.0
    max_header_bytes: int = 16_384
    #: `mla serve` logs one JSON object per line, or plain text (MLA_LOG_FORMAT=json|text).
    log_format: str = "json"
    #: Webhook deliveries (docs/notifications.md): attempts before a delivery is dead
    #: (MLA_WEBHOOK_MAX_ATTEMPTS), the exponential backoff's base and cap in seconds, with
    #: full jitter (MLA_WEBHOOK_BACKOFF_BASE_SECONDS, MLA_WEBHOOK_BACKOFF_CAP_SECONDS), the
    #: timeout of one attempt (MLA_WEBHOOK_TIMEOUT_SECONDS), and whether `http://` to a
    #: loopback address is accepted, for local receivers and tests
    #: (MLA_WEBHOOK_ALLOW_LOOPBACK_HTTP; otherwise https only).
    webhook_max_attempts: int = 12
    webhook_backoff_base_seconds: float = 60.0
    webhook_backoff_cap_seconds: float = 21_600.0
    webhook_timeout_seconds: float = 10.0
    webhook_allow_loopback_http: bool = False
    #: Whether the app runs a worker (deadlines, webhooks) in-process: `mla serve` turns it
    #: on unless `--no-worker`; its tick (MLA_WORKER_INTERVAL_MS) and how long a claim is
    #: held before another worker may take it over (MLA_WORKER_LEASE_SECONDS).
    in_process_worker: bool = False
    #: PostgreSQL connections each process keeps, and no more (MLA_DB_POOL_SIZE).
    db_pool_size: int = 20
    worker_interval_seconds: float = 1.0
    worker_lease_seconds: int = 60
    #: Witnesses the worker pushes each new checkpoint to (MLA_WITNESSES): pairs of a
    #: witness verifier key and the witness's submission URL prefix (docs/audit.md).
    witnesses: tuple[tuple[str, str], ...] = ()

    @property
    def resolved_blob_dir(self) -> Path:
        """Where evidence ciphertext is stored (default: `blobs/` in the data dir)."""
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, else an SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mla.db').resolve()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read MLA_HOST, MLA_PORT, MLA_DATA_DIR, MLA_DATABASE_URL, MLA_OPERATOR_TOKEN, …."""
        env = os.environ if env is None else env
        url = env.get("MLA_DATABASE_URL", "")
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # asyncpg is the driver; SQLAlchemy 2.1 would otherwise pick psycopg.
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return cls(
            host=env.get("MLA_HOST", "127.0.0.1"),
            port=_int(env, "MLA_PORT", 8000),
            data_dir=Path(env.get("MLA_DATA_DIR", "data")),
            database_url=url,
            operator_token=env.get("MLA_OPERATOR_TOKEN") or None,
            max_body_bytes=_int(env, "MLA_MAX_BODY_BYTES", 1_048_576),
            blob_dir=Path(env["MLA_BLOB_DIR"]) if env.get("MLA_BLOB_DIR") else None,
            max_package_bytes=_int(env, "MLA_MAX_PACKAGE_BYTES", 64 * 1024**3),
            session_ttl_seconds=_positive(env, "MLA_SESSION_TTL_SECONDS", 3600),
            recovery_delay_hours=_positive(env, "MLA_RECOVERY_DELAY_HOURS", 72, zero=True),
            legal_file=Path(env["MLA_LEGAL_FILE"]) if env.get("MLA_LEGAL_FILE") else None,
            log_wait_seconds=_int(env, "MLA_LOG_WAIT_MS", 1000) / 1000,
            auth_failure_limit=_positive(env, "MLA_AUTH_FAILURE_LIMIT", 20, zero=True),
            auth_failure_window_seconds=_positive(env, "MLA_AUTH_FAILURE_WINDOW_SECONDS", 60),
            header_timeout_seconds=_positive_float(env, "MLA_HEADER_TIMEOUT_SECONDS", 10.0),
            max_header_bytes=_positive(env, "MLA_MAX_HEADER_BYTES", 16_384),
            log_format=_log_format(env),
            worker_interval_seconds=_positive(env, "MLA_WORKER_INTERVAL_MS", 1000) / 1000,
            worker_lease_seconds=_positive(env, "MLA_WORKER_LEASE_SECONDS", 60),
            db_pool_size=_positive(env, "MLA_DB_POOL_SIZE", 20),
            webhook_max_attempts=_positive(env, "MLA_WEBHOOK_MAX_ATTEMPTS", 12),
            webhook_backoff_base_seconds=_positive_float(
                env, "MLA_WEBHOOK_BACKOFF_BASE_SECONDS", 60.0
            ),
            webhook_backoff_cap_seconds=_positive_float(
                env, "MLA_WEBHOOK_BACKOFF_CAP_SECONDS", 21_600.0
            ),
            webhook_timeout_seconds=_positive_float(env, "MLA_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_allow_loopback_http=_flag(env, "MLA_WEBHOOK_ALLOW_LOOPBACK_HTTP"),
            witnesses=_witnesses(env),
        )
