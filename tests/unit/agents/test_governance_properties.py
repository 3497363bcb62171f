"""Property-based tests of the governor: whatever the interleaving of agent runs, approvals, executions, pauses
and suppressions, no budget cap, frequency cap, suppression or pause is ever breached.

Each example builds a fresh warehouse in a temporary directory (function-scoped pytest fixtures are not reset
between hypothesis examples): a hand-made `marts.dim_person` and `marts.dim_account`, and 2-3 `Governor`s, each
on its own cursor with its own run id, whose steps hypothesis orders. The invariants are checked after every
step against the governance tables, not against the governor's own return values.
"""

from __future__ import annotations

import json
import math
import re
import threading
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from agents.actions import ProposedAction
from agents.config import AgentRegistry, PolicySet, load_agent_registry, load_policies
from agents.governance import audit_reading
from agents.governance.facts import pause_state
from agents.governance.governor import Governor
from agents.governance.policy import Verdict
from agents.governance.rollbacks import RollbackResult
from agents.governance.schema import GLOBAL_CONTROL
from agents.governance.session import ActionRecord, GovernanceError
from agents.governance.store import suppress_person
from dagster_project.core.check_results import CheckOutcome, record_check_result
from dagster_project.core.suppression import SUPPRESSION_TABLE, email_fingerprint
from tests.signing import Reviewers, signed_config

START = datetime(2026, 11, 29, 20, 0)
"""Late on the 29th: a few advances cross into the 30th and into December, so daily and monthly caps both roll."""

SDR = "sdr_sequence_agent"
ADS = "account_ads_agent"
REVIEWER = {SDR: "sam.okafor", ADS: "priya.natarajan"}
HUMAN = "dana.reyes"

ACCOUNTS = [
    # (account_id, tier, industry): saas is auto-executed, healthcare always needs a reviewer.
    ("acc_saas", 1, "saas"),
    ("acc_health", 2, "healthcare"),
    ("acc_retail", 2, "retail"),
]
ACCOUNT_IDS = [account[0] for account in ACCOUNTS]
PEOPLE = [
    # (person_id, email, seniority, job title, timezone); the c_suite contact's first outreach at the tier 1
    # account needs a reviewer. E-mails are mixed case: suppression matches them by normalised fingerprint.
    ("per_0", "Ann.Lee@Example.com", "manager", "Marketing Operations Manager", "Europe/Berlin"),
    ("per_1", "raj.patel@example.com", "c_suite", "Chief Executive Officer", "America/New_York"),
    ("per_2", "MIA.WONG@example.org", "director", "Director of Demand Generation", "Asia/Singapore"),
]
CAMPAIGNS = ["cmp_linkedin_01", "cmp_linkedin_02"]

Limits = tuple[int | None, int | None]
"""A cap's (daily, monthly) limits."""
SHIPPED_SHAPE: tuple[Limits, Limits, Limits] = ((2500, 5000), (3000, 7000), (1200, 3000))
"""Campaign cmp_linkedin_01, channel linkedin and every account: the shipped caps with smaller monthly limits."""


def _limits(daily: list[int | None], monthly: list[int | None]) -> st.SearchStrategy[Limits]:
    return st.sampled_from([(day, month) for day in daily for month in monthly if (day, month) != (None, None)])


cap_sets = st.one_of(
    st.just(SHIPPED_SHAPE),
    st.tuples(
        _limits([None, 800, 1500, 2500], [None, 2000, 5000]),
        _limits([None, 1000, 2000, 3000], [None, 3000, 7000]),
        _limits([None, 600, 1200, 2000], [None, 1500, 3000]),
    ),
)
"""Per example, which caps bind first: each scope and period gets its turn."""
SLOW_EXAMPLES = [HealthCheck.too_slow, HealthCheck.data_too_large]


# --- config variants ----------------------------------------------------------------------------------------


