"""on_progress(done, total, stage) of the long core operations: every bulk enqueue reports its
validation, then its enqueueing, from 0 to the total; dead-letter replay and purge report between
batches (clear: test_ops.py; the API's bulk functions: tests/test_api_progress.py)."""

from __future__ import annotations

import pytest

from jobctl.core import bulk, dlq
from jobctl.core.stats import queue_key
from jobctl.core.submit import submit_many
from jobctl.errors import InvalidPayload
from tests.core.test_dlq import dead_jobs


class Recorder:
    """A recording on_progress: `calls`, a list of (done, total, stage)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str]] = []

    def __call__(self, done: int, total: int | None, stage: str) -> None:
        self.calls.append((done, total, stage))

    def __iter__(self):
        return iter(self.calls)

    def stage(self, name: str) -> list[int]:
        return [done for done, _, stage in self.calls if stage == name]


def assert_counts_up(calls: Recorder, stage: str, total: int) -> None:
    """The stage's counts start at 0, never go down, and end at `total`, always of that total."""
    done = calls.stage(stage)
    assert done[0] == 0 and done[-1] == total and done == sorted(done), (stage, done)
    assert {t for _, t, s in calls if s == stage} == {total}


def test_submit_many_reports_validating_then_enqueueing(redis_client, settings, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_MAX", 100)
    monkeypatch.setattr(bulk, "VALIDATE_STEP", 100)
    calls = Recorder()
    ids = submit_many(
        redis_client, settings, "noop", [{} for _ in range(1234)], queue="payment-retry", on_progress=calls
    )
    assert len(ids) == 1234
    assert list(dict.fromkeys(stage for _, _, stage in calls)) == ["validating", "enqueueing"]
    assert_counts_up(calls, "validating", 1234)
    assert_counts_up(calls, "enqueueing", 1234)
    # validation every VALIDATE_STEP rows, enqueueing after every batch: a bar moves from the first row
    assert calls.stage("validating")[:3] == [0, bulk.VALIDATE_STEP, 2 * bulk.VALIDATE_STEP]
    assert calls.stage("enqueueing") == [*range(0, 1234, 100), 1234]
    assert redis_client.llen(queue_key("payment-retry:normal")) == 1234


def test_a_bad_row_stops_validation_before_anything_is_enqueued(redis_client, settings):
    calls = Recorder()
    rows = [{"to": "ann@example.com", "template": "welcome", "data": {"name": "Ann"}}] * 3  # no login_url
    with pytest.raises(InvalidPayload, match="login_url"):
        submit_many(redis_client, settings, "email", rows, on_progress=calls)
    assert calls.calls == [(0, 3, "validating")]  # reported from the first row; no enqueueing stage


def test_dead_letter_replay_and_purge_report_between_batches(redis_client, settings, monkeypatch):
    monkeypatch.setattr(dlq, "PROGRESS_STEP", 10)
    ids = dead_jobs(redis_client, settings, 25)
    replaying = Recorder()
    result = dlq.replay(redis_client, settings, ids[:23], on_progress=replaying)
    assert len(result["replayed"]) == 23
    assert replaying.calls == [(n, 23, "replaying") for n in (0, 10, 20, 23)]

    purging = Recorder()
    result = dlq.purge(redis_client, settings, everything=True, on_progress=purging)
    assert sorted(result["purged"]) == sorted(ids[23:])
    assert purging.calls == [(0, 2, "purging"), (2, 2, "purging")]
