"""A channel adapter that reaches a real system over HTTP, exactly once, without calling out from a transaction.

The governor's transaction may be rolled back and run again on a write conflict, so `WebhookAdapter.execute`
never touches the network: it writes the action to the outbox (`agents/adapters/deliveries.py`) keyed by
its idempotency key, in that transaction. `deliver_pending`, called after the transaction commits (and at
the start of every run, to finish what a dead process left), sends the due rows: each request carries the
row's `Idempotency-Key` and an HMAC-SHA256 signature of the exact body with the endpoint's secret (read from
an environment variable or a file under `$SURGEWISE_KEYS_DIR`, never from the warehouse). Failures retry with
exponential backoff and jitter up to a maximum, then become dead letters; a circuit breaker per endpoint,
kept in DuckDB so every micro-batch run shares it, stops hammering a receiver that is down. A row left
`sending` by a crash is re-sent with the same key, so the receiver, which deduplicates by key, books it once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import duckdb
import httpx
from pydantic import Field, field_validator, model_validator

from agents.actions import ProposedAction
from agents.adapters.deliveries import (
    Claim,
    DeliveryEvent,
    DeliveryStatus,
    claim_next,
    due_count,
    effect_active,
    enqueue,
    ensure_delivery_tables,
    load_breaker,
    mark_undone,
    record_delivered,
    record_failure,
    save_breaker,
)
from agents.adapters.sandbox import ChannelAdapter, ExecutionOutcome
from agents.config import WEBHOOKS_FILE
from dagster_project.core.config_files import StrictModel, load_config_file
from dagster_project.core.settings import CONFIG_DIR_ENV, KEYS_DIR_ENV
from dagster_project.core.transactions import retry_on_conflict, transaction

SIGNATURE_HEADER = "X-Surgewise-Signature"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
LEASE_GRACE = timedelta(seconds=30)
"""How long after its timeout an attempt's claim lapses, so a restart re-sends what a dead process held."""
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""Client errors worth another attempt (with the same key); every other 4xx is the request's own fault."""
MAX_STORED_TEXT = 500
BREAKER_OPEN: Literal["breaker open"] = "breaker open"


class Backoff(StrictModel):
    """Exponential backoff: attempt n waits base·factor^(n-1), capped, less a random share up to `jitter`."""

    base_seconds: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    factor: float = Field(default=2.0, ge=1, allow_inf_nan=False)
    max_seconds: float = Field(default=900.0, gt=0, allow_inf_nan=False)
    jitter: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        exponent = min(attempts - 1, 64)  # past the cap anyway; keeps the power finite
        ceiling = min(self.max_seconds, self.base_seconds * self.factor**exponent)
        return timedelta(seconds=ceiling * (1 - self.jitter * rng.random()))


