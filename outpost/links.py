"""Signed, expiring, single-use links: the action links in mail (`/a/<token>`) and sign-in links.

A token is an itsdangerous `URLSafeTimedSerializer` signature (HMAC-SHA1 over a per-purpose salt, so an
action token is never a sign-in token) of a small payload: the case, its version, the recipient, the
actions offered, and a random nonce. The nonce has a row in `web_link` (store/web.py); the row is marked
used in the same transaction as what the link does, so a link works once. Links are built from
`web.base_url`, never from a request's Host header.

Keys: OUTPOST_SECRET_KEY (several, comma-separated, newest first), else the key file beside the database
that `outpost init` creates (mode 0600, one key a line, newest first). The newest key signs; every key
verifies, so links mailed before a rotation keep working until they expire.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer, want_bytes

from workflow.clock import Clock
from workflow.errors import BadInput, WorkflowError
from workflow.ports import CaseStore, Link, LinkTx
from workflow.settings import Settings

ACTION, LOGIN = "action", "login"
_SALT = {ACTION: "outpost.web.action-link", LOGIN: "outpost.web.sign-in-link"}


class LinkInvalid(WorkflowError):
    """The link is expired, used, tampered with, for someone else, or its case has moved on. The web shows
    one neutral page for all of these (HTTP 410): which one it was is not told to whoever holds it."""

    exit_code = 3

    def __init__(self, why: str) -> None:
        super().__init__(f"link no longer valid ({why})")
        self.why = why


def create_key_file(path: Path) -> bool:
    """Create the key file with one fresh key (mode 0600) unless it exists; True when created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    return True


def rotate_key_file(path: Path) -> None:
    """Put a fresh key first in the key file (it signs from now on); the older ones still verify."""
    old = path.read_text(encoding="ascii") if path.exists() else ""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n" + old)
    os.replace(tmp, path)


def signing_keys(settings: Settings) -> tuple[str, ...]:
    """The keys, newest first: OUTPOST_SECRET_KEY, else the key file."""
    if settings.web.secret_keys:
        return settings.web.secret_keys
    path = settings.web.key_file
    if path is None or not path.exists():
        raise BadInput("no signing key: set OUTPOST_SECRET_KEY or run `outpost init` (it creates "
                       f"{path or 'the key file'})")
    mode = path.stat().st_mode & 0o077
    if mode:
        raise BadInput(f"key file {path}: readable by others (mode {oct(path.stat().st_mode & 0o777)}); "
                       "chmod 600 it")
    keys = tuple(line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip())
    if not keys or any(len(k) < 16 for k in keys):
        raise BadInput(f"key file {path}: expected one key of 16 characters or more a line")
    return keys


@dataclass(frozen=True)
class Claim:
    """What a verified token says."""

    purpose: str
    nonce: str
    person: str
    case_id: int | None = None
    case_version: int | None = None
    actions: tuple[str, ...] = ()


_VERIFIED_KEPT = 4096  # tokens whose signature was checked, kept per process (forgotten all at once when full)
_DERIVED: dict[tuple[str, bytes, bytes], bytes] = {}


