"""`jobctl dlq groups` and `--fingerprint` on `dlq list`, `dlq retry` and `dlq purge`."""

from __future__ import annotations

from typer.testing import CliRunner

from jobctl.cli.app import app
from jobctl.core import dlq
from jobctl.core.bulk import enqueue_many
from jobctl.core.catalog import queue_catalog
from jobctl.core.enqueue import rq_queue
from jobctl.core.payloads import PayloadSerializer
from jobctl.core.worker import JobctlJob, JobctlWorker

SMTP_550 = "SMTP server 127.0.0.1:2525 said 550 5.1.1 <{who}@example.com>: mailbox unavailable"
SMTP_421 = "SMTP server 127.0.0.1:2525 said 421 4.7.0 try again later"


def dead(conn, settings, messages: list[str], queue: str = "payment-retry") -> list[str]:
    ids = enqueue_many(conn, settings, "fail", [{"message": m} for m in messages], queue=queue)
    JobctlWorker(
        [rq_queue(conn, q) for q in queue_catalog(settings)[queue].physical_names],
        connection=conn,
        serializer=PayloadSerializer,
        job_class=JobctlJob,
        settings=settings,
    ).work(burst=True)
    return ids


def two_groups(redis_client, settings) -> tuple[list[str], list[str], dict[str, str]]:
    """Three jobs dead of SMTP 550, one of SMTP 421 (another queue); fingerprint ids by code."""
    ids_550 = dead(redis_client, settings, [SMTP_550.format(who=f"u{i}") for i in range(3)])
    ids_421 = dead(redis_client, settings, [SMTP_421], queue="email-sending")
    groups = dlq.groups(redis_client, settings)["groups"]
    return (
        ids_550,
        ids_421,
        {" 421 " if " 421 " in g["fingerprint"] else " 550 ": g["fingerprint_id"] for g in groups},
    )


def test_groups_at_80_columns_show_ids_codes_and_counts_whole(redis_client, settings):
    two_groups(redis_client, settings)
    result = CliRunner().invoke(app, ["dlq", "groups"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    assert lines[0].split()[:5] == ["fingerprint", "count", "first", "seen", "last"]
    assert lines[1].split()[1] == "3" and lines[1].endswith("payment-retry 3")
    assert lines[2] + lines[3] == (  # wrapped at a space, the rest indented: nothing cut
        "  PermanentJobFailure: SMTP server <ip> said 550 5.1.1 <<email>>: mailbox    unavailable"
    ), result.stdout
    assert lines[4].split()[1] == "1" and lines[5].strip().endswith("said 421 4.7.0 try again later")
    assert "2 group(s)" in lines[6]


def test_groups_json_and_filters(cli, redis_client, settings):
    _, _, gids = two_groups(redis_client, settings)
    doc = cli.json("dlq", "groups")
    assert [(g["fingerprint_id"], g["count"]) for g in doc["groups"]] == [
        (gids[" 550 "], 3),
        (gids[" 421 "], 1),
    ]
    assert doc["total_entries"] == 4 and doc["backfill_done"] is True
    assert [g["fingerprint_id"] for g in cli.json("dlq", "groups", "--queue", "email-sending")["groups"]] == [
        gids[" 421 "]
    ]
    assert cli.json("dlq", "groups", "--since", "1h")["total_groups"] == 2
    assert "no group matches" in cli("dlq", "groups", "--queue", "file-processing").stdout
    cli("dlq", "groups", "--since", "soon", code=2)


def test_list_retry_and_purge_by_fingerprint(cli, redis_client, settings):
    ids_550, ids_421, gids = two_groups(redis_client, settings)
    listed = cli.json("dlq", "list", "--fingerprint", gids[" 550 "])
    assert sorted(e["job_id"] for e in listed["entries"]) == sorted(ids_550)
    preview = cli.json("dlq", "retry", "--all", "--fingerprint", gids[" 550 "], "--dry-run")
    assert preview["by_queue"] == {"payment-retry": 3} and len(preview["would_replay"]) == 3
    assert (
        "3 entr(ies) would be affected"
        in cli("dlq", "retry", "--all", "-f", gids[" 550 "], "--dry-run").stdout
    )
    replayed = cli.json("dlq", "retry", "--all", "--fingerprint", gids[" 550 "], "--yes")
    assert sorted(replayed["replayed"]) == sorted(ids_550)
    purged = cli.json("dlq", "purge", "--all", "--fingerprint", gids[" 421 "], "--yes")
    assert purged["purged"] == ids_421
    assert cli.json("dlq", "groups")["groups"] == []


def test_a_bad_fingerprint_is_refused_before_the_question(cli):
    result = cli("dlq", "purge", "--all", "--fingerprint", "smtp-550", code=2)
    assert "12 hex digits" in result.stderr and "jobctl dlq groups" in result.stderr