class ConfigVariants:
    """Copies of the shipped config dir with YAML edits, loaded once per variant through the real loaders. Every
    variant shares one key pair per reviewer (`reviewers`), so a test signs its human decisions as they would."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._loaded: dict[str, tuple[AgentRegistry, PolicySet]] = {}
        self._signed = root / "signed"
        self.reviewers = signed_config(self._signed)

    def load(
        self,
        name: str,
        edit_agents: Callable[[dict], None] | None = None,
        edit_policies: Callable[[dict], None] | None = None,
    ) -> tuple[AgentRegistry, PolicySet]:
        if name not in self._loaded:
            directory = self._root / f"variant-{len(self._loaded)}"
            directory.mkdir()
            for file_name, edit in (("agents.yaml", edit_agents), ("policies.yaml", edit_policies)):
                document = yaml.safe_load((self._signed / file_name).read_text())
                if edit is not None:
                    edit(document)
                if file_name == "agents.yaml":
                    _sign_graduations(document, self.reviewers)
                (directory / file_name).write_text(yaml.safe_dump(document, sort_keys=False))
            self._loaded[name] = (load_agent_registry(directory), load_policies(directory))
        return self._loaded[name]

    def budgets(
        self, caps: tuple[Limits, Limits, Limits] = SHIPPED_SHAPE, approval_threshold: int = 750
    ) -> tuple[AgentRegistry, PolicySet]:
        """The ads agent graduated to phase 3 by its owner, and caps small enough to bind within days."""
        (campaign, channel, account) = caps

        def cap(scope: str, cap_id: str, limits: Limits) -> dict[str, Any]:
            daily, monthly = limits
            return (
                {"scope": scope, "id": cap_id}
                | ({"daily": daily} if daily else {})
                | ({"monthly": monthly} if monthly else {})
            )

        def policies(document: dict) -> None:
            document["budgets"] = {
                "approval_threshold": approval_threshold,
                "caps": [
                    cap("campaign", "cmp_linkedin_01", campaign),
                    cap("campaign", "cmp_linkedin_02", (2000, 4500)),
                    cap("channel", "linkedin", channel),
                    cap("account", "*", account),
                ],
            }

        return self.load(f"budgets-{approval_threshold}-{caps}", _graduate_ads_agent, policies)

    def frequency(
        self, channel_max: int, channel_days: int, cross_max: int, cross_days: int
    ) -> tuple[AgentRegistry, PolicySet]:
        def policies(document: dict) -> None:
            document["frequency_caps"] = [
                {"channel": "sales_engagement", "max_actions": channel_max, "window_days": channel_days}
            ]
            document["cross_channel_cap"] = {"max_actions": cross_max, "window_days": cross_days}
            # Quiet hours are judged on the governor's clock, which the steps move at random: an hour-long window
            # keeps most enrolments executable, so the caps are what stops them.
            document["quiet_hours"].update(start_hour=3, end_hour=4)

        return self.load(f"frequency-{channel_max}-{channel_days}-{cross_max}-{cross_days}", None, policies)


def _graduate_ads_agent(document: dict) -> None:
    ads = next(agent for agent in document["agents"] if agent["id"] == ADS)
    ads["rollout"].update(graduated_to_phase=3, graduated_by="priya.natarajan", graduated_on=date(2026, 1, 1))


def _sign_graduations(document: dict, reviewers: Reviewers) -> None:
    """Every graduation in the variant signed with the test's key of the reviewer who graduated the agent."""
    for agent in document["agents"]:
        rollout = agent["rollout"]
        if rollout.get("graduated_to_phase") is not None:
            graduated_on = rollout["graduated_on"]
            graduated_on = date.fromisoformat(graduated_on) if isinstance(graduated_on, str) else graduated_on
            rollout["graduation_signature"] = reviewers.graduation(
                agent["id"], rollout["graduated_to_phase"], rollout["graduated_by"], graduated_on
            )


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> ConfigVariants:
    return ConfigVariants(tmp_path_factory.mktemp("config_variants"))


# --- proposals and steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boost:
    """The ads agent raises a campaign's daily budget for an account."""

    campaign: str
    account: str
    amount: float
    trigger: int

    @property
    def key(self) -> tuple[Any, ...]:
        return (ADS, self.account, self.trigger)

    def action(self) -> ProposedAction:
        return ProposedAction(
            agent_id=ADS,
            action_type="adjust_campaign_budget",
            channel="linkedin",
            person_id=None,
            account_id=self.account,
            payload={"daily_budget_change": self.amount},
            reasoning="property test",
            inputs={},
            inverse={"action_type": "revert_campaign_budget"},
            trigger_key=f"handoff:{self.trigger}",
            campaign_id=self.campaign,
            spend=self.amount,
        )


@dataclass(frozen=True)
class Enrol:
    """The SDR agent enrols a person in a sequence, at 10:00 their time (never in quiet hours)."""

    person: int
    account: str
    trigger: int

    @property
    def key(self) -> tuple[Any, ...]:
        return (SDR, self.person, self.account, self.trigger)

    def action(self) -> ProposedAction:
        return ProposedAction(
            agent_id=SDR,
            action_type="enrol_in_sequence",
            channel="sales_engagement",
            person_id=PEOPLE[self.person][0],
            account_id=self.account,
            payload={"sequence_id": "evaluation-guide", "send_at_local_hour": 10},
            reasoning="property test",
            inputs={},
            inverse={"action_type": "remove_from_sequence"},
            trigger_key=f"surge:{self.trigger}",
        )


@dataclass(frozen=True)
class Submit:
    run: int
    proposals: tuple[Boost | Enrol, ...]


@dataclass(frozen=True)
class Approve:
    run: int
    pick: int


