"""Metrics: what a known workload records, bounded buckets, O(1) reads, Prometheus text."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq.job import Job

from jobctl.core import metrics
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.prometheus import render
from jobctl.core.worker import JobctlJob, JobctlWorker
from tests.conftest import KEY_PREFIX
from tests.redis_commands import commands_sent


def run_burst(conn, settings, queue: str) -> None:
    policy = queue_catalog(settings)[queue]
    JobctlWorker(
        [rq_queue(conn, q) for q in policy.physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)


def known_workload(conn, settings, tmp_path) -> None:
    enqueue_many(conn, settings, "noop", [{}] * 10, queue="referral-commission")
    enqueue_many(conn, settings, "fail", [{"message": "no"}] * 3, queue="referral-commission")
    enqueue_many(
        conn,
        settings,
        "flaky",
        [{"counter": str(tmp_path / "c"), "fail_times": 5}],
        queue="referral-commission",
    )
    run_burst(conn, settings, "referral-commission")


def test_a_known_workload_gives_known_numbers(redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    window = metrics.window_stats(redis_client, ["referral-commission", "email-sending"], 3600)
    w = window["referral-commission"]
    assert {k: w[k] for k in metrics.OUTCOMES} == {
        "completed": 10,
        "failed": 4,
        "retried": 1,
        "dead": 3,
        "enqueued": 14,
    }
    assert w["error_rate"] == round(4 / 14, 4)
    assert w["throughput_per_minute"] == round(10 / 60, 2)
    assert w["processing_ms"]["p50"] == 5.0  # no-ops finish within the first bucket
    assert w["wait_ms"]["avg"] is not None and w["wait_ms"]["p99"] is not None
    assert window["email-sending"]["completed"] == 0
    series = metrics.recent_series(redis_client, "referral-commission", minutes=5)
    assert sum(series["completed"]) == 10 and sum(series["failed"]) == 4 and len(series["completed"]) == 5


def test_buckets_expire_and_totals_do_not(redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    base = f"{KEY_PREFIX}:jobctl:metrics:referral-commission"
    minutes, hours = redis_client.keys(f"{base}:m:*"), redis_client.keys(f"{base}:h:*")
    assert minutes and hours  # (the workload may straddle a minute or an hour: one or two of each)
    assert all(0 < redis_client.ttl(key) <= metrics.MINUTE_TTL for key in minutes)
    assert all(metrics.MINUTE_TTL < redis_client.ttl(key) <= metrics.HOUR_TTL for key in hours)
    total = f"{base}:total"
    assert redis_client.ttl(total) == -1 and int(redis_client.hget(total, "completed")) == 10


def test_windows_read_buckets_not_jobs(redis_client, settings, monkeypatch):
    """The same commands with 0 or 2,000 waiting jobs: one HGETALL per bucket, nothing per job."""
    sent: list[str] = []
    real_execute = redis.client.Pipeline.execute

    def execute(self, *a, **kw):
        sent.extend(str(c[0][0]).upper() for c in self.command_stack)
        return real_execute(self, *a, **kw)

    def commands() -> list[str]:
        sent.clear()
        monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
        try:
            metrics.window_stats(redis_client, ["email-sending"], 3600)
        finally:
            monkeypatch.undo()
        return list(sent)

    small = commands()
    enqueue_many(redis_client, settings, "noop", [{}] * 2000, queue="email-sending")
    assert commands() == small == ["HGETALL"] * 60
    assert metrics.window_stats(redis_client, ["email-sending"], 3600)["email-sending"]["enqueued"] == 2000


def test_long_windows_use_hourly_buckets():
    assert len(metrics._bucket_keys("q", 7 * 86400, 1_800_000_000)) == 168
    assert len(metrics._bucket_keys("q", 3600, 1_800_000_000)) == 60


def test_percentiles_come_from_bucket_bounds():
    counts = {"p0": 50, "p4": 45, "p8": 4, "p10": 1}  # 5 ms, 100 ms, 2.5 s, 10 s
    assert metrics.percentile(counts, "p", 0.5) == 5.0
    assert metrics.percentile(counts, "p", 0.95) == 100.0
    assert metrics.percentile(counts, "p", 0.99) == 2500.0
    assert metrics.percentile({}, "p", 0.5) is None


def test_buckets_cover_a_day_and_keep_the_first_releases_field_numbers():
    assert metrics.TOP_BOUND_MS == 86_400_000 and tuple(sorted(metrics.BUCKETS_MS)) == metrics.BUCKETS_MS
    # p0..p13 are the first release's finite buckets, p14 its "over 5 min": counts written before
    # an upgrade keep their meaning (now: past the top bucket), and new bounds took new numbers
    assert [metrics.bucket_field("p", i) for i in range(14)] == [f"p{i}" for i in range(14)]
    assert metrics.bucket_field("w", metrics.bucket_index(10**12)) == "w14"
    assert metrics.bucket_field("w", metrics.bucket_index(20 * 60_000)) == "w16"  # 20 min: <= 30 min
    fields = {metrics.bucket_field("w", i) for i in range(len(metrics.BUCKETS_MS))}
    assert len(fields) == len(metrics.BUCKETS_MS)


def test_waits_past_five_minutes_and_past_the_top_bucket_are_figures_not_blanks():
    def times(waits_ms):
        counts = metrics._merge(
            dict(zip(pairs[::2], pairs[1::2]))
            for pairs in (
                metrics.job_increments("completed", enqueued=0.0, started=ms / 1000, ended=ms / 1000)
                for ms in waits_ms
            )
        )
        return metrics.summarize(counts, 900)["wait_ms"]

    # the case: an average wait of 239 s printed `wait95 -`
    backlog = times([200_000] * 10 + [400_000] * 10)
    assert backlog["p95"] == 900_000.0 and backlog["beyond_top"] == []
    assert metrics.quantile_text(backlog, "p95") == "15m"
    assert metrics.quantile_text(backlog, "p50") == "5m"
    # a backlog older than the top bucket: a lower bound, said so
    stale = times([1_000] * 90 + [2 * 86_400_000] * 10)
    assert stale["p50"] == 1000.0 and stale["p95"] == stale["p99"] == 86_400_000.0
    assert stale["beyond_top"] == ["p95", "p99"]
    assert [metrics.quantile_text(stale, q) for q in ("p50", "p95", "p99")] == ["1s", ">1d", ">1d"]
    assert metrics.quantile_text(times([]), "p95") == "-"
    assert metrics.quantile_text(times([250]), "p50") == "250ms"
    assert metrics.quantile_text(times([2_400]), "p50") == "2.5s"


def aged_backlog(conn, settings, queue: str, ages: list[float]) -> None:
    """Jobs enqueued `ages` seconds ago (their enqueued_at set back), then run by a worker."""
    ids = enqueue_many(conn, settings, "noop", [{}] * len(ages), queue=queue)
    now = time.time()
    for job_id, age in zip(ids, ages):
        stamp = datetime.fromtimestamp(now - age, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        conn.hset(Job.key_for(job_id), "enqueued_at", stamp)
    run_burst(conn, settings, queue)


def test_a_worker_records_a_day_old_wait_in_the_window(redis_client, settings):
    """Wait is measured from enqueue to start: jobs that waited 20 min and 2 days show as such."""
    aged_backlog(redis_client, settings, "daily-reports", [20 * 60] * 5 + [2 * 86400] * 5)
    wait = metrics.window_stats(redis_client, ["daily-reports"], 900)["daily-reports"]["wait_ms"]
    assert wait["p50"] == 1_800_000.0 and wait["p95"] == 86_400_000.0 and wait["beyond_top"] == ["p95", "p99"]
    assert wait["avg"] > 86_400_000 / 2


def test_prometheus_text_is_well_formed(redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    text = render(redis_client, settings)
    sample = re.compile(r'^[a-z_]+(\{([a-z]+="[^"]*",?)*\})? [0-9.e+-]+$|^[a-z_]+\{[^}]*\} \+Inf$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    # prometheus_client writes labels in name order and every value as a float ("10.0")
    lines = text.splitlines()
    assert 'jobctl_jobs_total{outcome="completed",queue="referral-commission"} 10.0' in lines
    assert 'jobctl_jobs_total{outcome="dead",queue="referral-commission"} 3.0' in lines
    assert 'jobctl_job_duration_seconds_count{queue="referral-commission"} 14.0' in lines
    assert 'jobctl_job_duration_seconds_bucket{le="+Inf",queue="referral-commission"} 14.0' in lines
    # cumulative: never falling from one bucket to the next (how long the jobs took depends on the load)
    prefix = 'jobctl_job_duration_seconds_bucket{le="'
    counts = [
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix) and 'queue="referral-commission"' in line
    ]
    assert len(counts) > 2 and counts == sorted(counts) and counts[-1] == 14.0, counts
    assert "jobctl_dead_letter_jobs 3.0" in lines


# what scrapers, dashboards and alert rules rely on: (type, HELP, label names of the samples)
EXPOSED = {
    "jobctl_queue_jobs": (
        "gauge",
        "Jobs per queue, priority and state right now.",
        {("jobctl_queue_jobs", ("priority", "queue", "state"))},
    ),
    "jobctl_queue_workers": (
        "gauge",
        "Live workers (heartbeat within 3 intervals) listening to the queue.",
        {("jobctl_queue_workers", ("queue",))},
    ),
    "jobctl_dead_letter_jobs": (
        "gauge",
        "Entries in the dead-letter queue.",
        {("jobctl_dead_letter_jobs", ())},
    ),
    "jobctl_jobs": (
        "counter",
        "Job outcomes since metrics began (failed counts every failed attempt).",
        {("jobctl_jobs_total", ("outcome", "queue"))},
    ),
    **{
        name: (
            "histogram",
            help_text,
            {(f"{name}_bucket", ("le", "queue")), (f"{name}_sum", ("queue",)), (f"{name}_count", ("queue",))},
        )
        for name, help_text in (
            ("jobctl_job_duration_seconds", "Time from start to end of an attempt."),
            ("jobctl_job_wait_seconds", "Time from enqueue to start."),
        )
    },
}


def test_prometheus_families_keep_their_names_types_help_and_labels(redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    text = render(redis_client, settings)
    assert "\n# TYPE jobctl_jobs_total counter\n" in text  # the counter's name on the wire keeps _total
    families = {f.name: f for f in text_string_to_metric_families(text)}
    seen = {
        name: (f.type, f.documentation, {(s.name, tuple(sorted(s.labels))) for s in f.samples})
        for name, f in families.items()
    }
    assert seen == EXPOSED  # no process_*/python_* collectors: a private registry
    queues = {s.labels["queue"] for s in families["jobctl_queue_workers"].samples}
    assert queues == set(queue_catalog(settings)) - {"dead-letter"}
    wait = {
        s.labels["le"]: s.value
        for s in families["jobctl_job_wait_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["queue"] == "referral-commission"
    }
    assert list(wait) == [
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.1",
        "0.25",
        "0.5",
        "1",
        "2.5",
        "5",
        "10",
        "30",
        "60",
        "300",
        "900",
        "1800",
        "3600",
        "7200",
        "14400",
        "43200",
        "86400",
        "+Inf",
    ]
    assert list(wait.values()) == sorted(wait.values()) and wait["+Inf"] == 14


def test_a_scrape_reads_the_same_keys_with_2000_waiting_jobs(redis_client, settings, monkeypatch):
    def scrape() -> list[str]:
        return commands_sent(monkeypatch, lambda: render(redis_client, settings))

    empty = scrape()
    enqueue_many(redis_client, settings, "noop", [{}] * 2000, queue="email-sending")
    assert scrape() == empty and 0 < len(empty) < 200
    assert (
        'jobctl_queue_jobs{priority="normal",queue="email-sending",state="waiting"} 2000.0'
        in render(redis_client, settings).splitlines()
    )


def test_bucket_window_gives_the_span_and_each_bucket_from_one_read(redis_client, settings, tmp_path):
    known_workload(redis_client, settings, tmp_path)
    queue = "referral-commission"
    by_window = metrics.window_stats(redis_client, [queue], 3600)[queue]
    minutes = metrics.bucket_window(redis_client, [queue], "m", 60)[queue]
    hours = metrics.bucket_window(redis_client, [queue], "h", 24)[queue]
    for figures in (minutes, hours):
        assert (figures["completed"], figures["failed"]) == (by_window["completed"], by_window["failed"])
        assert figures["wait_ms"] == by_window["wait_ms"]
        assert sum(figures["series"]["completed"]) == figures["completed"]
        assert sum(figures["series"]["failed"]) == figures["failed"]
    assert len(minutes["series"]["completed"]) == 60 and len(hours["series"]["failed"]) == 24
    assert sum(minutes["series"]["completed"][-2:]) == by_window["completed"]  # the newest buckets last
    with pytest.raises(ValueError):
        metrics.bucket_window(redis_client, [queue], "d", 7)
