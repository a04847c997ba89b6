"""`dlq list` on an 80-column terminal: every job id is printed whole, so it can be copied."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from jobctl.cli import dlq as dlq_cli
from jobctl.cli.app import app

IDS = [uuid.uuid4().hex, str(uuid.uuid4()), uuid.uuid4().hex]


def _page(*_args, **_kwargs) -> dict:
    entries = [
        {
            "job_id": job_id,
            "queue": "email-sending-transactional",
            "attempt_count": 12,
            "died_at": "2026-12-07T03:12:45.123456+00:00",
            "error_type": "PermanentJobFailure",
            "error_message": "SMTP server 127.0.0.1:2525 said 550 5.1.1 mailbox unavailable " * 2,
        }
        for job_id in IDS
    ]
    return {"entries": entries, "total": len(entries), "next_cursor": None}


def test_every_id_appears_whole_at_80_columns(monkeypatch):
    monkeypatch.setattr(dlq_cli.dlq, "list_entries", _page)
    monkeypatch.setattr(dlq_cli, "state", lambda _ctx: type("S", (), {"connection": None, "settings": None}))
    result = CliRunner().invoke(app, ["dlq", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for job_id in IDS:
        assert any(job_id in line for line in lines), result.stdout
    assert all(line.endswith("…") for line in lines[1:])  # the error gives way, cut visibly
