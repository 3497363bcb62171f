"""Signed checkpoints of the audit log's head, written outside the warehouse (and optionally to a webhook).

The keyed chain stops someone who can write the database but lacks the chain key from rewriting an entry, but
not from cutting entries off the end and moving the head back, or from dropping the whole log. So at the end
of each operation `anchor_head` signs the head (how many entries, the last one's hash) with an ed25519 key
from `$SURGEWISE_KEYS_DIR` into `$SURGEWISE_AUDIT_ANCHOR_DIR/checkpoint-<n>.json`, beside the public key an
auditor checks them with. Each checkpoint names the digest of the one before, so one taken out of the middle
shows; the webhook keeps a copy out of reach of whoever holds the machine. As entry hashes follow a public
rule, a checkpoint proves every entry up to its head without the chain key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agents.governance.audit_chain import canonical, chain_key, entry_mac, outside_dir, secret_file, utc_naive
from agents.governance.audit_schema import (
    ANCHOR_KEY_FILE,
    ANCHOR_PUBLIC_KEY_FILE,
    AUDIT_TABLE,
    CHAIN_HEAD_TABLE,
    CHECKPOINT_GLOB,
    GENESIS_HASH,
)
from dagster_project.core.settings import AUDIT_ANCHOR_DIR_ENV, AUDIT_ANCHOR_WEBHOOK_ENV, KEYS_DIR_ENV
from dagster_project.core.warehouse import table_exists

WEBHOOK_TIMEOUT_SECONDS = 5.0
_LINK_ATTEMPTS = 5

logger = logging.getLogger(__name__)


class AuditAnchorError(RuntimeError):
    """The head does not extend the last checkpoint, or the checkpoints were altered: signing it would bless a
    log that was cut or rewritten."""


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    """1, 2, 3, … in the order they were signed; the file name carries it."""
    entries: int
    """How many entries the log held: the head is the entry at this seq."""
    head_hash: str
    created_at: str
    """ISO time, UTC."""
    previous: str
    """The digest of the checkpoint before (`digest`), or the genesis hash for the first."""
    signature: str = ""
    """Base64 ed25519 signature of the canonical JSON of the fields above."""
    path: Path | None = None
    webhook_error: str | None = None
    """Why the webhook did not take the checkpoint (the local file was written regardless)."""

    def body(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "created_at": self.created_at,
            "previous": self.previous,
        }

    def document(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def digest(self) -> str:
        return hashlib.sha256(canonical(self.document()).encode()).hexdigest()

    def name(self) -> str:
        return self.path.name if self.path else f"checkpoint {self.sequence}"


def checkpoint_name(sequence: int) -> str:
    return f"checkpoint-{sequence:010d}.json"


def anchor_dir(connection: duckdb.DuckDBPyConnection) -> Path | None:
    return outside_dir(connection, AUDIT_ANCHOR_DIR_ENV, "audit_anchors")


def anchor_private_key(connection: duckdb.DuckDBPyConnection, *, create: bool = False) -> Ed25519PrivateKey | None:
    """The checkpoint signing key in the keys directory, made (mode 0600) only when `create`."""
    directory = outside_dir(connection, KEYS_DIR_ENV, "keys")
    if directory is None:
        return None
    pem = secret_file(
        directory / ANCHOR_KEY_FILE,
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        create=create,
    )
    if pem is None:
        return None
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditAnchorError(f"{directory / ANCHOR_KEY_FILE} is not an ed25519 private key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey | None:
    if not path.is_file():
        return None
    key = serialization.load_pem_public_key(path.read_bytes())
    return key if isinstance(key, Ed25519PublicKey) else None


def sign(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> Checkpoint:
    signature = key.sign(canonical(checkpoint.body()).encode())
    return replace(checkpoint, signature=base64.b64encode(signature).decode())


def signature_verifies(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True), canonical(checkpoint.body()).encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def read_checkpoints(directory: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in the directory in sequence order, and what is wrong with the files that are none."""
    checkpoints: list[Checkpoint] = []
    unreadable: list[str] = []
    for path in sorted(directory.glob(CHECKPOINT_GLOB)) if directory.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            checkpoint = Checkpoint(
                sequence=int(document["sequence"]),
                entries=int(document["entries"]),
                head_hash=str(document["head_hash"]),
                created_at=str(document["created_at"]),
                previous=str(document["previous"]),
                signature=str(document["signature"]),
                path=path,
            )
        except (ValueError, KeyError, TypeError):
            unreadable.append(f"{path.name} is not a checkpoint (unreadable or missing fields)")
            continue
        if path.name != checkpoint_name(checkpoint.sequence):
            unreadable.append(f"{path.name} holds checkpoint {checkpoint.sequence} (renamed)")
            continue
        checkpoints.append(checkpoint)
    return sorted(checkpoints, key=lambda checkpoint: checkpoint.sequence), unreadable


