"""The `surgewise` command line, assembled here from one module per command group (as the Dagster CLI is).

| command | module |
| --- | --- |
| `simulate`, `run`, `evaluate` | `run_commands` |
| `models` | `models_commands` |
| `agents list/pause/resume/graduate` | `agents_commands` |
| `approvals list/approve/reject/execute/resolve` | `approvals_commands` |
| `actions list/rollback` | `actions_commands` |
| `contacts do-not-contact` | `contacts_commands` |
| `explain person/action` | `explain_commands` |
| `forget` | `forget_command` |
| `quarantine list/replay` | `quarantine_commands` |
| `audit verify/export` | `audit_commands` |
| `reviewers keygen/sign` | `reviewers_commands` |
| `deliveries list/retry` | `deliveries_commands` |

Commands parse and print; the work they do lives in the layers below and is tested there.
"""

from __future__ import annotations

import typer

from dagster_project.cli import models_commands, run_commands
from dagster_project.cli.actions_commands import actions_app
from dagster_project.cli.agents_commands import agents_app
from dagster_project.cli.approvals_commands import approvals_app
from dagster_project.cli.audit_commands import audit_app
from dagster_project.cli.contacts_commands import contacts_app
from dagster_project.cli.deliveries_commands import deliveries_app
from dagster_project.cli.explain_commands import explain_app
from dagster_project.cli.forget_command import forget
from dagster_project.cli.quarantine_commands import quarantine_app
from dagster_project.cli.reviewers_commands import reviewers_app
from dagster_project.core.settings import apply_environment_defaults

app = typer.Typer(help="Surgewise: governed agentic marketing on your data platform.", no_args_is_help=True)


@app.callback()
def main() -> None:
    apply_environment_defaults()


app.command("simulate")(run_commands.simulate_command)
app.command("run")(run_commands.run_command)
app.command("models")(models_commands.models_command)
app.command("evaluate")(run_commands.evaluate_command)
app.command("forget")(forget)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(explain_app, name="explain")
app.add_typer(agents_app, name="agents")
app.add_typer(approvals_app, name="approvals")
app.add_typer(audit_app, name="audit")
app.add_typer(actions_app, name="actions")
app.add_typer(contacts_app, name="contacts")
app.add_typer(reviewers_app, name="reviewers")
app.add_typer(deliveries_app, name="deliveries")
