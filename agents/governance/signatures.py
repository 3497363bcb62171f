"""Reviewer signatures: every human decision is an ed25519 signature over a canonical message.

A reviewer id typed on a command line proves nothing; a signature made with the reviewer's private key,
verified against the public key listed for them in `config/agents.yaml`, does. The message names the verb,
the subject, the reviewer, the comment and the moment of signing, and for a decision about an action a
digest of the action as stored, so a signature cannot be replayed on another action, verb or comment. The
signature is kept in the audit log, so an auditor can check offline who decided.

Pure: no warehouse, no config, no Dagster; the governor looks the key up and calls `verify_decision`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agents.actions import ProposedAction

PUBLIC_KEY_PREFIX = "ed25519-"
TOKEN_VERSION = "v1"
STAMP_FORMAT = "%Y%m%dT%H%M%S%f"
"""The signing moment inside a token: digits and a T only, so a token is a plain YAML or Launchpad string."""
MAX_SIGNATURE_AGE = timedelta(hours=1)
"""A signature older than this is refused: long enough to sign and paste into the Launchpad, short enough
that an old signature found in a log cannot be replayed later."""
MAX_CLOCK_SKEW = timedelta(minutes=5)


class SignatureError(ValueError):
    """A signature that is malformed, from the wrong key, over another message, or out of its time window."""


@dataclasses.dataclass(frozen=True)
class SignatureToken:
    """A parsed signature: when it was made and the raw ed25519 signature."""

    signed_at: datetime
    signature: bytes


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("not an ed25519 private key")
    return key


def private_key_path(keys_dir: Path, reviewer_id: str) -> Path:
    return keys_dir / f"{reviewer_id}.pem"


def write_private_key(keys_dir: Path, reviewer_id: str, key: Ed25519PrivateKey, *, replace: bool = False) -> Path:
    """Write the reviewer's private key readable by its owner only (0600, in a 0700 directory)."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = private_key_path(keys_dir, reviewer_id)
    if path.exists() and not replace:
        raise SignatureError(f"{path} exists: a reviewer key is never overwritten unless asked to rotate it")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_key_pem(key))
    path.chmod(0o600)
    return path


def read_private_key(keys_dir: Path, reviewer_id: str) -> Ed25519PrivateKey:
    """The reviewer's private key; refused if missing or readable by anyone but its owner."""
    path = private_key_path(keys_dir, reviewer_id)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SignatureError(
            f"no private key for {reviewer_id} at {path}: run `surgewise reviewers keygen --reviewer {reviewer_id}`"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignatureError(f"{path} is readable by others (mode {stat.filemode(mode)}): chmod 600 it")
    return load_private_key(path.read_bytes())


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as it is written in agents.yaml: `ed25519-` and the raw key in URL-safe base64."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return PUBLIC_KEY_PREFIX + _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from agents.yaml, or SignatureError saying what is wrong with it."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise SignatureError(f"a public key starts with {PUBLIC_KEY_PREFIX!r}")
    try:
        raw = _unb64(text.removeprefix(PUBLIC_KEY_PREFIX))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SignatureError("not a 32-byte ed25519 public key in URL-safe base64") from None


def action_digest(action: ProposedAction) -> str:
    """A sha256 of the action as stored, every field included, so a signature binds to exactly this action."""
    document = json.dumps(
        dataclasses.asdict(action), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(document.encode()).hexdigest()


def statement(verb: str, subject_id: str, comment: str, action: ProposedAction | None = None) -> dict[str, str | None]:
    """What a reviewer states, as the audit entry keeps it (`inputs.signed`): with the entry's reviewer and the
    token's moment it rebuilds the signed message, so an auditor verifies it offline from the entry alone."""
    return {
        "verb": verb,
        "subject": subject_id,
        "comment": comment,
        "action_sha256": action_digest(action) if action is not None else None,
    }


def decision_message(said: dict[str, str | None], reviewer_id: str, signed_at: datetime) -> bytes:
    """The exact bytes a reviewer signs: the statement, who, and when, as canonical JSON."""
    document = {**said, "surgewise_decision": TOKEN_VERSION, "reviewer": reviewer_id}
    document["signed_at"] = signed_at.strftime(STAMP_FORMAT)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_decision(
    key: Ed25519PrivateKey,
    verb: str,
    subject_id: str,
    reviewer_id: str,
    comment: str,
    signed_at: datetime,
    action: ProposedAction | None = None,
) -> str:
    """A signature token `v1.<moment>.<signature>` over the decision's canonical message."""
    message = decision_message(statement(verb, subject_id, comment, action), reviewer_id, signed_at)
    return f"{TOKEN_VERSION}.{signed_at.strftime(STAMP_FORMAT)}.{_b64(key.sign(message))}"


def parse_token(token: str) -> SignatureToken:
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise SignatureError(f"a signature looks like {TOKEN_VERSION}.<moment>.<signature>")
    try:
        signed_at = datetime.strptime(parts[1], STAMP_FORMAT)
        signature = _unb64(parts[2])
    except ValueError:
        raise SignatureError("the signature's moment or value does not parse") from None
    return SignatureToken(signed_at, signature)


def signature_fingerprint(token: str) -> str:
    """The sha256 of the raw signature a token carries, however its base64 is written (padding, spare bits),
    so one signature is recognised as used whichever way it is pasted again."""
    try:
        raw = parse_token(token).signature
    except SignatureError:
        raw = token.strip().encode()
    return hashlib.sha256(raw).hexdigest()


def verify_statement(
    public_keys: tuple[str, ...],
    token: str,
    said: dict[str, str | None],
    reviewer_id: str,
    *,
    now: datetime | None = None,
) -> SignatureToken:
    """Check a token against any of the reviewer's public keys; with `now`, also that it is recent. This is
    the auditor's check too, from an audit entry's `inputs.signed`, its reviewer and its signature.

    Raises SignatureError naming what failed; returns the parsed token (its `signed_at` orders replays)."""
    if not public_keys:
        raise SignatureError(f"{reviewer_id} has no public key in the agent registry")
    parsed = parse_token(token)
    if now is not None and not now - MAX_SIGNATURE_AGE <= parsed.signed_at <= now + MAX_CLOCK_SKEW:
        raise SignatureError(
            f"the signature was made at {parsed.signed_at:%Y-%m-%d %H:%M:%S}, outside the "
            f"{MAX_SIGNATURE_AGE} before {now:%Y-%m-%d %H:%M:%S} it is valid for: sign again"
        )
    message = decision_message(said, reviewer_id, parsed.signed_at)
    for text in public_keys:
        try:
            parse_public_key(text).verify(parsed.signature, message)
        except InvalidSignature:
            continue
        return parsed
    raise SignatureError(
        f"the signature is not {reviewer_id}'s signature of {said['verb']} {said['subject']} with this comment"
        + (" and this action" if said.get("action_sha256") else "")
    )


def verify_decision(
    public_keys: tuple[str, ...],
    token: str,
    verb: str,
    subject_id: str,
    reviewer_id: str,
    comment: str,
    action: ProposedAction | None = None,
    *,
    now: datetime | None = None,
) -> SignatureToken:
    """`verify_statement` for a decision about to be applied."""
    said = statement(verb, subject_id, comment, action)
    return verify_statement(public_keys, token, said, reviewer_id, now=now)