@dataclass(frozen=True)
class ApproveAll:
    """A reviewer clears the whole queue at once."""

    run: int


@dataclass(frozen=True)
class Reject:
    run: int
    pick: int


@dataclass(frozen=True)
class Execute:
    run: int


@dataclass(frozen=True)
class Expire:
    run: int


@dataclass(frozen=True)
class Advance:
    hours: int


@dataclass(frozen=True)
class Rollback:
    run: int
    pick: int


@dataclass(frozen=True)
class Forge:
    """The ads agent labels a proposal of its own a rollback."""

    run: int
    pick: int
    spend: float


@dataclass(frozen=True)
class Suppress:
    person: int
    via: str
    """`governor`: the store's suppress_person; `email`: a fingerprint of the address spelled differently."""


@dataclass(frozen=True)
class Pause:
    run: int
    agent: str


@dataclass(frozen=True)
class Resume:
    run: int
    agent: str


Step = (
    Submit | Approve | ApproveAll | Reject | Execute | Expire | Advance | Rollback | Forge | Suppress | Pause | Resume
)

runs = st.integers(0, 2)
picks = st.integers(0, 20)
small_amounts = st.sampled_from([100.0, 250.0, 400.0, 500.0, 599.99, 600.0, 700.0, 750.0])
"""At or under the approval threshold: executed at once when the caps allow."""
invalid_amounts = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -0.01, -700.0, -50_000.0]),
    st.floats(max_value=-0.01, allow_nan=False, allow_infinity=False),
)
"""What an agent may never spend: non-finite or negative money, denied at proposal and refused by the ledger."""
amounts = st.one_of(
    small_amounts,
    small_amounts,
    small_amounts,
    st.sampled_from([0.01, 750.01, 900.0, 1000.0, 1200.0, 1200.01, 1500.0, 1500.01]),
    st.integers(1, 160_000).map(lambda cents: cents / 100),
    invalid_amounts,
)
boosts = st.builds(
    Boost,
    campaign=st.sampled_from(CAMPAIGNS),
    account=st.sampled_from(ACCOUNT_IDS),
    amount=amounts,
    trigger=st.integers(0, 30),
)
enrolments = st.builds(
    Enrol,
    person=st.integers(0, len(PEOPLE) - 1),
    # The regulated account twice: its enrolments wait for a reviewer, so facts can change before they execute.
    account=st.sampled_from(["acc_saas", "acc_health", "acc_health", "acc_retail"]),
    trigger=st.integers(0, 40),
)


def submits(proposals: st.SearchStrategy) -> st.SearchStrategy[Submit]:
    # One run proposes each intended effect once; repeats across runs (same idempotency key) are kept. A batch
    # repeating a key is tested on its own below.
    batch = st.lists(proposals, min_size=1, max_size=3, unique_by=lambda proposal: proposal.key).map(tuple)
    return st.builds(Submit, run=runs, proposals=batch)


def review_steps(max_hours: int) -> list[st.SearchStrategy]:
    """Approvals and executions weighted up (listed more than once), so approved actions meet changed facts."""
    approve = st.builds(Approve, run=runs, pick=picks)
    execute = st.builds(Execute, run=runs)
    return [
        approve,
        approve,
        st.builds(ApproveAll, run=runs),
        execute,
        execute,
        st.builds(Reject, run=runs, pick=picks),
        st.builds(Expire, run=runs),
        st.builds(Advance, hours=st.integers(0, max_hours)),
        st.builds(Advance, hours=st.integers(0, max_hours)),
        st.builds(Rollback, run=runs, pick=picks),
    ]


# --- the world each example runs in -------------------------------------------------------------------------


@dataclass(frozen=True)
class Executed:
    action_id: str
    agent_id: str
    person_id: str | None
    executed_at: datetime


