"""One frozen settings object, built at the entry point: option > environment > outpost.toml > default.

No other module reads the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workflow.errors import BadInput
from workflow.files import read_toml
from workflow.policy import load_policy
from workflow.timeutil import parse_date

_KNOWN_TOP = {"database_url", "outbox_dir", "policy_file", "timezone", "language", "smtp", "busy_timeout_ms",
              "tracking_from", "web"}
_KNOWN_WEB = {"base_url", "host", "port", "key_file", "trusted_user_header"}
_KNOWN_SMTP = {"host", "port", "username", "starttls", "ssl", "from", "timeout"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # only from OUTPOST_SMTP_PASSWORD
    starttls: bool = False
    ssl: bool = False
    sender: str = "outpost@localhost"  # only for .eml files in outbox_dir: a real server needs `smtp.from`
    timeout: float = 30.0
    sender_given: bool = False  # `smtp.from` was set (option, environment or file), not the default

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def require_sender(self) -> None:
        """Issue 17: with SMTP configured, `smtp.from` must be given — `outpost@localhost` and Message-IDs
        `@localhost` are refused or marked spam by real mail servers."""
        if self.configured and not self.sender_given:
            raise BadInput("smtp.from is required when smtp.host is set "
                           "(e.g. from = \"Outpost <outpost@gov.example.org>\"; env OUTPOST_SMTP_FROM)")


@dataclass(frozen=True)
class WebSettings:
    """The web front door (`outpost web`). Links in mail are built from `base_url`, never from a request."""

    base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    # Signing keys, newest first: the first signs, every one verifies (rotation). From OUTPOST_SECRET_KEY
    # (several separated by commas), else from `key_file` (one a line), which `outpost init` creates.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    key_file: Path | None = None
    trusted_user_header: str | None = None  # a reverse proxy's authenticated-user header; off by default

    @property
    def secure(self) -> bool:
        return self.base_url.lower().startswith("https://")


@dataclass(frozen=True)
class Settings:
    database_url: str
    outbox_dir: Path
    policy_file: Path | None = None
    timezone: str = "Asia/Shanghai"
    language: str = "zh"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    debug: bool = False
    busy_timeout_ms: int = 5000  # how long a writer waits for a lock before "database busy" (exit 4)
    tracking_from: date | None = None  # overrides the date stored by the first init (workflow/tracking.py)
    web: WebSettings = field(default_factory=WebSettings)


def default_data_dir(env: Mapping[str, str]) -> Path:
    """The user's data folder, by platform convention."""
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "outpost"


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise BadInput(f"{key}: expected true or false, got {value!r}")


def _int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{key}: expected a whole number, got {value!r}") from None


