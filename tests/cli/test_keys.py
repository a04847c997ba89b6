"""jobctl keys generate|rotate, a bad key, and what job show / dlq show reveal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cryptography.fernet import Fernet

from jobctl.cli.app import app
from jobctl.core import browse, dlq
from jobctl.core.bulk import enqueue
from jobctl.core.catalog import queue_catalog
from jobctl.core.stats import queue_key
from tests.encryption import burst_worker

ADDRESS = "ann.lee@example.com"
CARD = "4242 4242 4242 4242"
PAYLOAD = {
    "to": ADDRESS,
    "card_number": "4000056655665556",
    "note": f"card {CARD}",
    "api_key": "k-1",
    "message": f"{ADDRESS} was declined",
}


def test_generate_prints_a_usable_key(cli):
    key = cli("keys", "generate").stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
    assert Fernet(cli.json("keys", "generate")["key"])


def test_a_malformed_key_exits_2_with_one_line_saying_how_to_make_one(cli, key_a, monkeypatch):
    monkeypatch.setenv("JOBCTL_ENCRYPTION_KEYS", f"{key_a},not-a-key-secret")
    result = cli("queue", "list", code=2)
    first, hint = result.stderr.splitlines()
    assert first.startswith("jobctl: error: invalid encryption_keys (JOBCTL_ENCRYPTION_KEYS) from env")
    assert "key 2 of 2 is not a Fernet key" in first and "`jobctl keys generate`" in first
    assert hint.startswith("hint: ")
    assert "not-a-key-secret" not in result.stderr and key_a not in result.stderr  # never echoed


def test_rotate_without_keys_is_a_usage_error(cli):
    result = cli("keys", "rotate", "--yes", code=2)
    assert result.stderr.splitlines()[0] == (
        "jobctl: error: JOBCTL_ENCRYPTION_KEYS is not set: there is no key to rotate to"
    )


def test_rotate_counts_dry_run_then_for_real(cli, use_keys, key_a, key_b, redis_client):
    settings = use_keys(key_a)
    ids = [enqueue(redis_client, settings, "noop", PAYLOAD) for _ in range(3)]
    use_keys(key_b, key_a)
    cli("keys", "rotate", code=2)  # no terminal to confirm on: --yes is needed
    dry = cli.json("keys", "rotate", "--dry-run")
    assert dry["dry_run"] and dry["counts"]["jobs"]["reencrypted"] == 3
    text = cli("keys", "rotate", "--yes").stdout
    assert "re-encrypted" in text and "already current" in text and "the older keys can be dropped" in text
    again = cli.json("keys", "rotate", "--yes")
    assert again["counts"]["jobs"] == {
        "reencrypted": 0,
        "encrypted": 0,
        "current": 3,
        "skipped": 0,
        "failed": 0,
    }
    use_keys(key_b)
    assert cli.json("job", "show", ids[0], "--reveal")["payload"] == PAYLOAD


def test_job_show_redacts_unless_revealed(cli, use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    job_id = enqueue(redis_client, settings, "noop", PAYLOAD, description=f"for {ADDRESS}")
    shown = cli.json("job", "show", job_id)
    assert shown["payload"] == {
        "to": "a***@example.com",
        "card_number": "**** **** **** 5556",
        "note": "card **** **** **** 4242",
        "api_key": "[redacted]",
        "message": "a***@example.com was declined",
    }
    assert shown["description"] == "for a***@example.com"
    text = cli("job", "show", job_id).stdout
    assert ADDRESS not in text and "4242 4242" not in text and "a***@example.com" in text
    assert cli.json("job", "show", job_id, "--reveal")["payload"] == PAYLOAD
    assert ADDRESS in cli("job", "show", job_id, "--reveal").stdout
    queue = cli.json("queue", "show", "email-sending")
    assert queue["jobs"][0]["description"] == "for a***@example.com"


def dlq_show(cli, *args: str) -> str:
    """`dlq show` prints the job's traceback, which the cli fixture would take for a crash."""
    result = cli.runner.invoke(app, ["dlq", "show", *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_dlq_show_redacts_unless_revealed(cli, use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    job_id = enqueue(redis_client, settings, "fail", PAYLOAD)
    burst_worker(redis_client, settings, "email-sending")
    shown = json.loads(dlq_show(cli, job_id, "--json"))
    assert shown["payload"]["to"] == "a***@example.com" and shown["payload"]["api_key"] == "[redacted]"
    assert shown["error_message"] == "a***@example.com was declined"
    assert ADDRESS not in json.dumps(shown) and "4000056655665556" not in json.dumps(shown)
    assert ADDRESS not in dlq_show(cli, job_id)
    assert cli.json("dlq", "list")["entries"][0]["error_message"] == "a***@example.com was declined"
    revealed = json.loads(dlq_show(cli, job_id, "--reveal", "--json"))
    assert revealed["payload"] == PAYLOAD and ADDRESS in revealed["traceback"]
    assert ADDRESS in dlq_show(cli, job_id, "--reveal")
    assert dlq.replay(redis_client, settings, [job_id])["replayed"] == [job_id]  # from the unredacted entry
    assert browse.job_detail(redis_client, settings, job_id, reveal=True)["payload"] == PAYLOAD


def test_without_the_key_show_and_worker_fail_clearly_and_keep_the_job(cli, use_keys, key_a, redis_client):
    settings = use_keys(key_a)
    job_id = enqueue(redis_client, settings, "noop", PAYLOAD)
    use_keys()
    result = cli("job", "show", job_id, code=2)
    assert result.stderr.splitlines()[0] == (
        "jobctl: error: job data is encrypted; set JOBCTL_ENCRYPTION_KEYS "
        "(the key it was encrypted with) to read it"
    )
    env = {k: v for k, v in os.environ.items() if k != "JOBCTL_ENCRYPTION_KEYS"}
    worker = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "start", "--queue", "email-sending", "--burst"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert worker.returncode == 2, worker.stderr
    errors = [line for line in worker.stderr.splitlines() if line.startswith("jobctl: error:")]
    assert len(errors) == 1 and f"job {job_id} on email-sending:normal is encrypted" in errors[0]
    assert "Traceback" not in worker.stderr
    physical = queue_catalog(settings)["email-sending"].physical("normal")
    assert redis_client.lrange(queue_key(physical), 0, -1) == [job_id.encode()]
    supervised = subprocess.run(
        [sys.executable, "-m", "jobctl", "worker", "start", "--queue", "email-sending", "--concurrency", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert supervised.returncode == 2, supervised.stderr  # stopped, not restarted in a loop, not hanging
    assert f"job {job_id} on email-sending:normal is encrypted" in supervised.stderr
    assert redis_client.lrange(queue_key(physical), 0, -1) == [job_id.encode()]
