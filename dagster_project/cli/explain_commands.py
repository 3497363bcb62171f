"""`surgewise explain person|action`: everything held about one person (GDPR access) and one action's whole
story (policy decision, approval, execution, rollback, audit entries, and whether the chain still verifies)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents.governance.audit_reading import verify_chain
from agents.governance.audit_schema import AUDIT_TABLE
from agents.governance.store import (
    StoredAction,
    load_action,
)
from dagster_project.cli.console import command_warehouse, make_console, shorten
from dagster_project.cli.governance_support import (
    SHORT_ID,
    ActionKey,
    cell,
    configured_registry,
    fail,
    resolve_action_id,
    spend_cell,
    styled,
    what_cell,
)
from dagster_project.core.warehouse import table_exists

explain_app = typer.Typer(help="Explain what the warehouse holds and why.", no_args_is_help=True)

PersonKey = Annotated[
    str, typer.Argument(help="E-mail address, person id, CRM contact id or cookie id.", show_default=False)
]

PROFILE_HIDDEN = {"person_id"}
IDENTITY_DETAILS = ("account_id", "person_rule", "first_seen_at", "is_suppressed")
"""What the identity model says about an identity that helps a reader; other columns are left out."""


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def identity_table(identities: list, title: str) -> Table:
    present = {key for identity in identities for key in identity.details}
    extra = [key for key in IDENTITY_DETAILS if key in present]
    table = Table("type", "value", *extra, title=title)
    for identity in identities:
        table.add_row(
            identity.identity_type,
            identity.identity_value,
            *(_value(identity.details.get(key)) for key in extra),
        )
    return table


@explain_app.command("person")
def person_command(
    key: PersonKey,
    signals: Annotated[int, typer.Option("--signals", min=0, help="Show this many most recent signals.")] = 20,
) -> None:
    """Identities, profile, signals and scores, and every agent action and channel state touching a person."""
    from dagster_project.privacy.explain import explain_person
    from dagster_project.privacy.resolve import UnknownPersonError

    console = make_console()
    try:
        with command_warehouse(console, read_only=True) as connection:
            explanation = explain_person(connection, key, signal_limit=signals)
    except UnknownPersonError as error:
        console.print(f"[red]Unknown person:[/red] {error}.", highlight=False)
        raise typer.Exit(code=1) from None

    person = explanation.person
    console.print(f"[bold]Person {person.person_id}[/bold]", highlight=False)
    console.print(identity_table(person.identities, "Identities (identity resolution)"))
    console.print(_profile_table(explanation))
    console.print(_signals_table(explanation))
    console.print(_person_audit_table(explanation))
    _print_scores(console, explanation)
    console.print(_enrolments_table(explanation))
    console.print(
        "Suppression list: "
        + ("[red]suppressed[/red] (never contacted)" if explanation.suppressed else "not suppressed")
    )


def _profile_table(explanation: Any) -> Table:
    profile = Table("field", "value", title="Profile (marts.dim_person)")
    if explanation.profile:
        for name, value in explanation.profile.items():
            if name not in PROFILE_HIDDEN:
                profile.add_row(name, _value(value))
    else:
        profile.add_row("(no profile row)", "—")
    return profile


def _signals_table(explanation: Any) -> Table:
    shown = f"; latest {len(explanation.signals)}" if explanation.signals else ""
    signal_table = Table(
        *(explanation.signals[0].keys() if explanation.signals else ("signals",)),
        title=f"Signals (marts.fct_signals): {explanation.signal_count} in all, quality score sum "
        f"{explanation.quality_score_sum:.3f}{shown}",
    )
    for signal in explanation.signals:
        signal_table.add_row(*(_value(value) for value in signal.values()))
    if not explanation.signals:
        signal_table.add_row("none")
    return signal_table


def _person_audit_table(explanation: Any) -> Table:
    actions = Table(
        "entry", "recorded at", "agent", "event", "action", "verdict", "outcome", "reasoning", title="Audit log"
    )
    for entry in explanation.audit_entries:
        action = " on ".join(part for part in (entry["action_type"], entry["channel"]) if part) or "—"
        actions.add_row(
            str(entry["entry_id"]),
            f"{entry['recorded_at']:%Y-%m-%d %H:%M}",
            entry["agent_id"],
            entry["event"],
            action,
            _value(entry["policy_verdict"]),
            _value(entry["outcome"]),
            shorten(entry["reasoning"], 80),
        )
    if not explanation.audit_entries:
        actions.add_row("—", "—", "—", "no agent action touched this person", "—", "—", "—", "—")
    return actions


def _enrolments_table(explanation: Any) -> Table:
    state = Table(
        *(explanation.enrolments[0].keys() if explanation.enrolments else ("channel state",)),
        title="Channel state (channel_sandbox.sequence_enrolments)",
    )
    for enrolment in explanation.enrolments:
        state.add_row(*(_value(value) for value in enrolment.values()))
    if not explanation.enrolments:
        state.add_row("not enrolled in any sequence")
    return state


def _print_scores(console: Console, explanation: Any) -> None:
    """Why the models scored this person (and their account) as they did, and what that qualifies them for."""
    if not explanation.intent_scores:
        console.print("Intent scores (ml.intent_scores): none; no promoted intent model has scored this person")
    for score in explanation.intent_scores:
        table = Table(
            "feature",
            "value",
            "contribution",
            title=(
                f"Intent score of the {score['entity_type']} {score['entity_id']}: {score['probability']:.2f} "
                f"(typical {score['reference_probability']:.2f}) on {score['snapshot_date']}, "
                f"model {score['model_version']}"
            ),
            caption="baseline Shapley values: the typical score plus the contributions is the score",
        )
        for item in json.loads(score["top_features"]):
            table.add_row(item["feature"], _value(item["value"]), f"{item['contribution']:+.3f}")
        console.print(table)
    lead = explanation.lead
    if lead is not None:
        verdict = "[green]Agent-Qualified Lead[/green]" if lead["is_aql"] else "not an Agent-Qualified Lead"
        mql = "MQL" if lead["is_mql"] else "not an MQL"
        console.print(
            f"{verdict}: "
            + "; ".join(lead["aql_reasons"])
            + f". Classic lead score: {lead['engagement_points']:.0f} engagement points ({mql}).",
            highlight=False,
        )
    send_time = explanation.send_time
    if send_time is not None:
        console.print(
            f"Send time: {send_time['recommended_local_hour']:02d}:00 {send_time['timezone']}"
            + (" (exploring; best " + f"{send_time['best_local_hour']:02d}:00)" if send_time["is_exploration"] else "")
            + f", {send_time['own_reads']} own reads ({send_time['own_weight']:.0%} of the estimate), the rest "
            f"from the {send_time['segment']} segment",
            highlight=False,
        )


@explain_app.command("action")
def explain_action(action_id: ActionKey) -> None:
    """One action's whole story: what, why, policy decision, approval, execution, rollback, audit entries.

    It also says whether the audit chain still verifies, so the entries shown can be trusted."""
    console = make_console()
    with command_warehouse(console, read_only=True) as connection:
        stored = load_action(connection, resolve_action_id(console, connection, action_id))
        if stored is None:
            fail(console, f"no action {action_id!r}", "Unknown action")
        entries = _audit_entries(connection, stored.action.action_id)
        chain = verify_chain(connection, registry=configured_registry())
    action = stored.action
    detail = f": {escape(stored.status_detail)}" if stored.status_detail else ""
    console.print(f"[bold]Action {action.action_id}[/bold] is {styled(stored.status.value)}{detail}", highlight=False)
    console.print(_what_table(stored))
    console.print(f"[bold]Why[/bold]: {escape(action.reasoning or '—')}", highlight=False)
    console.print(_inputs_table(action.inputs))
    for table in _decision_tables(stored, entries):
        console.print(table)
    console.print(_review_table(stored))
    _print_links(console, stored)
    console.print(_audit_table(action.action_id, entries))
    if chain.ok:
        console.print(f"[green]Audit chain verifies[/green]: {chain.entries:,} entries recomputed and linked.")
    else:
        console.print(f"[red]Audit chain BROKEN[/red]: {escape('; '.join(chain.describe()[:3]))}", highlight=False)


def _what_table(stored: StoredAction) -> Table:
    action = stored.action
    table = Table("", "", title="What", show_header=False, title_justify="left")
    rows = {
        "agent": action.agent_id,
        "action": what_cell(stored),
        "account": action.account_id,
        "person": action.person_id,
        "campaign": action.campaign_id,
        "spend": spend_cell(stored),
        "hands off to": action.handoff_to,
        "proposed at": stored.proposed_at,
        "run": stored.run_id,
        "payload": action.payload or None,
        **{f"content: {name}": text for name, text in action.content.items()},
    }
    for name, value in rows.items():
        table.add_row(escape(name), cell(value))
    return table


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested inputs as dotted keys, so an intent score's probability and model version each get a row."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _inputs_table(inputs: dict[str, Any]) -> Table:
    table = Table("input", "value", title="Inputs the agent read")
    for key, value in _flatten(inputs):
        table.add_row(escape(key), cell(value))
    if not inputs:
        table.add_row("—", "none recorded")
    return table


def _decision_tables(stored: StoredAction, entries: list[dict[str, Any]]) -> list[Table]:
    """Every policy decision on the action as the audit log recorded it (at proposal, at execution after an
    approval, at rollback), or the one governance.actions holds when the log has none."""
    decisions = [
        (f"{entry['event']} at {entry['recorded_at']:%Y-%m-%d %H:%M}", entry)
        for entry in entries
        if entry["action_id"] == stored.action.action_id and entry["policy_rules"] is not None
    ] or [
        (
            "recorded",
            {"policy_verdict": stored.verdict, "policy_version": stored.policy_version, "policy_rules": stored.rules},
        )
    ]
    tables = []
    for when, decision in decisions:
        table = Table(
            "rule",
            "verdict",
            "reason",
            title=f"Policy decision ({when}): {styled(decision['policy_verdict'] or '—')}, "
            f"policy {escape(decision['policy_version'] or '?')}",
        )
        for rule in decision["policy_rules"]:
            table.add_row(escape(rule["rule_id"]), styled(rule["verdict"]), cell(rule["reason"]))
        tables.append(table)
    return tables


def _review_table(stored: StoredAction) -> Table:
    table = Table("", "", title="Approval and execution", show_header=False, title_justify="left")
    table.add_row("reviewers", " or ".join(stored.reviewers) or "none: no human review was asked for")
    table.add_row("expires at", cell(stored.expires_at))
    table.add_row("reviewed by", cell(stored.reviewed_by))
    table.add_row("reviewed at", cell(stored.reviewed_at))
    table.add_row("comment", cell(stored.review_comment))
    table.add_row("executed at", cell(stored.executed_at) if stored.executed_at else "not executed")
    table.add_row("channel state before", cell(stored.state_before))
    table.add_row("channel state after", cell(stored.state_after))
    return table


def _print_links(console: Console, stored: StoredAction) -> None:
    if stored.rolled_back_by:
        console.print(
            f"Rolled back by {stored.rolled_back_by} (`surgewise explain action {stored.rolled_back_by}`).",
            highlight=False,
        )
    if stored.action.rollback_of:
        console.print(
            f"Rollback of {stored.action.rollback_of} (`surgewise explain action {stored.action.rollback_of}`).",
            highlight=False,
        )


def _audit_entries(connection: duckdb.DuckDBPyConnection, action_id: str) -> list[dict[str, Any]]:
    """The action's own entries and those of the rollback linking to it, in chain order."""
    if not table_exists(connection, AUDIT_TABLE):
        return []
    cursor = connection.execute(
        f"""
        select seq, recorded_at, event, action_id, outcome, reviewer, entry_hash, policy_verdict, policy_rules,
            policy_version
        from {AUDIT_TABLE} where action_id = ? or related_action_id = ? order by seq
        """,
        [action_id, action_id],
    )
    names = [column[0] for column in cursor.description]
    entries = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for entry in entries:
        entry["policy_rules"] = json.loads(entry["policy_rules"]) if entry["policy_rules"] else None
    return entries


def _audit_table(action_id: str, entries: list[dict[str, Any]]) -> Table:
    table = Table(
        "seq", "recorded at", "event", "outcome", "reviewer", "entry hash", title=f"Audit log ({AUDIT_TABLE})"
    )
    for entry in entries:
        event = entry["event"]
        if entry["action_id"] != action_id:
            event += f" (of {(entry['action_id'] or '')[:SHORT_ID]})"
        table.add_row(
            str(entry["seq"]),
            cell(entry["recorded_at"]),
            cell(event),
            cell(entry["outcome"]),
            cell(entry["reviewer"]),
            entry["entry_hash"][:SHORT_ID] + "…",
        )
    if not entries:
        table.add_row("—", "—", "no audit entry names this action", "—", "—", "—")
    return table