class World:
    """A fresh warehouse and 2-3 governors on their own cursors, sharing one clock."""

    def __init__(
        self, directory: Path, registry: AgentRegistry, policies: PolicySet, run_count: int, keys: Reviewers
    ) -> None:
        self.connection = duckdb.connect(str(directory / "warehouse.duckdb"))
        _build_marts(self.connection)
        self.keys = keys
        self.registry = registry
        self.policies = policies
        self.cursors = [self.connection.cursor() for _ in range(run_count)]
        self.governors = [
            Governor(cursor, registry, policies, run_id=f"run-{index}") for index, cursor in enumerate(self.cursors)
        ]
        self.now = START
        self._seen: set[str] = set()

    def close(self) -> None:
        for cursor in self.cursors:
            cursor.close()
        self.connection.close()

    def governor(self, run: int) -> Governor:
        return self.governors[run % len(self.governors)]

    def _picked(self, where: str, pick: int) -> tuple[str, str] | None:
        rows = self.connection.execute(
            f"select action_id, agent_id from governance.actions where {where} order by proposed_at, action_id"
        ).fetchall()
        return rows[pick % len(rows)] if rows else None

    def apply(self, step: Step) -> list[ActionRecord]:
        """Run one step; returns the records of a submit."""
        match step:
            case Submit(run, proposals):
                return self.governor(run).submit([proposal.action() for proposal in proposals], self.now)
            case Approve(run, pick) | Reject(run, pick):
                picked = self._picked("status = 'pending_approval'", pick)
                if picked is not None:
                    try:
                        self.review(run, picked[0], REVIEWER[picked[1]], approve=isinstance(step, Approve))
                    except GovernanceError as refusal:
                        assert "expired" in str(refusal), refusal
            case ApproveAll(run):
                for action_id, agent_id in self.connection.execute(
                    "select action_id, agent_id from governance.actions where status = 'pending_approval'"
                ).fetchall():
                    try:
                        self.review(run, action_id, REVIEWER[agent_id], approve=True)
                    except GovernanceError as refusal:
                        assert "expired" in str(refusal), refusal
            case Execute(run):
                self.governor(run).execute_approved(self.now)
            case Expire(run):
                self.governor(run).expire_overdue(self.now)
            case Advance(hours):
                self.now += timedelta(hours=hours)
            case Rollback(run, pick):
                picked = self._picked("status = 'executed' and rollback_of is null", pick)
                if picked is not None:
                    result = self.rollback(run, picked[0])
                    assert result.restored, result.detail
            case Forge(run, pick, spend):
                self.forge(run, pick, spend)
            case Suppress(person, via):
                person_id, email = PEOPLE[person][:2]
                if via == "governor":
                    suppress_person(self.connection, person_id, "property test", self.now)
                else:
                    self.connection.execute(
                        f"insert into {SUPPRESSION_TABLE} values (?, 'unsubscribed', ?) on conflict do nothing",
                        [email_fingerprint(f"  {email.swapcase()} "), self.now],
                    )
            case Pause(run, agent) | Resume(run, agent):
                self.switch(run, agent, pause=isinstance(step, Pause))
        return []

    # Every human decision is signed through these, so a change to how decisions are signed is made once.

    def review(self, run: int, action_id: str, reviewer: str, *, approve: bool) -> None:
        governor = self.governor(run)
        if approve:
            signature = self.keys.approval(governor.connection, action_id, reviewer, "property test", self.now)
            governor.approve(action_id, reviewer, "property test", self.now, signature=signature)
        else:
            signature = self.keys.rejection(governor.connection, action_id, reviewer, "property test", self.now)
            governor.reject(action_id, reviewer, "property test", self.now, signature=signature)

    def rollback(self, run: int, action_id: str) -> RollbackResult:
        governor = self.governor(run)
        signature = self.keys.rollback(governor.connection, action_id, HUMAN, "property test", self.now)
        return governor.rollback(action_id, by=HUMAN, reason="property test", now=self.now, signature=signature)

    def switch(self, run: int, agent: str, *, pause: bool) -> None:
        # A switch must be signed after the agent's last one: the clock moves on a second for each.
        self.now += timedelta(seconds=1)
        signature = self.keys.switch(pause, agent, HUMAN, "property test", self.now)
        switch = self.governor(run).pause if pause else self.governor(run).resume
        switch(agent, by=HUMAN, reason="property test", now=self.now, signature=signature)

    def forge(self, run: int, pick: int, spend: float) -> None:
        """The ads agent proposes a 'rollback' of its own: of an executed boost (or a made-up id) releasing
        `spend`. It must be denied as forged and book nothing."""
        picked = self._picked(f"status = 'executed' and rollback_of is null and agent_id = '{ADS}'", pick)
        target = picked[0] if picked else "f" * 32
        forged = replace(
            Boost(CAMPAIGNS[0], ACCOUNT_IDS[0], spend, pick).action(),
            action_type="revert_campaign_budget",
            rollback_of=target,
        )
        booked = self.connection.execute("select count(*) from governance.budget_ledger").fetchone()
        (record,) = self.governor(run).submit([forged], self.now)
        assert record.decision is None or "scope.rollback_forged" in fired(record), record
        assert self.connection.execute("select count(*) from governance.budget_ledger").fetchone() == booked

    def newly_executed(self) -> list[Executed]:
        """Agent actions (not rollbacks) executed since the last call."""
        rows = self.connection.execute(
            "select action_id, agent_id, person_id, executed_at from governance.actions "
            "where executed_at is not null and rollback_of is null"
        ).fetchall()
        fresh = [Executed(*row) for row in rows if row[0] not in self._seen]
        self._seen.update(row.action_id for row in fresh)
        return fresh


