"""`surgewise reviewers keygen|sign`: a reviewer's key pair, and a signed decision to paste into the Launchpad.

A reviewer's decisions are ed25519 signatures: the private key stays with the reviewer (under
`$SURGEWISE_REVIEWER_KEYS_DIR`, mode 0600), the public key goes in `config/agents.yaml`, and the governor
verifies every approval, rejection, pause, resume, rollback and graduation against it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape

from agents.config import with_reviewer_key
from agents.governance.signatures import (
    MAX_SIGNATURE_AGE,
    SignatureError,
    generate_private_key,
    public_key_text,
    write_private_key,
)
from dagster_project.cli.console import command_warehouse, make_console
from dagster_project.cli.governance_support import (
    Comment,
    ReviewerOption,
    fail,
    load_config,
    resolve_action_id,
    sign_as,
    sign_on_action,
)
from dagster_project.core.clock import utc_now
from dagster_project.core.config_files import ConfigError
from dagster_project.core.settings import CONFIG_DIR_ENV, REVIEWER_KEYS_DIR_ENV, env_path

reviewers_app = typer.Typer(help="Reviewer keys: make a key pair, sign a decision.", no_args_is_help=True)


class Verb(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    RESUME = "resume"


ACTION_VERBS = (Verb.APPROVE, Verb.REJECT, Verb.ROLLBACK)


@reviewers_app.command("keygen")
def keygen(
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your reviewer id from agents.yaml.", show_default=False)],
    agents_yaml: Annotated[
        Path | None,
        typer.Option("--agents-yaml", help="Also write the public key into this agents.yaml (first of your keys)."),
    ] = None,
    rotate: Annotated[bool, typer.Option("--rotate", help="Replace an existing private key.")] = False,
) -> None:
    """Make your ed25519 key pair: the private key goes under $SURGEWISE_REVIEWER_KEYS_DIR (mode 0600), the public
    key is printed for config/agents.yaml (or written into it with --agents-yaml; earlier keys stay as retired)."""
    console = make_console()
    target = agents_yaml or env_path(CONFIG_DIR_ENV) / "agents.yaml"
    try:
        text = target.read_text()
        listed = {entry.get("id") for entry in (yaml.safe_load(text) or {}).get("reviewers") or ()}
    except (OSError, yaml.YAMLError) as error:
        fail(console, f"{target}: {error}", "Bad config")
    if reviewer not in listed:
        fail(console, f"{reviewer!r} is not a reviewer in {target}", "Unknown reviewer")
    key = generate_private_key()
    public = public_key_text(key)
    try:
        updated = with_reviewer_key(text, reviewer, public) if agents_yaml else None
        path = write_private_key(env_path(REVIEWER_KEYS_DIR_ENV), reviewer, key, replace=rotate)
    except (SignatureError, ConfigError) as error:
        fail(console, error)
    console.print(f"Private key for {reviewer} written to {escape(str(path))} (mode 0600).", highlight=False)
    if agents_yaml and updated is not None:
        agents_yaml.write_text(updated)
        console.print(f"Public key written first in reviewers[{reviewer}].public_keys of {escape(str(agents_yaml))}.")
    else:
        console.print(f"Put it first in reviewers[{reviewer}].public_keys of config/agents.yaml:", highlight=False)
    console.print(public, markup=False, highlight=False, soft_wrap=True)


@reviewers_app.command("sign")
def sign(
    verb: Annotated[Verb, typer.Argument(help="What you decide.", show_default=False)],
    target: Annotated[
        str, typer.Argument(help="The action id (approve, reject, rollback) or agent id, `*` for all (pause, resume).")
    ],
    reviewer: ReviewerOption,
    comment: Comment,
) -> None:
    """Sign a decision for the Launchpad's governance_decision_job (its `signature`); give the same target, reviewer
    and comment there. A signature over an action covers the action as stored, and is valid for an hour."""
    console = make_console()
    registry, _ = load_config(console)
    if registry.reviewer(reviewer) is None:
        fail(console, f"{reviewer!r} is not a listed reviewer in the agent registry", "Unknown reviewer")
    now = utc_now()
    if verb in ACTION_VERBS:
        with command_warehouse(console, read_only=True) as connection:
            action_id = resolve_action_id(console, connection, target)
            signature = sign_on_action(console, registry, connection, verb.value, action_id, reviewer, comment, now)
        target = action_id
    else:
        signature = sign_as(console, registry, reviewer, verb.value, target, comment, now)
    until = now + MAX_SIGNATURE_AGE
    console.print(
        f"Signed {verb.value} {escape(target)} by {reviewer}, valid until {until:%Y-%m-%d %H:%M} UTC:", highlight=False
    )
    console.print(signature, markup=False, highlight=False, soft_wrap=True)