class BreakerSettings(StrictModel):
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive failed attempts that open the breaker."""
    cooldown_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)


class WebhookEndpoint(StrictModel):
    """Where one channel's actions go, and how hard to try."""

    channel: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    url: str
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    """The environment variable holding the HMAC secret; else `$SURGEWISE_KEYS_DIR/webhooks/<channel>.secret`."""
    action_types: tuple[str, ...] = Field(min_length=1)
    """What the receiver accepts; inverses of these are always sent, so a rollback can never be refused."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff: Backoff = Backoff()
    breaker: BreakerSettings = BreakerSettings()

    @field_validator("url")
    @classmethod
    def _safe_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in the URL: the secret comes from `secret_env`")
        if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
            raise ValueError(f"{url!r}: https is required for any host but localhost")
        return url

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def secret(self, environ: Mapping[str, str]) -> bytes | None:
        """The HMAC secret from its environment variable or its file outside the warehouse; None if neither."""
        value = environ.get(self.secret_env, "").strip()
        if not value and environ.get(KEYS_DIR_ENV):
            path = Path(environ[KEYS_DIR_ENV]) / "webhooks" / f"{self.channel}.secret"
            value = path.read_text().strip() if path.is_file() else ""
        return value.encode() if value else None


class WebhookConfig(StrictModel):
    version: Literal[1]
    endpoints: tuple[WebhookEndpoint, ...] = ()

    @model_validator(mode="after")
    def _one_endpoint_per_channel(self) -> WebhookConfig:
        channels = [endpoint.channel for endpoint in self.endpoints]
        repeated = sorted({channel for channel in channels if channels.count(channel) > 1})
        if repeated:
            raise ValueError(f"channels with more than one endpoint: {', '.join(repeated)}")
        return self

    def endpoint(self, channel: str) -> WebhookEndpoint | None:
        return next((endpoint for endpoint in self.endpoints if endpoint.channel == channel), None)


def load_webhook_config(config_dir: Path | None = None) -> WebhookConfig:
    """`webhooks.yaml` from the config directory; without the file no channel goes to a real system."""
    path = (config_dir or Path(os.environ[CONFIG_DIR_ENV])) / WEBHOOKS_FILE
    return load_config_file(path, WebhookConfig) if path.exists() else WebhookConfig(version=1)


def signature(secret: bytes, body: bytes) -> str:
    """The value of the signature header: what the receiver recomputes with the shared secret."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookAdapter:
    """A channel served by a webhook: `execute` queues, `deliver_pending` sends."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, endpoint: WebhookEndpoint) -> None:
        self._connection = connection
        self.channel = endpoint.channel
        self._url = endpoint.url
        self.action_types = endpoint.action_types
        ensure_delivery_tables(connection)

    def execute(self, action: ProposedAction, now: datetime) -> ExecutionOutcome:
        """Inside the governor's transaction: write the outbox row, no network call. An inverse also ends
        the original's effect: cancelled if it never left, otherwise the inverse is sent after it."""
        if action.channel != self.channel:
            raise ValueError(f"the webhook of {self.channel} cannot carry an action on {action.channel}")
        if action.rollback_of is None and action.action_type not in self.action_types:
            raise ValueError(f"the webhook of {self.channel} does not accept {action.action_type}")
        event = DeliveryEvent.ACTION if action.rollback_of is None else DeliveryEvent.ROLLBACK
        if action.rollback_of is None:
            status = DeliveryStatus.PENDING
        else:
            undone = mark_undone(self._connection, action.rollback_of, action.action_id)
            if undone is None:
                return ExecutionOutcome.ALREADY_EXECUTED
            status = DeliveryStatus.PENDING if undone.reached_receiver else DeliveryStatus.CANCELLED
        queued = enqueue(
            self._connection,
            key=action.action_id,
            channel=self.channel,
            endpoint_url=self._url,
            action_type=action.action_type,
            event=event,
            rollback_of=action.rollback_of,
            body=_body(action, event, now),
            status=status,
            now=now,
        )
        return ExecutionOutcome.EXECUTED if queued else ExecutionOutcome.ALREADY_EXECUTED

    def state(self, action_id: str) -> dict[str, Any]:
        """Whether the action's effect is asked of the receiver (queued or delivered, and not undone)."""
        return {"webhook_effect_active": effect_active(self._connection, action_id)}


def webhook_adapters(
    connection: duckdb.DuckDBPyConnection, config: WebhookConfig | None = None
) -> dict[str, ChannelAdapter]:
    """An adapter for every channel `webhooks.yaml` sends to a real system, to override its sandbox adapter."""
    config = config or load_webhook_config()
    return {endpoint.channel: WebhookAdapter(connection, endpoint) for endpoint in config.endpoints}