def _build_marts(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("create schema marts")
    connection.execute(
        """
        create table marts.dim_person (
            person_id varchar, email varchar, consent_status varchar, has_unsubscribed boolean,
            has_bounced boolean, unsubscribe_events bigint, complaint_events bigint, seniority varchar,
            job_title varchar, timezone varchar
        )
        """
    )
    for person_id, email, seniority, title, timezone in PEOPLE:
        connection.execute(
            "insert into marts.dim_person values (?, ?, 'opted_in', false, false, 0, 0, ?, ?, ?)",
            [person_id, email, seniority, title, timezone],
        )
    connection.execute("create table marts.dim_account (account_id varchar, tier integer, industry varchar)")
    connection.executemany("insert into marts.dim_account values (?, ?, ?)", ACCOUNTS)
    for check_name in ("dim_person_expectations", "dim_person_freshness"):  # the agents' required checks pass
        record_check_result(
            connection, CheckOutcome(check_name, "marts/dim_person", True, START - timedelta(hours=1), (), "setup")
        )


@contextmanager
def world(configs: ConfigVariants, registry: AgentRegistry, policies: PolicySet, run_count: int) -> Iterator[World]:
    with TemporaryDirectory(prefix="surgewise-governance-") as directory:
        built = World(Path(directory), registry, policies, run_count, configs.reviewers)
        try:
            yield built
        finally:
            built.close()


# --- invariants ---------------------------------------------------------------------------------------------

LEDGER_COLUMN = {"campaign": "campaign_id", "channel": "channel", "account": "account_id"}


def assert_within_budget_caps(
    connection: duckdb.DuckDBPyConnection, registry: AgentRegistry, policies: PolicySet
) -> None:
    """Net money booked per campaign, channel and account in any one UTC day and month stays under its caps;
    no action is booked twice; nothing moves more than the agent may per action; big changes were approved."""
    for cap in policies.budgets.caps:
        column = LEDGER_COLUMN[cap.scope]
        for period, limit in (("day", cap.daily), ("month", cap.monthly)):
            if limit is None:
                continue
            over = connection.execute(
                f"""
                select {column}, date_trunc('{period}', booked_at) as period, sum(amount) as booked
                from governance.budget_ledger where ? = '*' or {column} = ?
                group by all having sum(amount) > ?
                """,
                [cap.id, cap.id, limit + 1e-6],
            ).fetchall()
            assert not over, f"{cap.scope} cap {cap.id} {period}ly {limit} exceeded: {over}"
    twice = connection.execute(
        "select action_id from governance.budget_ledger group by action_id having count(*) > 1"
    ).fetchall()
    assert not twice, f"booked twice: {twice}"
    scope = registry.get(ADS).budget_scope  # type: ignore[union-attr]
    unapproved = connection.execute(
        """
        select l.action_id, l.amount from governance.budget_ledger l join governance.actions a using (action_id)
        where a.rollback_of is null and (abs(l.amount) > ? or (a.reviewed_by is null and l.amount > ?))
        """,
        [scope.max_change_per_action + 1e-9, policies.budgets.approval_threshold + 1e-9],
    ).fetchall()
    assert not unapproved, f"over the per-action limit or over the approval threshold without a reviewer: {unapproved}"
    assert_ledger_sound(connection)


def assert_ledger_sound(connection: duckdb.DuckDBPyConnection) -> None:
    """Every booking is a finite amount; money is released only by a governor-built rollback, by exactly what its
    original booked; no total is NaN."""
    (non_finite, total) = connection.execute(
        "select count(*) filter (where not isfinite(amount)), coalesce(sum(amount), 0) from governance.budget_ledger"
    ).fetchone()
    assert non_finite == 0 and math.isfinite(total), f"{non_finite} non-finite bookings, total {total}"
    releases = connection.execute(
        """
        select l.action_id, l.amount, a.rollback_of,
            (select sum(o.amount) from governance.budget_ledger o where o.action_id = a.rollback_of) as original
        from governance.budget_ledger l join governance.actions a using (action_id)
        where l.amount < 0 or a.rollback_of is not null
        """
    ).fetchall()
    wrong = [row for row in releases if row[2] is None or row[3] is None or row[1] != -row[3]]
    assert not wrong, f"money released other than by the exact reversal of a booking: {wrong}"


def assert_within_frequency_caps(connection: duckdb.DuckDBPyConnection, policies: PolicySet) -> None:
    """For every executed contact action, the person's executed actions in the window ending then (on its channel,
    and across channels) are within the caps. Rolled-back actions still reached the person and count."""
    touches: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for person_id, channel, executed_at in connection.execute(
        "select person_id, channel, executed_at from governance.actions "
        "where executed_at is not null and rollback_of is null and person_id is not null"
    ).fetchall():
        touches[person_id].append((executed_at, channel))
    across = policies.cross_channel_cap
    for person_id, history in touches.items():
        for at, channel in history:
            cap = policies.frequency_cap(channel)
            if cap is not None:
                since = at - timedelta(days=cap.window_days)
                count = sum(1 for t, c in history if c == channel and since <= t <= at)
                assert count <= cap.max_actions, f"{person_id}: {count} {channel} actions in {cap.window_days}d to {at}"
            if across is not None:
                since = at - timedelta(days=across.window_days)
                count = sum(1 for t, _ in history if since <= t <= at)
                assert count <= across.max_actions, f"{person_id}: {count} actions in {across.window_days}d to {at}"


def assert_chain_intact(w: World) -> None:
    """Hashes, MACs, checkpoints, and every reviewer's signature checked against the world's own keys."""
    report = audit_reading.verify_chain(w.connection, registry=w.registry)
    assert report.ok, report.describe()


def report_coverage(w: World) -> None:
    """Tell hypothesis which refusals each example reached (`--hypothesis-show-statistics`), so a property that
    never gets near a cap shows up as such."""
    for rules, detail in w.connection.execute("select rules, status_detail from governance.actions").fetchall():
        for rule in json.loads(rules):
            if rule["verdict"] in (Verdict.DENIED, Verdict.ESCALATED):
                event(f"refused at proposal by {rule['rule_id']}")
        if detail and detail.startswith("blocked at execution"):
            for rule_id in re.findall(r"(?:^|; |: )([a-z_]+\.[a-z_.]+|kill_switch):", detail):
                event(f"approved, then blocked at execution by {rule_id}")
    if w.now.month != START.month:
        event("crossed into the next month")


def fired(record: ActionRecord) -> set[str]:
    return {rule.rule_id for rule in record.decision.fired} if record.decision else set()


# --- a. budgets under interleaved runs ----------------------------------------------------------------------

forgeries = st.builds(Forge, run=runs, pick=picks, spend=st.one_of(invalid_amounts, small_amounts))
budget_steps = st.lists(
    st.one_of(submits(boosts), submits(boosts), submits(boosts), forgeries, *review_steps(max_hours=30)),
    min_size=6,
    max_size=30,
)


@settings(max_examples=35, deadline=None, suppress_health_check=SLOW_EXAMPLES)
@given(caps=cap_sets, threshold=st.sampled_from([400, 750]), run_count=st.integers(2, 3), steps=budget_steps)
@example(
    # Two changes approved while there was room for one, executed by different runs: the second is refused.
    caps=SHIPPED_SHAPE,
    threshold=750,
    run_count=2,
    steps=[
        Submit(0, (Boost("cmp_linkedin_01", "acc_saas", 1000.0, 1),)),
        Submit(1, (Boost("cmp_linkedin_02", "acc_saas", 1000.0, 2),)),
        Approve(0, 0),
        Approve(1, 0),
        Execute(1),
        Execute(0),
    ],
)
def test_no_interleaving_of_runs_overspends_a_budget_cap(
    configs: ConfigVariants, caps, threshold: int, run_count: int, steps
) -> None:
    registry, policies = configs.budgets(caps, threshold)
    with world(configs, registry, policies, run_count) as w:
        for step in steps:
            w.apply(step)
            assert_within_budget_caps(w.connection, registry, policies)
        assert_chain_intact(w)
        report_coverage(w)


# --- b. budgets under real threads --------------------------------------------------------------------------

thread_plans = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["acc_saas", "acc_retail"]),
            st.integers(0, 3),
            st.sampled_from([250.0, 400.0, 600.0, 750.0]),
        ),
        min_size=1,
        max_size=4,
    ),
    min_size=2,
    max_size=4,
)
"""Per thread, its (account, trigger, amount) proposals on cmp_linkedin_01; threads may propose the same effect."""


