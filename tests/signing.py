"""Reviewer keys for tests: a throwaway ed25519 key pair per reviewer, a config dir whose agents.yaml lists their
public keys, and signatures of the decisions a test makes, as a reviewer's `surgewise reviewers sign` would.

    reviewers = signed_config(tmp_path / "config", keys_dir=env.reviewer_keys_dir)
    governor.approve(action_id, "priya.natarajan", "ok", NOW, signature=reviewers.approval(governor, action_id,
        "priya.natarajan", "ok", NOW))
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.actions import ProposedAction
from agents.config import GRADUATE_VERB, graduation_statement, with_reviewer_key
from agents.governance.governor import rollback_window_subject
from agents.governance.signatures import generate_private_key, public_key_text, sign_decision, write_private_key
from agents.governance.store import load_action
from dagster_project.core.settings import REPO_ROOT


@dataclass(frozen=True)
class Reviewers:
    """The private keys of every reviewer in a test's config dir."""

    keys: dict[str, Ed25519PrivateKey]

    def sign(
        self,
        verb: str,
        subject_id: str,
        reviewer_id: str,
        comment: str,
        at: datetime,
        action: ProposedAction | None = None,
    ) -> str:
        return sign_decision(self.keys[reviewer_id], verb, subject_id, reviewer_id, comment, at, action)

    def on_action(
        self,
        connection: duckdb.DuckDBPyConnection,
        verb: str,
        action_id: str,
        reviewer_id: str,
        comment: str,
        at: datetime,
    ) -> str:
        """A signature of `approve`, `reject` or `rollback` over the action as the warehouse stores it."""
        stored = load_action(connection, action_id)
        assert stored is not None, f"no action {action_id}"
        return self.sign(verb, action_id, reviewer_id, comment, at, stored.action)

    def approval(
        self, connection: duckdb.DuckDBPyConnection, action_id: str, reviewer_id: str, comment: str, at: datetime
    ) -> str:
        return self.on_action(connection, "approve", action_id, reviewer_id, comment, at)

    def rejection(
        self, connection: duckdb.DuckDBPyConnection, action_id: str, reviewer_id: str, comment: str, at: datetime
    ) -> str:
        return self.on_action(connection, "reject", action_id, reviewer_id, comment, at)

    def rollback(
        self, connection: duckdb.DuckDBPyConnection, action_id: str, reviewer_id: str, reason: str, at: datetime
    ) -> str:
        return self.on_action(connection, "rollback", action_id, reviewer_id, reason, at)

    def rollback_window(
        self, agent_id: str, since: datetime, until: datetime, reviewer_id: str, reason: str, at: datetime
    ) -> str:
        return self.sign("rollback_window", rollback_window_subject(agent_id, since, until), reviewer_id, reason, at)

    def switch(self, pause: bool, agent_id: str, reviewer_id: str, reason: str, at: datetime) -> str:
        """A signature of pausing (or resuming) an agent, `*` for every agent."""
        return self.sign("pause" if pause else "resume", agent_id, reviewer_id, reason, at)

    def resolution(self, escalation_id: int, reviewer_id: str, resolution: str, at: datetime) -> str:
        return self.sign("resolve", str(escalation_id), reviewer_id, resolution, at)

    def graduation(self, agent_id: str, phase: int, reviewer_id: str, graduated_on: date) -> str:
        """The `graduation_signature` for a rollout block graduating the agent to `phase` on that day."""
        subject, comment = graduation_statement(agent_id, phase, graduated_on)
        signed_at = datetime(graduated_on.year, graduated_on.month, graduated_on.day)
        return self.sign(GRADUATE_VERB, subject, reviewer_id, comment, signed_at)


def signed_config(destination: Path, source: Path = REPO_ROOT / "config", keys_dir: Path | None = None) -> Reviewers:
    """Copy the config dir to `destination` (unless it is the source) with a fresh key pair for every reviewer:
    the public key first in agents.yaml (the shipped key kept after it as retired, as a rotation does, so the
    shipped graduations still verify), the private key under `keys_dir` (mode 0600) if one is given."""
    if destination.resolve() != source.resolve():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    agents_file = destination / "agents.yaml"
    text = agents_file.read_text()
    keys: dict[str, Ed25519PrivateKey] = {}
    for reviewer in yaml.safe_load(text)["reviewers"]:
        key = keys[reviewer["id"]] = generate_private_key()
        text = with_reviewer_key(text, reviewer["id"], public_key_text(key))
        if keys_dir is not None:
            write_private_key(keys_dir, reviewer["id"], key, replace=True)
    agents_file.write_text(text)
    return Reviewers(keys)