class KeyedSigner(TimestampSigner):
    """itsdangerous's timestamp signer with its derived keys kept: deriving (a hash of salt and key) is done
    once per (salt, key), not on every signature made or checked. What it signs is unchanged."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        slot = (self.key_derivation, self.salt, key)
        derived = _DERIVED.get(slot)
        if derived is None:
            derived = _DERIVED[slot] = super().derive_key(key)
        return derived


class _ClockSigner(KeyedSigner):
    """itsdangerous's timestamp signer on Outpost's clock (time is injected, never read from the system):
    signing stamps `at`; verifying measures the age at `at`."""

    def __init__(self, *args: Any, at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def get_timestamp(self) -> int:
        return self._at


class Links:
    """Mints and verifies links for one deployment (its keys, its base URL, its policy lifetimes)."""

    def __init__(self, settings: Settings, keys: tuple[str, ...], action_hours: int, login_minutes: int,
                 clock: Clock) -> None:
        self.base_url = settings.web.base_url.rstrip("/")
        self._keys = list(reversed(keys))  # itsdangerous: the LAST key of the list signs, all verify
        self.clock = clock
        self.lifetime = {ACTION: timedelta(hours=action_hours), LOGIN: timedelta(minutes=login_minutes)}
        self._verified: dict[tuple[str, str], tuple[Claim, dict[str, Any], int]] = {}

    def _serializer(self, purpose: str, at: datetime) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._keys, salt=_SALT[purpose], signer=_ClockSigner,
                                      signer_kwargs={"at": int(at.timestamp())})

    # -- minting ---------------------------------------------------------------------------------
    def _sign(self, link: Link) -> str:
        payload: dict[str, Any] = {"p": link.person, "n": link.nonce}
        if link.purpose == ACTION:
            payload.update(c=link.case_id, v=link.case_version, a=list(link.actions))
        return str(self._serializer(link.purpose, link.created_at).dumps(payload))

    def _mint(self, tx: LinkTx, purpose: str, person: str, now: datetime, source: str | None = None,
              case: tuple[int, int, int] | None = None, actions: tuple[str, ...] = ()) -> str:
        """A link's token, its row added in `tx`. A mail sent again (after a crash, with its Message-ID) gets
        the link it had, so the resend is the same message byte for byte, as long as that link still stands
        for the same offer."""
        old = tx.link_for_source(source) if source else None
        # the same offer: the version may have moved on by a step that kept the state (a reminder), which
        # does not void a link either (the POST checks the state); a changed state offers other actions
        if (old is not None and old.purpose == purpose and old.person == person and old.used_at is None
                and old.expires_at > now and case is not None
                and (old.case_id, old.actions) == (case[0], actions)):
            return self._sign(old)
        link = Link(nonce=secrets.token_urlsafe(18), purpose=purpose, person=person,
                    created_at=now.replace(microsecond=0), expires_at=now + self.lifetime[purpose],
                    case_id=case[0] if case else None, case_version=case[1] if case else None,
                    case_seq=case[2] if case else None, actions=actions, source=source)
        tx.add_link(link)
        return self._sign(link)

    def action_url(self, store: CaseStore, case_id: int, person: str, actions: list[str], now: datetime,
                   source: str | None = None) -> str | None:
        """A single-use action link for `person` on the case as it is now; None if the case is gone.
        `source` names the mail it goes in (its Message-ID and recipient). One short writing transaction:
        the case read and the link written together."""
        if not actions:
            return None
        with store.transaction() as tx:
            case = tx.get_case(case_id)
            if case is None:
                return None
            token = self._mint(tx, ACTION, person, now, source, (case.id, case.version, case.history_count),
                               tuple(actions))
        return f"{self.base_url}/a/{token}"

    def login_url(self, store: CaseStore, person: str, now: datetime) -> str:
        with store.transaction() as tx:
            token = self._mint(tx, LOGIN, person, now)
        return f"{self.base_url}/login/{token}"

    # -- verifying -------------------------------------------------------------------------------
    def verify(self, purpose: str, token: str) -> tuple[Claim, dict[str, Any]]:
        """The token's claim, or `LinkInvalid` (tampered, expired by its signature's age, or malformed).

        A token whose signature was checked once is remembered with the time it was signed (a scanner, the
        confirmation page and then the POST each bring the same token): its age is measured again at every
        use, its signature is not. The keys of one `Links` never change, so neither would the answer."""
        if not token or len(token) > 2000:
            raise LinkInvalid("malformed")
        max_age = int(self.lifetime[purpose].total_seconds())
        now = self.clock.now()
        known = self._verified.get((purpose, token))
        if known is not None:
            claim, data, signed_at = known
            age = int(now.timestamp()) - signed_at
            if age > max_age or age < 0:  # as itsdangerous measures it
                raise LinkInvalid("expired")
            return claim, data
        try:
            data, signed = self._serializer(purpose, now).loads(token, max_age=max_age, return_timestamp=True)
        except SignatureExpired:
            raise LinkInvalid("expired") from None
        except BadSignature:
            raise LinkInvalid("bad signature") from None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("p"), str):
            raise LinkInvalid("malformed")
        claim = Claim(purpose=purpose, nonce=data["n"], person=data["p"],
                      case_id=data.get("c") if isinstance(data.get("c"), int) else None,
                      case_version=data.get("v") if isinstance(data.get("v"), int) else None,
                      actions=tuple(str(a) for a in data.get("a") or ()))
        if len(self._verified) >= _VERIFIED_KEPT:
            self._verified.clear()
        self._verified[(purpose, token)] = (claim, data, int(signed.timestamp()))
        return claim, data


def links_for(settings: Settings, policy: Any, clock: Clock) -> Links:
    return Links(settings, signing_keys(settings), policy.int("web.action_link_hours"),
                 policy.int("web.login_link_minutes"), clock)