def _run_threads(configs: ConfigVariants, plans: list[list[tuple[str, int, float]]]):
    """Each plan in its own thread, on its own cursor and run id, all released at once. Checks the ledger and
    the audit chain once every thread has stopped; returns every exception a thread died of."""
    registry, policies = configs.budgets()
    errors: list[tuple[int, BaseException, str]] = []
    with world(configs, registry, policies, run_count=len(plans)) as w:
        barrier = threading.Barrier(len(plans))

        def work(index: int) -> None:
            governor = w.governors[index]
            try:
                barrier.wait()
                for account, trigger, amount in plans[index]:
                    governor.submit([Boost("cmp_linkedin_01", account, amount, trigger).action()], w.now)
            except BaseException as error:  # reported, not swallowed
                errors.append((index, error, traceback.format_exc()))

        threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(len(plans))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
        assert_within_budget_caps(w.connection, registry, policies)
        assert_chain_intact(w)
    return errors


@settings(max_examples=10, deadline=None, suppress_health_check=SLOW_EXAMPLES)
@given(plans=thread_plans)
def test_concurrent_threads_never_overspend_a_campaign(configs: ConfigVariants, plans) -> None:
    errors = _run_threads(configs, plans)

    # A thread may die of an unretried conflict (see the next test), but never of anything else, and never
    # after overspending.
    assert all(isinstance(error, duckdb.Error) for _, error, _ in errors), [text for *_, text in errors]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=SLOW_EXAMPLES,
    phases=[Phase.explicit, Phase.generate],  # a race does not shrink reliably
)
@given(plans=thread_plans)
@example(plans=[[("acc_saas", 0, 250.0), ("acc_retail", 1, 250.0)]] * 3)
def test_concurrent_threads_all_finish(configs: ConfigVariants, plans) -> None:
    errors = _run_threads(configs, plans)

    assert not errors, "\n".join(text for *_, text in errors)