def checkpoint_problems(checkpoints: list[Checkpoint], public_key: Ed25519PublicKey | None) -> list[tuple[int, str]]:
    """The checkpoints on their own: each signed by the anchor key, numbered 1, 2, 3, … and naming the one
    before. (position in the log, what is wrong)."""
    problems: list[tuple[int, str]] = []
    previous = GENESIS_HASH
    for number, checkpoint in enumerate(checkpoints, start=1):
        where = f"checkpoint {checkpoint.name()}"
        if public_key is None or not signature_verifies(public_key, checkpoint):
            problems.append((checkpoint.entries, f"{where}: its signature does not verify (forged or altered)"))
        if checkpoint.sequence != number:
            problems.append((checkpoint.entries, f"{where}: checkpoint {number} before it is missing (deleted)"))
        elif checkpoint.previous != previous:
            problems.append((checkpoint.entries, f"{where}: does not name the checkpoint before it (replaced)"))
        previous = checkpoint.digest()
    return problems


def log_problems(checkpoints: list[Checkpoint], hash_at: Mapping[int, str], last_seq: int) -> list[tuple[int, str]]:
    """The log against what each checkpoint signed: it must still reach each signed head, with the same hash."""
    problems: list[tuple[int, str]] = []
    for checkpoint in checkpoints:
        signed = f"checkpoint {checkpoint.name()} signed {checkpoint.entries} entries at {checkpoint.created_at}"
        if checkpoint.entries > last_seq:
            problems.append(
                (last_seq + 1, f"missing: {signed}, the log now ends at entry {last_seq} (truncated below it)")
            )
        elif checkpoint.entries and hash_at.get(checkpoint.entries) != checkpoint.head_hash:
            problems.append((checkpoint.entries, f"differs from the head hash {signed} (rewritten)"))
    return problems


