"""A real HTTP receiver for the webhook tests (http.server in a thread), and the checks that it is honest.

It verifies every request's HMAC signature, deduplicates by `Idempotency-Key` and counts what it saw and
what it booked, as a well-behaved real system would. Each request follows the next scripted behaviour: answer,
fail with a 5xx, refuse with a 4xx, answer slowly (under the client's timeout) or hang until released (past
it, then book the request anyway, as a receiver that was only slow to answer does), or answer late.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from agents.actions import ProposedAction
from agents.adapters.webhook import WebhookConfig, WebhookEndpoint

SECRET = "test-webhook-secret"
SECRET_ENV = "SURGEWISE_TEST_WEBHOOK_SECRET"
CHANNEL = "sales_engagement"
SIGNATURE_HEADER = "X-Surgewise-Signature"
HANG_LIMIT_SECONDS = 10.0
SLOW_SECONDS = 0.05
LATE_SECONDS = 0.6
"""Longer than the 0.3 s timeout the campaign test gives its client."""

OK, FAIL, REJECT, SLOW, HANG, LATE = "ok", "fail", "reject", "slow", "hang", "late"


@dataclass(frozen=True)
class Seen:
    key: str
    signature_valid: bool
    body: dict
    behaviour: str


@dataclass
class Receiver:
    secret: bytes = SECRET.encode()
    default: str = OK
    script: list[str] = field(default_factory=list)
    """Behaviours for the next requests, in order; then `default`."""
    seen: list[Seen] = field(default_factory=list)
    booked: dict[str, dict] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    replayed: int = 0
    """Requests whose key was booked already: answered `duplicate`, booked nothing."""

    def seen_per_key(self) -> Counter[str]:
        return Counter(seen.key for seen in self.seen)

    def settle(self) -> None:
        """Release hung requests and wait until every request has finished (booked or not)."""
        self.release.set()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=HANG_LIMIT_SECONDS * 2)

    def handle(self, key: str, signature: str, raw: bytes) -> tuple[int, dict]:
        expected = "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, signature)
        with self._lock:
            behaviour = self.script.pop(0) if self.script else self.default
            self.seen.append(Seen(key, valid, json.loads(raw), behaviour))
        if not valid:
            return 401, {"error": "bad signature"}
        if behaviour == FAIL:
            return 503, {"error": "[/red] receiver unavailable"}
        if behaviour == REJECT:
            return 422, {"error": "unknown sequence"}
        if behaviour == SLOW:
            time.sleep(SLOW_SECONDS)
        if behaviour == HANG:
            self.release.wait(HANG_LIMIT_SECONDS)
        if behaviour == LATE:
            time.sleep(LATE_SECONDS)
        with self._lock:
            duplicate = key in self.booked
            self.replayed += duplicate
            self.booked.setdefault(key, json.loads(raw))
            receipt = list(self.booked).index(key) + 1
        return 200, {"status": "duplicate" if duplicate else "booked", "receipt": receipt}


@contextmanager
def running_receiver(receiver: Receiver | None = None) -> Iterator[Receiver]:
    """The receiver listening on a free local port until the block ends."""
    receiver = receiver or Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with receiver._idle:
                receiver._in_flight += 1
            try:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = receiver.handle(
                    self.headers.get("Idempotency-Key", ""), self.headers.get(SIGNATURE_HEADER, ""), raw
                )
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout): the request was booked all the same
            finally:
                with receiver._idle:
                    receiver._in_flight -= 1
                    receiver._idle.notify_all()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/surgewise"
    try:
        yield receiver
    finally:
        receiver.settle()
        server.shutdown()
        server.server_close()
        thread.join()


def webhook_config(receiver: Receiver, **settings: object) -> WebhookConfig:
    """The receiver as the sales-engagement channel's endpoint: a short timeout, a fast backoff."""
    endpoint = {
        "channel": CHANNEL,
        "url": receiver.url,
        "secret_env": SECRET_ENV,
        "action_types": ["enrol_in_sequence"],
        "timeout_seconds": 5.0,
        "max_attempts": 4,
        "backoff": {"base_seconds": 10, "factor": 2, "max_seconds": 600, "jitter": 0.5},
        "breaker": {"failure_threshold": 100, "cooldown_seconds": 60},
    }
    return WebhookConfig(version=1, endpoints=(WebhookEndpoint.model_validate({**endpoint, **settings}),))


def enrolment(person: str, trigger: str = "surge:a1:2025-01-06") -> ProposedAction:
    return ProposedAction(
        agent_id="sdr_sequence_agent",
        action_type="enrol_in_sequence",
        channel=CHANNEL,
        person_id=person,
        account_id="a1",
        payload={"sequence_id": "seq_comparison"},
        reasoning="three contacts read comparison pages",
        inputs={"intent": 0.9},
        inverse={"action_type": "remove_from_sequence"},
        trigger_key=trigger,
    )


def inverse_of(action: ProposedAction) -> ProposedAction:
    """The inverse as `Governor.rollback` builds it."""
    return ProposedAction(
        agent_id=action.agent_id,
        action_type="remove_from_sequence",
        channel=action.channel,
        person_id=action.person_id,
        account_id=action.account_id,
        payload={"undoes": action.action_type},
        reasoning="rollback",
        inputs={"rollback_of": action.action_id},
        inverse={},
        trigger_key=f"rollback:{action.action_id}",
        rollback_of=action.action_id,
    )


def _post(receiver: Receiver, key: str, body: bytes, secret: bytes) -> httpx.Response:
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return httpx.post(receiver.url, content=body, headers={"Idempotency-Key": key, SIGNATURE_HEADER: signature})


def test_the_receiver_books_a_key_once_and_counts_every_request() -> None:
    with running_receiver() as receiver:
        first = _post(receiver, "k1", b'{"n": 1}', SECRET.encode())
        again = _post(receiver, "k1", b'{"n": 1}', SECRET.encode())
    assert (first.json()["status"], again.json()["status"]) == ("booked", "duplicate")
    assert len(receiver.seen) == 2 and list(receiver.booked) == ["k1"] and receiver.replayed == 1


def test_the_receiver_refuses_a_bad_signature_and_books_nothing() -> None:
    with running_receiver() as receiver:
        response = _post(receiver, "k1", b'{"n": 1}', b"another secret")
    assert response.status_code == 401 and not receiver.booked and not receiver.seen[0].signature_valid
