"""The one duration grammar (jobctl.durations), as a table, and the settings that use it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobctl import durations
from jobctl.config import load_settings
from jobctl.core.enqueue import parse_duration as enqueue_parse_duration
from jobctl.errors import ConfigError, UsageError

VALID = [
    ("90s", 90),
    ("10m", 600),
    ("2h", 7200),
    ("1d", 86400),
    ("1w", 604800),
    ("1h30m", 5400),
    ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
    ("1h 30m", 5400),
    (" 2H ", 7200),
    ("1.5h", 5400),
    (".5m", 30),
    ("0.25s", 0.25),
    ("0s", 0),
]
BARE = [("90", 90), ("0.5", 0.5), ("0", 0), (30, 30), (1.5, 1.5)]
INVALID = [
    "",
    "   ",
    "soon",
    "10 minutes",
    "30m1h",
    "1h1h",
    "-5m",
    "-5",
    "1ms",
    "m",
    "1x",
    "1,5h",
    "h1",
    "1e3s",
    True,
]


@pytest.mark.parametrize(("text", "seconds"), VALID + BARE)
def test_the_grammar_reads(text, seconds):
    assert durations.seconds_of(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", INVALID)
def test_the_grammar_refuses(text):
    with pytest.raises(ValueError, match="expected a duration like 90s, 10m, 2h, 1d, 1w or 1h30m"):
        durations.seconds_of(text)


@pytest.mark.parametrize(("text", "seconds"), BARE)
def test_bare_numbers_only_where_a_flag_took_seconds_before(text, seconds):
    assert durations.parse_seconds(str(text), "--interval") == pytest.approx(seconds)
    with pytest.raises(UsageError, match="--window expects a duration like 90s"):
        durations.parse_seconds(str(text), "--window", bare=False)


@pytest.mark.parametrize(("text", "seconds"), VALID[:-1])
def test_units_read_the_same_with_or_without_bare_numbers(text, seconds):
    assert durations.parse_seconds(text, "--window", bare=False) == pytest.approx(seconds)
    assert durations.parse_seconds(text, "--since") == pytest.approx(seconds)


def test_errors_name_the_flag_and_give_the_grammar():
    with pytest.raises(UsageError) as caught:
        durations.parse_seconds("soon", "--since")
    assert caught.value.message == (
        "--since expects a duration like 90s, 10m, 2h, 1d, 1w or 1h30m (a bare number is seconds), got 'soon'"
    )
    assert "largest first, e.g. 1h30m" in caught.value.hint
    with pytest.raises(UsageError, match="--refresh must be at most 1m, got '2m'"):
        durations.parse_seconds("2m", "--refresh", minimum=0.2, maximum=60)
    with pytest.raises(UsageError, match=r"--interval must be at least 0.2s, got '0.1'"):
        durations.parse_seconds("0.1", "--interval", minimum=0.2)
    with pytest.raises(UsageError, match="--window must be more than zero"):
        durations.parse_seconds("0m", "--window", positive=True, bare=False)


def test_enqueue_parse_duration_is_the_same_function_and_keeps_its_contract():
    assert enqueue_parse_duration is durations.parse_duration
    assert enqueue_parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert enqueue_parse_duration("1w") == timedelta(weeks=1)
    for bad, message in (
        ("10", "--in expects a duration like 90s"),
        ("0s", "--in must be more than zero"),
        ("99999999999d", "out of range"),
    ):
        with pytest.raises(UsageError, match=message):
            enqueue_parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.2, "0.2s"), (45, "45s"), (90, "1m30s"), (5400, "1h30m"), (8 * 86400 + 5, "1w1d5s")],
)
def test_format_seconds_writes_the_grammar_back(seconds, text):
    assert durations.format_seconds(seconds) == text
    assert durations.seconds_of(text) == pytest.approx(seconds)


DURATION_SETTINGS = [
    "JOBCTL_PAYMENT_TIMEOUT",
    "JOBCTL_CLAMD_TIMEOUT",
    "JOBCTL_FETCH_TIMEOUT",
    "JOBCTL_FILE_TIME_LIMIT",
    "JOBCTL_ALERT_COOLDOWN",
    "JOBCTL_ALERT_OLDEST_WAIT",
    "JOBCTL_DLQ_MAX_AGE",
    "JOBCTL_AUDIT_MAX_AGE",
    "JOBCTL_HEARTBEAT_INTERVAL",
    "JOBCTL_MAINTENANCE_INTERVAL",
    "JOBCTL_SCHEDULER_LEASE",
    "JOBCTL_REDIS_WAIT",
    "JOBCTL_HTTP_READ_TIMEOUT",
    "JOBCTL_WEB_SESSION_TTL",
]


@pytest.mark.parametrize("env", DURATION_SETTINGS)
def test_every_duration_setting_takes_the_grammar(env, monkeypatch):
    field = next(f for f in _fields() if f.env == env)
    for text, seconds in (("1h30m", 5400), ("45", 45), ("2m", 120)):
        monkeypatch.setenv(env, text)
        assert getattr(load_settings(), field.name) == seconds
    monkeypatch.setenv(env, "soon")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert env in caught.value.message and "expected a duration like 90s" in caught.value.message
    monkeypatch.setenv(env, "1.5")  # settings are whole seconds: said, not truncated
    with pytest.raises(ConfigError, match="whole seconds"):
        load_settings()


def test_the_list_of_duration_settings_is_complete():
    from jobctl import config

    assert sorted(f.env for f in _fields() if f.parse is config._parse_duration) == sorted(DURATION_SETTINGS)


def _fields():
    from jobctl import config

    return config.FIELDS
