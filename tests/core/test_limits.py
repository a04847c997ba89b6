"""JOBCTL_MAX_BATCH: every way of queueing many jobs is refused past the cap, before anything is written."""

from __future__ import annotations

import itertools

import pytest

from jobctl import api
from jobctl.config import load_settings
from jobctl.core import runtime
from jobctl.core.bulk import enqueue_many
from jobctl.core.submit import submit_many
from jobctl.errors import ExitCode, TooMany
from jobctl.http.errors import status_of
from tests.conftest import KEY_PREFIX

WELCOME = {"name": "Ann", "login_url": "https://shop.example/login"}


def _keys(client) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))


@pytest.fixture
def capped(monkeypatch, redis_client):
    """A cap of 5 jobs; yields the keys there were before, which a refusal must leave as they are."""
    monkeypatch.setenv("JOBCTL_MAX_BATCH", "5")
    runtime.reset()
    runtime.install(load_settings(), redis_client)
    yield _keys(redis_client)
    runtime.reset()


def test_default_allows_a_million_recipient_campaign(settings):
    assert settings.max_batch == 1_000_000


def test_submit_many_at_the_cap_queues_them_all(capped, redis_client):
    assert len(submit_many(redis_client, runtime.settings(), "noop", [{}] * 5)) == 5


def test_submit_many_over_the_cap_writes_nothing(capped, redis_client):
    with pytest.raises(TooMany) as refused:
        submit_many(redis_client, runtime.settings(), "noop", [{}] * 6)
    assert refused.value.message == "more than 5 noop jobs in one call"
    assert "JOBCTL_MAX_BATCH" in refused.value.hint
    assert _keys(redis_client) == capped


def test_a_runaway_generator_is_read_no_further_than_the_cap(capped, redis_client):
    endless = ({} for _ in itertools.count())
    with pytest.raises(TooMany):
        submit_many(redis_client, runtime.settings(), "noop", endless)
    assert next(endless) == {}  # still there: it was not drained
    assert _keys(redis_client) == capped


def test_enqueue_many_over_the_cap_writes_nothing(capped, redis_client):
    with pytest.raises(TooMany):
        enqueue_many(redis_client, runtime.settings(), "noop", [{}] * 6)
    assert _keys(redis_client) == capped


def test_bulk_emails_over_the_cap_write_nothing(capped, redis_client):
    rows = [f"user{n}@example.com" for n in range(6)]
    with pytest.raises(TooMany, match="more than 5 email jobs"):
        api.add_bulk_email_jobs(rows, "welcome", WELCOME)
    assert _keys(redis_client) == capped


def test_analytics_backfill_over_the_cap_writes_nothing(capped, redis_client):
    with pytest.raises(TooMany, match="more than 5 analytics jobs"):
        api.schedule_custom_analytics("daily", "2024-01-01", "2024-01-06")
    assert _keys(redis_client) == capped
    assert len(api.schedule_custom_analytics("daily", "2024-01-01", "2024-01-05")) == 5


def test_cli_count_past_the_cap_is_one_line_and_a_hint(capped, redis_client, cli):
    result = cli("enqueue", "noop", "--count", "99999999999999", code=ExitCode.USAGE)
    assert result.stderr.splitlines() == [
        "jobctl: error: more than 5 noop jobs in one call",
        "hint: queue them in parts of at most 5, or raise JOBCTL_MAX_BATCH",
    ]
    assert _keys(redis_client) == capped


def test_cli_csv_past_the_cap_writes_nothing(capped, redis_client, cli, tmp_path):
    csv = tmp_path / "recipients.csv"
    csv.write_text("email\n" + "".join(f"user{n}@example.com\n" for n in range(6)))
    result = cli(
        "enqueue",
        "email-bulk",
        "--template",
        "welcome",
        "--recipients",
        str(csv),
        "-d",
        "name=Ann",
        "-d",
        "login_url=https://shop.example/login",
        "--json",
        code=ExitCode.USAGE,
    )
    assert '"too_many"' in result.stdout
    assert _keys(redis_client) == capped


def test_cli_backfill_past_the_cap_writes_nothing(capped, redis_client, cli):
    cli("analytics", "schedule-custom", "--type", "hourly", "--from", "2024-01-01", code=ExitCode.USAGE)
    assert _keys(redis_client) == capped


def test_http_answers_413_for_too_many():
    assert status_of(TooMany("more than 5 noop jobs in one call")) == 413
