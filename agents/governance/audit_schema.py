"""The audit log's tables, the columns an entry's hash covers, the files kept outside the warehouse, and the DDL.

Declarations only, so the appender, the subject keys, the anchors and the verifier name the same tables,
columns and files.
"""

from __future__ import annotations

AUDIT_SCHEMA = "audit"
AUDIT_TABLE = f"{AUDIT_SCHEMA}.audit_log"
CHAIN_HEAD_TABLE = f"{AUDIT_SCHEMA}.chain_head"
SUBJECT_KEYS_TABLE = f"{AUDIT_SCHEMA}.subject_keys"
UNCHAINED_TABLE = "audit_log_unchained"
"""Where a warehouse's audit log from before the chain waits while its entries are chained."""

GENESIS_HASH = "0" * 64

HASHED_COLUMNS = (
    "seq",
    "recorded_at",
    "run_id",
    "agent_id",
    "event",
    "action_id",
    "action_type",
    "channel",
    "subject_ref",
    "account_id",
    "reasoning",
    "inputs",
    "policy_verdict",
    "policy_rules",
    "policy_version",
    "reviewer",
    "related_action_id",
    "outcome",
    "signature",
    "prev_hash",
)
"""Every stored field of an entry but its hash and its MAC (`entry_id` is its seq, not stored apart)."""
OMITTED_WHEN_NULL = ("signature",)
"""Hashed only when set, so entries written before the column existed keep their hashes."""
JSON_COLUMNS = ("inputs", "policy_rules")
STORED_COLUMNS = (*HASHED_COLUMNS, "entry_hash", "entry_mac")
MAC_COLUMNS = ("signature", "entry_mac")
"""Added to a log written before entries were keyed (`ensure_audit_log` adds them and keys the old entries)."""

CHAIN_KEY_FILE = "audit_chain.key"
"""In `$SURGEWISE_KEYS_DIR`: the HMAC key of every entry's MAC. Whoever holds it can re-key a rewritten log."""
ANCHOR_KEY_FILE = "audit_anchor_ed25519.pem"
"""In `$SURGEWISE_KEYS_DIR`: the ed25519 private key that signs checkpoints of the head."""
ANCHOR_PUBLIC_KEY_FILE = "anchor_public_key.pem"
"""In `$SURGEWISE_AUDIT_ANCHOR_DIR`, beside the checkpoints: what an auditor verifies them with."""
CHECKPOINT_GLOB = "checkpoint-*.json"

AUDIT_DDL = (
    f"""
    create table if not exists {AUDIT_TABLE} (
        entry_id bigint generated always as (seq) virtual,
        seq bigint primary key,
        recorded_at timestamp not null,
        run_id varchar not null,
        agent_id varchar not null,
        event varchar not null,
        action_id varchar,
        action_type varchar,
        channel varchar,
        subject_ref varchar,
        account_id varchar,
        reasoning varchar,
        inputs json,
        policy_verdict varchar,
        policy_rules json,
        policy_version varchar,
        reviewer varchar,
        related_action_id varchar,
        outcome varchar,
        signature varchar,
        prev_hash varchar not null,
        entry_hash varchar not null,
        entry_mac varchar
    )
    """,
    f"""
    create table if not exists {CHAIN_HEAD_TABLE} (
        id integer primary key check (id = 1),
        seq bigint not null,
        entry_hash varchar not null
    )
    """,
    f"""
    create table if not exists {SUBJECT_KEYS_TABLE} (
        person_id varchar primary key,
        key blob not null,
        created_at timestamp not null
    )
    """,
)
"""The log, its one-row chain head and the subject keys, in creation order."""
