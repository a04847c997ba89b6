from __future__ import annotations

import random

import pytest

from jobctl.core.catalog import DEFAULT_CATALOG, PRIORITIES, Backoff, split_physical
from jobctl.core.worker import physical_queue_names
from jobctl.errors import NotFound, UsageError

EXPECTED = {  # queue: (priority, attempts, timeout, keep completed, keep failed) from the foundation issue
    "email-sending": ("normal", 5, 60, 1000, 5000),
    "file-processing": ("high", 3, 300, 500, 1000),
    "analytics-aggregation": ("low", 3, 1800, 100, 500),
    "payment-retry": ("normal", 5, 120, 1000, 5000),
    "referral-commission": ("normal", 5, 120, 1000, 5000),
    "daily-reports": ("low", 3, 1800, 30, 100),
    "weekly-reports": ("low", 3, 3600, 12, 100),
}


def test_catalogue_matches_the_table():
    assert list(DEFAULT_CATALOG) == [*EXPECTED, "dead-letter"]
    for name, (prio, attempts, timeout, keep_ok, keep_failed) in EXPECTED.items():
        p = DEFAULT_CATALOG[name]
        assert (p.priority, p.attempts, p.timeout, p.keep_completed, p.keep_failed) == \
            (prio, attempts, timeout, keep_ok, keep_failed)
    assert DEFAULT_CATALOG["dead-letter"].keep_completed is None


def test_exponential_backoff_grows_and_caps():
    assert Backoff(base=60, factor=2, cap=3600).delays(4) == [60, 120, 240, 480]
    assert Backoff(base=600, factor=2, cap=1000).delays(3) == [600, 1000, 1000]
    assert Backoff(kind="fixed", base=7).delays(3) == [7, 7, 7]


def test_jitter_stays_within_half_and_full_delay():
    rng = random.Random(1)
    for nominal, got in zip([30, 60, 120, 240], Backoff(base=30, jitter=True).delays(4, rng)):
        assert nominal / 2 - 1 <= got <= nominal


def test_retry_delays_one_per_retry():
    assert len(DEFAULT_CATALOG["email-sending"].retry_delays()) == 4
    assert DEFAULT_CATALOG["daily-reports"].retry_delays() == [300, 600]


def test_physical_names_priority_major(settings):
    names = physical_queue_names(settings, ["email-sending", "file-processing"])
    assert names == [f"{q}:{p}" for p in PRIORITIES for q in ("email-sending", "file-processing")]
    assert split_physical("email-sending:low") == ("email-sending", "low")
    assert split_physical("dead-letter") == ("dead-letter", None)


def test_unknown_or_dead_letter_queue_for_workers(settings):
    with pytest.raises(NotFound) as err:
        physical_queue_names(settings, ["emails"])
    assert "email-sending" in err.value.hint
    with pytest.raises(UsageError):
        physical_queue_names(settings, ["dead-letter"])
