"""`surgewise explain person` and `surgewise forget`: the data side of GDPR access and erasure requests."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dagster_project.commands import dagster_instance, log_tail, make_console, quiet_build, shorten, warehouse_path
from dagster_project.core.settings import LANDING_DIR_ENV, MODEL_REGISTRY_DIR_ENV, env_path

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


def _identity_table(identities: list, title: str) -> Table:
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
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.privacy import UnknownPersonError, explain_person

    console = make_console()
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    try:
        with open_warehouse(path, read_only=True) as connection:
            explanation = explain_person(connection, key, signal_limit=signals)
    except UnknownPersonError as error:
        console.print(f"[red]Unknown person:[/red] {error}.", highlight=False)
        raise typer.Exit(code=1) from None

    person = explanation.person
    console.print(f"[bold]Person {person.person_id}[/bold]", highlight=False)
    console.print(_identity_table(person.identities, "Identities (identity resolution)"))

    profile = Table("field", "value", title="Profile (marts.dim_person)")
    if explanation.profile:
        for name, value in explanation.profile.items():
            if name not in PROFILE_HIDDEN:
                profile.add_row(name, _value(value))
    else:
        profile.add_row("(no profile row)", "—")
    console.print(profile)

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
    console.print(signal_table)

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
    console.print(actions)

    _print_scores(console, explanation)

    state = Table(
        *(explanation.enrolments[0].keys() if explanation.enrolments else ("channel state",)),
        title="Channel state (channel_sandbox.sequence_enrolments)",
    )
    for enrolment in explanation.enrolments:
        state.add_row(*(_value(value) for value in enrolment.values()))
    if not explanation.enrolments:
        state.add_row("not enrolled in any sequence")
    console.print(state)
    console.print(
        "Suppression list: "
        + ("[red]suppressed[/red] (never contacted)" if explanation.suppressed else "not suppressed")
    )


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


def _print_forget_report(console: Console, report: Any) -> None:
    erased = Table("table", "rows erased", title="Erased")
    for table, count in sorted(report.erased.items()):
        erased.add_row(table, f"{count:,}")
    for column, count in sorted(report.pseudonymised.items()):
        erased.add_row(f"{column} (mentions pseudonymised)", f"{count:,}")
    for source_file, lines in sorted(report.landing_lines.items()):
        erased.add_row(f"landing/{source_file} (lines erased or pseudonymised)", f"{lines:,}")
    for version in report.model_versions_scrubbed:
        erased.add_row(f"model_registry/send_time/{version} (read history)", "1")
    if not (report.erased or report.pseudonymised or report.landing_lines or report.model_versions_scrubbed):
        erased.add_row("(nothing held)", "0")
    console.print(erased)
    emails = sum(1 for identity in report.identities if identity.identity_type == "email")
    console.print(
        f"Suppression list: {emails} e-mail fingerprint(s), {report.suppressed_emails} newly added: "
        "never re-created or contacted.\n"
        f"Audit log: tombstone entry {report.tombstone_entry_id} (person_forgotten); earlier entries kept.",
        highlight=False,
    )
    build = report.build
    if build is not None:
        console.print(
            f"Rebuild (run {build.run_id[:8]}): "
            + (
                "succeeded"
                if build.succeeded
                else f"[yellow]failed in {', '.join(build.failed_steps) or '?'}[/yellow] (log above); "
                "the erasure does not depend on it, the scan below does"
            ),
            highlight=False,
        )
    if report.remaining:
        traces = Table("table", "column", "value", "rows", title="[red]Still found after erasure[/red]")
        for trace in report.remaining:
            traces.add_row(trace.relation, trace.column, trace.value, str(trace.rows) if trace.rows >= 0 else "?")
        console.print(traces)
        if any(trace.relation.startswith("audit.") for trace in report.remaining):
            console.print(
                "The audit log is never rewritten: the entries above hold personal data and need a "
                "governance decision.",
                highlight=False,
            )
    else:
        console.print("Verified: no table or view in the warehouse mentions the person any more.")


def forget(
    key: PersonKey,
    reason: Annotated[str, typer.Option(help="Why (kept on the suppression list and the tombstone).")] = (
        "erasure request (GDPR art. 17)"
    ),
    keep_landing: Annotated[
        bool,
        typer.Option(
            "--keep-landing",
            help="Leave the landing-zone files untouched (default: erase the person's lines there too).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a person everywhere, add them to the suppression list, leave a tombstone in the audit log, verify."""
    from dagster_project.core.warehouse import open_warehouse
    from dagster_project.definitions import defs
    from dagster_project.privacy import UnknownPersonError, forget_person, is_email, resolve_person
    from models.registry import ModelRegistry

    console = make_console()
    path = warehouse_path(console)
    if path is None:
        raise typer.Exit(code=1)
    with open_warehouse(path, read_only=True) as connection:
        person = resolve_person(connection, key)
    if person is None and not is_email(key):
        console.print(
            f"[red]Unknown person:[/red] no person found for {key!r} (looked up person id, CRM contact and cookie).",
            highlight=False,
        )
        raise typer.Exit(code=1)
    if person is None:
        console.print(f"No profile for {key}: it will be suppressed and any trace of it erased.", highlight=False)
    else:
        console.print(_identity_table(person.identities, f"Person {person.person_id}: identities to erase"))
    if not yes:
        typer.confirm("Erase this person from the warehouse and the landing zone? This cannot be undone", abort=True)

    try:
        with (
            dagster_instance() as instance,
            console.status("Erasing, rebuilding the marts, verifying"),
            quiet_build() as log,
        ):
            report = forget_person(
                defs(),
                instance,
                key,
                duckdb_path=path,
                landing_dir=None if keep_landing else env_path(LANDING_DIR_ENV),
                reason=reason,
                model_registry=ModelRegistry(env_path(MODEL_REGISTRY_DIR_ENV)),
            )
    except UnknownPersonError as error:
        console.print(f"[red]Unknown person:[/red] {error}.", highlight=False)
        raise typer.Exit(code=1) from None
    if report.build is not None and not report.build.succeeded:
        console.print(log_tail(log), highlight=False, markup=False)
    _print_forget_report(console, report)
    if not report.verified:
        console.print("[red]Forget is NOT complete: see above.[/red]")
        raise typer.Exit(code=1)