# --- b2. executions and rollbacks of the same approvals in real threads ---------------------------------------

race_plans = st.lists(
    st.lists(st.one_of(st.just("execute"), st.integers(0, 5)), min_size=1, max_size=4),
    min_size=2,
    max_size=4,
)
"""Per thread, its steps: `execute` the approved queue, or roll back the n-th executed boost."""


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=SLOW_EXAMPLES,
    phases=[Phase.explicit, Phase.generate],  # a race does not shrink reliably
)
@given(amounts=st.lists(st.sampled_from([760.0, 900.0, 1000.0]), min_size=1, max_size=4), plans=race_plans)
@example(amounts=[1000.0, 900.0], plans=[["execute", 0], ["execute", 0], ["execute", 1]])
def test_concurrent_executions_and_rollbacks_book_each_approval_once(configs: ConfigVariants, amounts, plans) -> None:
    registry, policies = configs.budgets()
    errors: list[str] = []
    with world(configs, registry, policies, run_count=len(plans)) as w:
        boosts = [
            Boost("cmp_linkedin_01", ACCOUNT_IDS[index % 3], amount, index) for index, amount in enumerate(amounts)
        ]
        for proposal in boosts:
            (record,) = w.governor(0).submit([proposal.action()], w.now)
            assert record.outcome == "pending_approval", record
            w.review(0, record.action.action_id, REVIEWER[ADS], approve=True)
        ids = [proposal.action().action_id for proposal in boosts]
        barrier = threading.Barrier(len(plans))

        def work(index: int) -> None:
            try:
                barrier.wait()
                for step in plans[index]:
                    if step == "execute":
                        w.governors[index].execute_approved(w.now)
                        continue
                    try:
                        w.rollback(index, ids[step % len(ids)])
                    except GovernanceError as refusal:  # not executed yet, or undone by another thread first
                        assert "roll" in str(refusal), refusal
            except BaseException:  # reported, not swallowed
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(len(plans))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
        assert not errors, "\n".join(errors)
        assert_within_budget_caps(w.connection, registry, policies)
        for action_id, amount in zip(ids, amounts, strict=True):
            booked = w.connection.execute(
                "select amount from governance.budget_ledger where action_id = ?", [action_id]
            ).fetchall()
            state = w.connection.execute(
                "select status, state_before from governance.actions where action_id = ?", [action_id]
            ).fetchone()
            assert booked in ([], [(amount,)]), f"{action_id} booked {booked}"
            assert (state[0] in ("executed", "rolled_back")) == (booked != []), state
            if state[0] in ("executed", "rolled_back"):
                assert json.loads(state[1]) == {"budget_change_active": False, "creative_live": False}
            if state[0] == "rolled_back":
                event("an approval executed and was rolled back by racing threads")
        assert_chain_intact(w)


# --- c. frequency caps --------------------------------------------------------------------------------------

frequency_steps = st.lists(
    st.one_of(submits(enrolments), submits(enrolments), submits(enrolments), *review_steps(max_hours=96)),
    min_size=6,
    max_size=30,
)


@settings(max_examples=35, deadline=None, suppress_health_check=SLOW_EXAMPLES)
@given(
    caps=st.tuples(st.integers(1, 3), st.sampled_from([1, 3, 14]), st.integers(1, 3), st.sampled_from([2, 7])),
    run_count=st.integers(2, 3),
    steps=frequency_steps,
)
@example(
    # Two enrolments of one person approved (healthcare account) and executed by two runs: one gets through.
    caps=(1, 14, 2, 7),
    run_count=2,
    steps=[
        Submit(0, (Enrol(0, "acc_health", 1),)),
        Submit(1, (Enrol(0, "acc_health", 2),)),
        Approve(0, 0),
        Approve(1, 0),
        Execute(1),
        Execute(0),
    ],
)
def test_no_interleaving_exceeds_a_frequency_cap(configs: ConfigVariants, caps, run_count: int, steps) -> None:
    registry, policies = configs.frequency(*caps)
    with world(configs, registry, policies, run_count) as w:
        for step in steps:
            w.apply(step)
            assert_within_frequency_caps(w.connection, policies)
        report_coverage(w)


