"""The identity graph and the incremental signals through real DuckDB, real dbt and the real Dagster build job.

The hand-built market of `tests.scenario` plus identity cases is built once (batch 1), then a second landing
batch arrives and the job builds again, incrementally (batch 2):

| case               | batch 1                                                 | batch 2                        |
| ------------------ | ------------------------------------------------------- | ------------------------------ |
| three-hop chain    | cookie x1 -> chain.one@ <- cookie x2 -> chain.two@      |                                |
| free mail          | pat@ and sam@gmail.com; a CRM account owns gmail.com    |                                |
| role mailbox       | cookies r1 and r2 both give info@, then rita@ and rob@  |                                |
| suppression        | forget.me@ on the suppression list, its cookie browses  | a new e-mail event for it      |
| merge              | Ann and Ben (CRM contacts of acc_two) are two persons   | one new cookie links both      |
| late and duplicate | Jane's page views                                       | a late and a re-delivered view |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from dagster_project.core.suppression import email_fingerprint, ensure_suppression_list
from dagster_project.lib.names import BUILD_JOB
from tests.environment import SurgewiseEnv, surgewise_environment
from tests.scenario import START, _iso, write_csv, write_jsonl, write_scenario

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("identity_graph")]

SUPPRESSED = "forget.me@surge.example"


def _page_view(event_id: str, cookie: str, moment, category: str = "pricing", session: str | None = None) -> dict:
    return {
        "event_id": event_id,
        "anonymous_id": cookie,
        "occurred_at": _iso(moment),
        "url": f"https://surgewise.example/{category}",
        "content_category": category,
        "user_agent": "Mozilla/5.0 (Macintosh) Safari/605.1",
        "session_id": session or f"s_{event_id}",
    }


def _form_fill(form_fill_id: str, cookie: str, email: str, moment) -> dict:
    return {
        "form_fill_id": form_fill_id,
        "anonymous_id": cookie,
        "occurred_at": _iso(moment),
        "email": email,
        "form_name": "webinar",
    }


def _email_event(event_id: str, email: str, event_type: str, moment, cookie: str | None = None) -> dict:
    return {
        "event_id": event_id,
        "email": email,
        "campaign_id": "cmp_launch",
        "event_type": event_type,
        "occurred_at": _iso(moment),
        "url": "https://surgewise.example/pricing" if event_type == "click" else None,
        "anonymous_id": cookie,
    }


def _write_batch_one(env: SurgewiseEnv) -> None:
    write_scenario(env.landing_dir)
    day = START + timedelta(days=1)
    write_csv(
        env.landing_dir / "crm_accounts" / "batch_20261001_extra.csv",
        "crm_accounts",
        [
            {
                "account_id": "acc_gmail",
                "name": "A CRM account that owns gmail.com",
                "domain": "gmail.com",
                "industry": "saas",
                "employee_count": 10,
                "tier": 3,
                "country": "US",
                "updated_at": _iso(START),
            }
        ],
    )
    write_jsonl(
        env.landing_dir / "form_fills" / "batch_20261001_extra.jsonl",
        [
            # three hops: cookie x1 -> chain.one <- cookie x2 -> chain.two
            _form_fill("ff_x1", "anon_x1", "chain.one@surge.example", day),
            _form_fill("ff_x2", "anon_x2", "chain.two@surge.example", day + timedelta(hours=2)),
            # free mail
            _form_fill("ff_pat", "anon_pat", "pat@gmail.com", day),
            _form_fill("ff_sam", "anon_sam", "sam@gmail.com", day),
            # two people who both used the role mailbox
            _form_fill("ff_r1_info", "anon_r1", "info@surge.example", day),
            _form_fill("ff_r2_info", "anon_r2", "info@surge.example", day),
            _form_fill("ff_r1", "anon_r1", "rita.r@surge.example", day + timedelta(hours=1)),
            _form_fill("ff_r2", "anon_r2", "rob.r@surge.example", day + timedelta(hours=1)),
            # a person who asked to be forgotten
            _form_fill("ff_forget", "anon_forget", SUPPRESSED, day),
        ],
    )
    write_jsonl(
        env.landing_dir / "email_events" / "batch_20261001_extra.jsonl",
        [_email_event("em_x2", "chain.one@surge.example", "click", day + timedelta(hours=1), cookie="anon_x2")],
    )
    write_jsonl(
        env.landing_dir / "web_events" / "batch_20261001_extra.jsonl",
        [
            _page_view("pv_x1", "anon_x1", day, "docs"),
            _page_view("pv_x2", "anon_x2", day, "docs"),
            _page_view("pv_forget", "anon_forget", day, "pricing"),
        ],
    )


def _write_batch_two(env: SurgewiseEnv) -> None:
    later = START + timedelta(days=6)
    write_jsonl(
        env.landing_dir / "web_events" / "batch_20261007.jsonl",
        [
            # late: happened on day 0, lands a week later
            _page_view("pv_jane_late", "anon_jane", START + timedelta(hours=5), "pricing"),
            # a re-delivery of Jane's first page view of batch 1
            _page_view("pv_anon_jane_0", "anon_jane", START + timedelta(hours=2), "pricing", "s_anon_jane_0"),
            _page_view("pv_merge", "anon_merge", later, "pricing"),
        ],
    )
    write_jsonl(
        env.landing_dir / "form_fills" / "batch_20261007.jsonl",
        [_form_fill("ff_merge", "anon_merge", "b@twoonly.example", later)],
    )
    write_jsonl(
        env.landing_dir / "email_events" / "batch_20261007.jsonl",
        [
            _email_event("em_merge", "a@twoonly.example", "click", later, cookie="anon_merge"),
            _email_event("em_forget", SUPPRESSED, "open", later),
        ],
    )


def _query(env: SurgewiseEnv, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(env.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def _build(definitions: dg.Definitions, instance: dg.DagsterInstance) -> None:
    result = definitions.resolve_job_def(BUILD_JOB).execute_in_process(instance=instance)
    assert result.success


def _person_of(env: SurgewiseEnv, identity_type: str, value: str) -> str | None:
    rows = _query(
        env,
        "select person_id from intermediate.int_identity__person_identities "
        "where identity_type = ? and identity_value = ?",
        [identity_type, value],
    )
    return rows[0][0] if rows else None


@dataclass(frozen=True)
class TwoBatches:
    env: SurgewiseEnv
    persons_after_batch_one: dict[str, str]
    """crm_contact_id or e-mail -> person_id after the first build."""
    people_after_batch_one: int


@pytest.fixture(scope="module")
def two_batches(tmp_path_factory: pytest.TempPathFactory, definitions: dg.Definitions) -> Iterator[TwoBatches]:
    with (
        surgewise_environment(tmp_path_factory.mktemp("identity") / "data") as env,
        dg.instance_for_test() as instance,
    ):
        _write_batch_one(env)
        env.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(env.duckdb_path)) as connection:
            ensure_suppression_list(connection)
            connection.execute(
                "insert into governance.suppression_list values (?, 'gdpr_erasure', now())",
                [email_fingerprint(SUPPRESSED)],
            )
        _build(definitions, instance)
        before = dict(
            _query(
                env,
                "select coalesce(crm_contact_id, email), person_id from marts.dim_person",
            )
        )
        (people,) = _query(env, "select count(*) from marts.dim_person")[0]
        _write_batch_two(env)
        _build(definitions, instance)
        yield TwoBatches(env, before, people)


def test_three_hops_stitch_into_one_person(two_batches: TwoBatches) -> None:
    env = two_batches.env
    people = {
        _person_of(env, "anonymous_id", "anon_x1"),
        _person_of(env, "email", "chain.one@surge.example"),
        _person_of(env, "anonymous_id", "anon_x2"),
        _person_of(env, "email", "chain.two@surge.example"),
    }
    assert len(people) == 1 and None not in people
    (row,) = _query(
        env,
        "select account_id, anonymous_id_count, page_views, form_fills from marts.dim_person where person_id = ?",
        list(people),
    )
    assert row == ("acc_surge", 2, 2, 2)


def test_free_mail_and_role_mailboxes_never_merge_or_map_by_domain(two_batches: TwoBatches) -> None:
    env = two_batches.env
    free_mail = _query(
        env,
        "select email, account_id from marts.dim_person where email in ('pat@gmail.com', 'sam@gmail.com') "
        "order by email",
    )
    assert free_mail == [("pat@gmail.com", None), ("sam@gmail.com", None)]
    assert _person_of(env, "email", "pat@gmail.com") != _person_of(env, "email", "sam@gmail.com")

    assert _query(env, "select count(*) from marts.dim_person where email like 'info@%'") == [(0,)]
    assert _person_of(env, "email", "info@surge.example") is None
    rita, rob = _person_of(env, "email", "rita.r@surge.example"), _person_of(env, "email", "rob.r@surge.example")
    assert rita and rob and rita != rob
    assert _person_of(env, "anonymous_id", "anon_r1") == rita
    assert _person_of(env, "anonymous_id", "anon_r2") == rob


def test_person_ids_are_stable_across_batches(two_batches: TwoBatches) -> None:
    env = two_batches.env
    after = dict(_query(env, "select coalesce(crm_contact_id, email), person_id from marts.dim_person"))
    merged_away = after.pop("con_two_b", None)
    before = dict(two_batches.persons_after_batch_one)
    before.pop("con_two_b")
    assert merged_away is None  # Ben is now part of Ann's person
    assert after == before
    assert len(after) == two_batches.people_after_batch_one - 1


def test_a_new_batch_linking_two_persons_is_recorded_as_a_merge(two_batches: TwoBatches) -> None:
    env = two_batches.env
    ann = two_batches.persons_after_batch_one["con_two_a"]
    ben = two_batches.persons_after_batch_one["con_two_b"]
    assert {_person_of(env, "crm_contact_id", "con_two_b"), _person_of(env, "anonymous_id", "anon_merge")} == {ann}
    changes = _query(
        env,
        "select change_type, person_id, before_person_ids, after_person_ids, identities_moved "
        "from marts.fct_identity_changes",
    )
    # Ben's contact id, e-mail and cookie moved to Ann's person
    assert changes == [("merge", ann, sorted([ann, ben]), [ann], 3)]


def test_late_and_redelivered_events_in_a_later_batch(two_batches: TwoBatches) -> None:
    env = two_batches.env
    jane = _person_of(env, "crm_contact_id", "con_jane")
    rows = _query(
        env,
        "select s.signal_id, cast(s.occurred_at as date) from marts.fct_signals s "
        "where s.person_id = ? and s.signal_type = 'page_view' order by s.occurred_at",
        [jane],
    )
    assert len(rows) == 3  # two of batch 1 and the late one; the re-delivery is not counted again
    assert rows[1][1] == START.date()  # the late page view lands on its true day
    # batch 1 already delivered it twice; batch 2 delivers it a third time
    deliveries = _query(
        env,
        "select d._source_file, u.is_duplicate from intermediate.int_signals__unioned u "
        "join intermediate.int_signals__deliveries d using (signal_row_id) "
        "where u.source_event_id = 'pv_anon_jane_0' order by d._loaded_at, d._source_file, d._source_line",
    )
    assert deliveries == [
        ("web_events/batch_20261001.jsonl", False),
        ("web_events/batch_20261001.jsonl", True),
        ("web_events/batch_20261007.jsonl", True),
    ]
    (daily,) = _query(
        env,
        "select pricing_comparison_signals from marts.fct_account_intent_daily "
        "where account_id = 'acc_surge' and signal_date = ?",
        [START.date()],
    )
    assert daily == (2,)  # Jane's original view and the late one on day 0


def test_a_suppressed_email_never_becomes_a_person(two_batches: TwoBatches) -> None:
    env = two_batches.env
    assert _query(env, "select count(*) from marts.dim_person where email = ?", [SUPPRESSED]) == [(0,)]
    assert _person_of(env, "email", SUPPRESSED) is None
    # The loader drops rows carrying a suppressed email before they are stored, in both batches.
    assert _query(env, "select count(*) from raw.form_fills where lower(email) = ?", [SUPPRESSED]) == [(0,)]
    assert _query(env, "select count(*) from raw.email_events where lower(email) = ?", [SUPPRESSED]) == [(0,)]
    # Without the link, the cookie's browsing stays anonymous: it belongs to nobody.
    assert _person_of(env, "anonymous_id", "anon_forget") is None
    assert _query(
        env,
        "select count(*) from marts.fct_signals s join intermediate.int_signals__unioned u using (signal_id) "
        "where u.source_event_id = 'pv_forget' and s.person_id is not null",
    ) == [(0,)]