def _body(action: ProposedAction, event: DeliveryEvent, now: datetime) -> str:
    """The exact bytes every attempt sends and signs; the key is inside, so the signature covers it."""
    document = {
        "idempotency_key": action.action_id,
        "event": event.value,
        "queued_at": now.isoformat(),
        "action": asdict(action),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class DeliveryReport:
    """What one dispatch did, for the run report and the CLI."""

    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    recovered: int = 0
    """Rows a dead process left `sending`, sent again with their own key."""
    skipped_open_breaker: int = 0
    """Due rows not attempted because their endpoint's breaker is open (no attempt consumed)."""
    problems: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.dead_lettered + self.cancelled


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    retryable: bool
    response_status: int | None
    text: str


def deliver_pending(
    connection: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    config: WebhookConfig | None = None,
    client: httpx.Client | None = None,
    environ: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every due outbox row, one short transaction to claim it and one to book the answer, the call
    between them. Never inside another transaction (a conflict retry must not call out twice): `begin`
    fails there. `now` is the moment of the whole dispatch: due times, leases and backoff count from it."""
    config = config or load_webhook_config()
    report = DeliveryReport()
    if not config.endpoints:
        return report
    ensure_delivery_tables(connection)
    if not due_count(connection, [endpoint.channel for endpoint in config.endpoints], now):
        return report
    environ = os.environ if environ is None else environ
    rng = rng or random.Random()
    owned = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        for url, endpoints in _by_url(config).items():
            _deliver_endpoint(connection, url, endpoints, now, client, environ, rng, report)
    finally:
        if owned:
            client.close()
    return report


def _by_url(config: WebhookConfig) -> dict[str, list[WebhookEndpoint]]:
    """Channels that share a receiver share its breaker."""
    grouped: dict[str, list[WebhookEndpoint]] = {}
    for endpoint in config.endpoints:
        grouped.setdefault(endpoint.url, []).append(endpoint)
    return grouped


def _deliver_endpoint(
    connection: duckdb.DuckDBPyConnection,
    url: str,
    endpoints: list[WebhookEndpoint],
    now: datetime,
    client: httpx.Client,
    environ: Mapping[str, str],
    rng: random.Random,
    report: DeliveryReport,
) -> None:
    by_channel = {endpoint.channel: endpoint for endpoint in endpoints}
    secrets = {endpoint.channel: endpoint.secret(environ) for endpoint in endpoints}
    unsigned = [channel for channel, secret in secrets.items() if secret is None]
    for channel in unsigned:
        report.problems.append(
            f"{channel}: no secret in ${by_channel[channel].secret_env} or the keys directory; nothing sent"
        )
    channels = [channel for channel in by_channel if channel not in unsigned]
    if not channels:
        return
    breaker_settings = endpoints[0].breaker
    lease = now + timedelta(seconds=max(endpoint.timeout_seconds for endpoint in endpoints)) + LEASE_GRACE
    while True:
        claimed = retry_on_conflict(lambda: _claim(connection, url, channels, now, lease))
        if claimed == BREAKER_OPEN:
            report.skipped_open_breaker += due_count(connection, channels, now)
            return
        if not isinstance(claimed, Claim):
            return
        endpoint = by_channel[claimed.channel]
        report.recovered += claimed.recovered
        outcome = _send(client, endpoint, claimed, secrets[claimed.channel] or b"")
        book = functools.partial(_book, connection, url, endpoint, breaker_settings, claimed, outcome, now, rng)
        status = retry_on_conflict(book)
        report.delivered += status is DeliveryStatus.DELIVERED
        report.retrying += status is DeliveryStatus.RETRYING
        report.dead_lettered += status is DeliveryStatus.DEAD_LETTERED
        report.cancelled += status is DeliveryStatus.CANCELLED


def _claim(
    connection: duckdb.DuckDBPyConnection, url: str, channels: list[str], now: datetime, lease: datetime
) -> Claim | Literal["breaker open"] | None:
    """One due row for this receiver, None when none is due; nothing while its breaker is open."""
    with transaction(connection):
        breaker = load_breaker(connection, url)
        if not breaker.admits(now):
            return BREAKER_OPEN
        claimed = claim_next(
            connection,
            channels=channels,
            endpoint_url=url,
            attempt_id=uuid.uuid4().hex,
            now=now,
            lease_expires_at=lease,
        )
        if claimed is None:
            return None
        if breaker.probing() != breaker:
            save_breaker(connection, breaker.probing(), now)
        return claimed


def _send(client: httpx.Client, endpoint: WebhookEndpoint, claim: Claim, secret: bytes) -> _Outcome:
    body = claim.body.encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": claim.idempotency_key,
        SIGNATURE_HEADER: signature(secret, body),
        "X-Surgewise-Event": claim.event,
        "X-Surgewise-Attempt": str(claim.attempts),
    }
    try:
        response = client.post(endpoint.url, content=body, headers=headers, timeout=endpoint.timeout_seconds)
    except httpx.TimeoutException:
        return _Outcome(False, True, None, f"timed out after {endpoint.timeout_seconds:g}s")
    except httpx.HTTPError as error:
        return _Outcome(False, True, None, f"{type(error).__name__}: {error}"[:MAX_STORED_TEXT])
    text = response.text[:MAX_STORED_TEXT]
    if response.is_success:
        return _Outcome(True, False, response.status_code, text)
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
    return _Outcome(False, retryable, response.status_code, f"HTTP {response.status_code}: {text}"[:MAX_STORED_TEXT])


def _book(
    connection: duckdb.DuckDBPyConnection,
    url: str,
    endpoint: WebhookEndpoint,
    breaker_settings: BreakerSettings,
    claim: Claim,
    outcome: _Outcome,
    now: datetime,
    rng: random.Random,
) -> DeliveryStatus | None:
    """Book the answer and move the breaker in one transaction. A refusal (4xx) is the request's fault, not
    the receiver's health: it dead-letters at once and counts as an answer for the breaker."""
    with transaction(connection):
        breaker = load_breaker(connection, url)
        if outcome.delivered:
            record_delivered(connection, claim, outcome.response_status or 0, outcome.text, now)
            save_breaker(connection, breaker.after_success(), now)
            return DeliveryStatus.DELIVERED
        give_up = not outcome.retryable or claim.attempts >= endpoint.max_attempts
        next_attempt = None if give_up else now + endpoint.backoff.delay(claim.attempts, rng)
        status = record_failure(
            connection, claim, error=outcome.text, next_attempt_at=next_attempt, endpoint_url=url, now=now
        )
        moved = (
            breaker.after_failure(
                now, breaker_settings.failure_threshold, timedelta(seconds=breaker_settings.cooldown_seconds)
            )
            if outcome.retryable
            else breaker.after_success()
        )
        save_breaker(connection, moved, now)
        return status