def _head(connection: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """The log's last entry as (seq, hash), after checking its MAC and the chain head agree with it. One
    statement reads both, so an appender committing meanwhile cannot make them seem to disagree."""
    if not table_exists(connection, AUDIT_TABLE):
        return 0, GENESIS_HASH
    row = connection.execute(
        f"""
        select last.seq, last.entry_hash, last.entry_mac, head.seq, head.entry_hash
        from (select seq, entry_hash, entry_mac from {AUDIT_TABLE} order by seq desc limit 1) as last
        left join {CHAIN_HEAD_TABLE} as head on head.id = 1
        """
    ).fetchone()
    if row is None:
        return 0, GENESIS_HASH
    seq, hash_, mac, head_seq, head_hash = row
    key = chain_key(connection)
    if key is None or mac != entry_mac(key, hash_):
        raise AuditAnchorError(f"audit entry {seq} has no valid MAC under the chain key: not signing it")
    if (head_seq, head_hash) != (seq, hash_):
        raise AuditAnchorError(
            f"the chain head {(head_seq, head_hash)} does not point at the last entry {seq}: not signing it"
        )
    return int(seq), str(hash_)


def _check_extends(connection: duckdb.DuckDBPyConnection, last: Checkpoint, seq: int) -> None:
    if seq < last.entries:
        raise AuditAnchorError(
            f"the audit log ends at entry {seq}, below checkpoint {last.name()} ({last.entries} entries): truncated"
        )
    row = connection.execute(f"select entry_hash from {AUDIT_TABLE} where seq = ?", [last.entries]).fetchone()
    if row is None or row[0] != last.head_hash:
        raise AuditAnchorError(f"audit entry {last.entries} differs from checkpoint {last.name()}: rewritten")


def _publish_public_key(directory: Path, key: Ed25519PrivateKey) -> None:
    """Write the public key beside the checkpoints once; one that differs was replaced, or the key was."""
    path = directory / ANCHOR_PUBLIC_KEY_FILE
    pem = public_key_pem(key)
    if path.is_file():
        if path.read_bytes() != pem:
            raise AuditAnchorError(f"{path} is not the public half of the anchor key")
        return
    _write_atomically(path, pem, replace_existing=True)


def _write_atomically(path: Path, data: bytes, *, replace_existing: bool) -> None:
    """Through a temporary file, so no reader sees half a file. A checkpoint appears by a hard link, which
    never replaces a checkpoint another writer numbered the same (`FileExistsError`)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    try:
        if replace_existing:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _post(url: str, checkpoint: Checkpoint) -> str | None:
    """POST the checkpoint; the reason it failed, or None. A failure never loses the local checkpoint."""
    try:
        response = httpx.post(url, json=checkpoint.document(), timeout=WEBHOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as error:
        logger.warning("audit checkpoint %s not delivered to %s: %s", checkpoint.sequence, url, error)
        return f"{type(error).__name__}: {error}"
    return None


def anchor_head(
    connection: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    directory: Path | None = None,
    webhook_url: str | None = None,
) -> Checkpoint | None:
    """Sign the audit log's head into a new checkpoint, unless the last one already holds it (None). Called at
    the end of every operation that appends. Refuses (`AuditAnchorError`) a head that does not extend the last
    checkpoint, or checkpoints that do not verify: those need an operator, not a signature.

    The webhook (`webhook_url`, else `$SURGEWISE_AUDIT_ANCHOR_WEBHOOK_URL`) gets the checkpoint after the
    file is written; if it fails, `webhook_error` says why."""
    directory = directory or anchor_dir(connection)
    if directory is None:
        return None
    for _ in range(_LINK_ATTEMPTS):
        checkpoints, unreadable = read_checkpoints(directory)
        key = anchor_private_key(connection, create=not checkpoints and not unreadable)
        if key is None:
            raise AuditAnchorError("the anchor signing key is missing while checkpoints exist: restore it")
        problems = unreadable + [problem for _, problem in checkpoint_problems(checkpoints, key.public_key())]
        if problems:
            raise AuditAnchorError("the audit checkpoints do not verify: " + "; ".join(problems))
        seq, head_hash = _head(connection)
        last = checkpoints[-1] if checkpoints else None
        if last is not None:
            _check_extends(connection, last, seq)
            if last.entries == seq:
                return None
        elif seq == 0:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        _publish_public_key(directory, key)
        checkpoint = sign(
            key,
            Checkpoint(
                sequence=len(checkpoints) + 1,
                entries=seq,
                head_hash=head_hash,
                created_at=utc_naive(now).replace(tzinfo=UTC).isoformat(),
                previous=last.digest() if last else GENESIS_HASH,
            ),
        )
        path = directory / checkpoint_name(checkpoint.sequence)
        document = (json.dumps(checkpoint.document(), indent=2, sort_keys=True) + "\n").encode()
        try:
            _write_atomically(path, document, replace_existing=False)
        except FileExistsError:
            continue  # another writer took this number: read the checkpoints again
        url = webhook_url or os.environ.get(AUDIT_ANCHOR_WEBHOOK_ENV)
        return replace(checkpoint, path=path, webhook_error=_post(url, checkpoint) if url else None)
    raise AuditAnchorError(f"could not number a checkpoint in {directory}: other writers kept taking the number")