# --- d. suppression -----------------------------------------------------------------------------------------

suppression_steps = st.lists(
    st.one_of(
        submits(enrolments),
        submits(enrolments),
        st.builds(Suppress, person=st.integers(0, len(PEOPLE) - 1), via=st.sampled_from(["governor", "email"])),
        *review_steps(max_hours=48),
    ),
    min_size=6,
    max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW_EXAMPLES)
@given(run_count=st.integers(2, 3), steps=suppression_steps)
@example(
    # Suppressed after the approval, before execution: the approval does not outrank the suppression.
    run_count=2,
    steps=[Submit(0, (Enrol(0, "acc_health", 1),)), Approve(1, 0), Suppress(0, "email"), Execute(0)],
)
def test_a_suppressed_person_is_never_contacted(configs: ConfigVariants, run_count: int, steps) -> None:
    registry, policies = configs.frequency(3, 1, 3, 2)  # loose caps, so suppression is what stops contact
    suppressed: set[str] = set()
    with world(configs, registry, policies, run_count) as w:
        for step in steps:
            records = w.apply(step)
            for executed in w.newly_executed():
                assert executed.person_id not in suppressed, f"{executed} after {executed.person_id} was suppressed"
            for record in records:
                if record.decision is not None and record.action.person_id in suppressed:
                    assert record.decision.verdict is Verdict.DENIED
                    assert "suppression.list" in fired(record)
            if isinstance(step, Suppress):
                suppressed.add(PEOPLE[step.person][0])
        report_coverage(w)


# --- e. the kill switch -------------------------------------------------------------------------------------

pause_targets = st.sampled_from([SDR, ADS, GLOBAL_CONTROL])
pause_steps = st.lists(
    st.one_of(
        submits(enrolments),
        submits(boosts),
        st.builds(Pause, run=runs, agent=pause_targets),
        st.builds(Pause, run=runs, agent=pause_targets),
        st.builds(Resume, run=runs, agent=pause_targets),
        *review_steps(max_hours=30),
    ),
    min_size=6,
    max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW_EXAMPLES)
@given(run_count=st.integers(2, 3), steps=pause_steps)
@example(
    # Approved, then everything paused, then executed: nothing runs; resuming the agent alone is not enough.
    run_count=2,
    steps=[
        Submit(0, (Enrol(0, "acc_health", 1), Boost("cmp_linkedin_01", "acc_retail", 1000.0, 1))),
        Approve(1, 0),
        Approve(1, 0),
        Pause(0, GLOBAL_CONTROL),
        Resume(1, SDR),
        Execute(0),
        Submit(1, (Enrol(1, "acc_retail", 2),)),
        Resume(0, GLOBAL_CONTROL),
        Execute(1),
    ],
)
def test_a_paused_agent_never_acts(configs: ConfigVariants, run_count: int, steps) -> None:
    registry, policies = configs.budgets()
    paused: set[str] = set()

    def is_paused(agent_id: str) -> bool:
        return agent_id in paused or GLOBAL_CONTROL in paused

    with world(configs, registry, policies, run_count) as w:
        for step in steps:
            records = w.apply(step)
            for executed in w.newly_executed():
                assert not is_paused(executed.agent_id), f"{executed} ran while paused ({sorted(paused)})"
            for record in records:
                if record.decision is None:
                    continue  # decided by an earlier run
                if is_paused(record.action.agent_id):
                    assert record.decision.verdict is Verdict.DENIED, record.decision.summary()
                    assert "kill_switch" in fired(record)
                else:
                    assert "kill_switch" not in fired(record)
            if isinstance(step, Pause):
                paused.add(step.agent)
            elif isinstance(step, Resume):
                paused.discard(step.agent)
            for agent_id in (SDR, ADS):
                assert pause_state(w.connection, agent_id).paused is is_paused(agent_id)
        report_coverage(w)


# --- idempotency within one batch ---------------------------------------------------------------------------


@settings(max_examples=3, deadline=None, suppress_health_check=SLOW_EXAMPLES, phases=[Phase.explicit, Phase.generate])
@given(proposal=st.one_of(enrolments, boosts))
def test_a_batch_that_repeats_a_proposal_decides_it_once(configs: ConfigVariants, proposal) -> None:
    registry, policies = configs.budgets()
    with world(configs, registry, policies, run_count=1) as w:
        first, second = w.governor(0).submit([proposal.action(), proposal.action()], w.now)

        assert first.decision is not None
        assert second.decision is None
        assert second.outcome.startswith("already_")
