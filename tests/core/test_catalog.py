from __future__ import annotations

import random
import re

import pytest

from jobctl.core.catalog import DEFAULT_CATALOG, PRIORITIES, Backoff, queue_catalog, split_physical
from jobctl.core.runtime import load_settings
from jobctl.core.worker import physical_queue_names
from jobctl.errors import ConfigError, NotFound, UsageError

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
        assert (p.priority, p.attempts, p.timeout, p.keep_completed, p.keep_failed) == (
            prio,
            attempts,
            timeout,
            keep_ok,
            keep_failed,
        )
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


def test_full_jitter_and_explicit_list():
    rng = random.Random(3)
    full = Backoff(base=100, factor=1, cap=100, jitter="full").delays(50, rng)
    assert all(0 <= d <= 100 for d in full) and min(full) < 50  # full jitter goes well below half
    assert Backoff(kind="list", delays_list=(5, 60, 600)).delays(4) == [5, 60, 600, 600]


def test_backoff_from_toml(tmp_path):
    (tmp_path / "jobctl.toml").write_text(
        "[queues.payment-retry.backoff]\ndelays = [1, 2, 3]\n"
        '[queues.email-sending.backoff]\njitter = "full"\n'
    )
    catalog = queue_catalog(load_settings(environ={}, cwd=tmp_path))
    assert catalog["payment-retry"].retry_delays() == [1, 2, 3, 3]
    assert catalog["email-sending"].backoff.jitter_mode == "full"


@pytest.mark.parametrize("table", ['jitter = "sometimes"', 'kind = "list"', "factor = 0.5", "delays = [-1]"])
def test_bad_backoff_tables(tmp_path, table):
    (tmp_path / "jobctl.toml").write_text(f"[queues.payment-retry.backoff]\n{table}\n")
    with pytest.raises(ConfigError, match=re.escape("queues.payment-retry.backoff")):
        load_settings(environ={}, cwd=tmp_path)


def test_the_catalogue_is_built_once_per_settings_load(tmp_path):
    (tmp_path / "jobctl.toml").write_text("[queues.payment-retry]\nattempts = 2\n")
    settings = load_settings(environ={}, cwd=tmp_path)
    assert queue_catalog(settings) is queue_catalog(settings)
    again = load_settings(environ={}, cwd=tmp_path)
    assert queue_catalog(again) is not queue_catalog(settings)
    assert queue_catalog(again)["payment-retry"].attempts == 2


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("queues = 3", "invalid queues in"),
        ('queues = "email-sending"', "invalid queues in"),
        ("[queues]\nemail-sending = 3", "invalid queues.email-sending in"),
        ("[queues.nosuch]\nattempts = 2", "unknown queue 'nosuch'"),
    ],
)
def test_a_malformed_queues_table_is_a_config_error(tmp_path, toml, message):
    (tmp_path / "jobctl.toml").write_text(toml + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ={}, cwd=tmp_path)