def _float(value: Any, key: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{key}: expected a number, got {value!r}") from None
    if not low <= number <= high:  # NaN fails this too
        raise BadInput(f"{key}: expected {low:g}–{high:g}, got {value!r}")
    return number


def _text(value: Any, key: str) -> str:
    if not isinstance(value, (str, Path)):
        raise BadInput(f"{key}: expected text, got {str(value)[:40]!r}")
    return str(value)


def _read_config(path: Path) -> dict[str, Any]:
    data = read_toml(path, "config file", max_bytes=1_000_000)
    unknown = sorted(set(data) - _KNOWN_TOP)
    if unknown:
        raise BadInput(f"config file {path}: unknown key {unknown[0]!r}")
    for name, known in (("smtp", _KNOWN_SMTP), ("web", _KNOWN_WEB)):
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise BadInput(f"config file {path}: {name} must be a table")
        unknown = sorted(set(table) - known)
        if unknown:
            raise BadInput(f"config file {path}: unknown key {name}.{unknown[0]}")
    return data


def load_settings(
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings: command-line option > environment > config file > default."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    if config_path is None and env.get("OUTPOST_CONFIG"):
        config_path = Path(env["OUTPOST_CONFIG"])
    if config_path is None and (cwd / "outpost.toml").is_file():
        config_path = cwd / "outpost.toml"
    file_cfg = _read_config(config_path) if config_path is not None else {}
    file_smtp: dict[str, Any] = file_cfg.get("smtp", {})

    def pick(key: str, env_key: str | None, default: Any) -> Any:
        if key in options:
            return options[key]
        if env_key and env.get(env_key):
            return env[env_key]
        if key in file_cfg:
            return file_cfg[key]
        return default

    data_dir = default_data_dir(env)
    database_url = _text(pick("database_url", "OUTPOST_DATABASE_URL", f"sqlite:///{data_dir / 'outpost.db'}"),
                         "database_url")
    default_outbox = _beside_database(database_url, data_dir) / "outbox"
    outbox_dir = Path(_text(pick("outbox_dir", "OUTPOST_OUTBOX_DIR", default_outbox), "outbox_dir"))
    policy = pick("policy_file", "OUTPOST_POLICY", None)
    if policy is not None:
        policy = _text(policy, "policy_file")
    language = _text(pick("language", "OUTPOST_LANG", "zh"), "language")
    if language not in {"zh", "en"}:
        raise BadInput(f"language: expected zh or en, got {language!r}")
    timezone = str(file_cfg.get("timezone", "Asia/Shanghai"))
    if timezone != "Asia/Shanghai":
        raise BadInput("timezone: only Asia/Shanghai is supported (R-0.4)")

    def smtp_pick(key: str, default: Any) -> Any:
        env_key = "OUTPOST_SMTP_" + key.upper()
        if "smtp_" + key in options:
            return options["smtp_" + key]
        if env.get(env_key):
            return env[env_key]
        return file_smtp.get(key, default)

    sender = smtp_pick("from", None)
    host = smtp_pick("host", None)
    host = _text(host, "smtp.host") if host is not None else None
    smtp_ssl = _bool(smtp_pick("ssl", False), "smtp.ssl")
    smtp = SmtpSettings(
        host=str(host) if host else None,
        port=_int(smtp_pick("port", 465 if smtp_ssl else 25), "smtp.port"),
        username=_text(user, "smtp.username") if (user := smtp_pick("username", None)) is not None else None,
        password=env.get("OUTPOST_SMTP_PASSWORD") or None,
        starttls=_bool(smtp_pick("starttls", False), "smtp.starttls"),
        ssl=smtp_ssl,
        sender=_text(sender, "smtp.from") if sender is not None else "outpost@localhost",
        timeout=_float(smtp_pick("timeout", 30.0), "smtp.timeout", 0.1, 3600),
        sender_given=sender is not None,
    )
    if smtp.ssl and smtp.starttls:
        raise BadInput("smtp: choose ssl or starttls, not both")
    tracking = pick("tracking_from", None, None)
    if tracking is not None and (isinstance(tracking, datetime) or not isinstance(tracking, date)):
        # TOML writes a date bare (tracking_from = 2026-12-08); a date-time or anything else is bad input
        text = str(tracking) if isinstance(tracking, date) else _text(tracking, "tracking_from")
        tracking = parse_date(text, "tracking_from")
    web = _web_settings(options, env, file_cfg.get("web", {}), _beside_database(database_url, data_dir))
    busy = _int(pick("busy_timeout_ms", "OUTPOST_BUSY_TIMEOUT_MS", 5000), "busy_timeout_ms")
    if not 0 < busy <= 600_000:
        raise BadInput(f"busy_timeout_ms: expected 1–600000, got {busy}")
    return Settings(
        busy_timeout_ms=busy,
        database_url=database_url,
        outbox_dir=outbox_dir,
        policy_file=Path(policy) if policy else None,
        timezone=timezone,
        language=language,
        smtp=smtp,
        debug=_bool(env.get("OUTPOST_DEBUG", "0"), "OUTPOST_DEBUG"),
        tracking_from=tracking,
        web=web,
    )


def check_configuration(settings: Settings) -> None:
    """The configuration as a whole, where it is set up (`init`, `org load`) and where the daemon starts, so
    that a mistake is found there and not by a later command: the policy file exists, parses and holds
    only known keys with valid values; the outbox folder, where mail goes without SMTP, is not a file.
    Bad input (exit 2, one line) naming the setting; nothing is written."""
    load_policy(settings.policy_file)
    outbox = settings.outbox_dir
    if not settings.smtp.configured and outbox.exists() and not outbox.is_dir():
        raise BadInput(f"outbox_dir {outbox}: not a folder (with no SMTP server, mail is written there)")


def _web_settings(options: Mapping[str, Any], env: Mapping[str, str], file_web: dict[str, Any],
                  beside: Path) -> WebSettings:
    def pick(key: str, env_key: str | None, default: Any) -> Any:
        if "web_" + key in options:
            return options["web_" + key]
        if env_key and env.get(env_key):
            return env[env_key]
        return file_web.get(key, default)

    base_url = _text(pick("base_url", "OUTPOST_BASE_URL", WebSettings.base_url), "web.base_url").rstrip("/")
    if not base_url.lower().startswith(("http://", "https://")) or any(c.isspace() for c in base_url):
        raise BadInput(f"web.base_url: expected http(s)://host[:port][/path], got {base_url[:80]!r}")
    port = _int(pick("port", "OUTPOST_WEB_PORT", WebSettings.port), "web.port")
    if not 1 <= port <= 65535:
        raise BadInput(f"web.port: expected 1–65535, got {port}")
    key_file = Path(_text(pick("key_file", "OUTPOST_KEY_FILE", beside / "secret.key"), "web.key_file"))
    keys = tuple(k.strip() for k in env.get("OUTPOST_SECRET_KEY", "").split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise BadInput("OUTPOST_SECRET_KEY: each key must be at least 16 characters")
    header = pick("trusted_user_header", None, None)
    return WebSettings(base_url=base_url, host=_text(pick("host", "OUTPOST_WEB_HOST", WebSettings.host), "web.host"),
                       port=port, secret_keys=keys, key_file=key_file,
                       trusted_user_header=_text(header, "web.trusted_user_header") if header else None)


def _beside_database(database_url: str, data_dir: Path) -> Path:
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and len(database_url) > len(prefix):
        return Path(database_url[len(prefix) :].split("?", 1)[0]).parent
    return data_dir
