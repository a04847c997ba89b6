"""Files the commands read: email-bulk recipient CSVs with bad rows, encodings or nothing in them,
and the paths file and email jobs name. Each is exit 2, one line + hint, nothing queued."""

from __future__ import annotations

import pytest

from tests.bad_input.checks import nothing_written, one_error
from tests.bad_input.cli import run

HEADER = b"email,name\n"
CSVS = {
    "empty": b"",
    "header only": HEADER,
    "blank lines only": b"\n\n\n",
    "no email column": b"name\nAda\n",
    "blank header": b",\n",
    "duplicate column": b"email,email\na@example.com,b@example.com\n",
    "bad address": HEADER + b"nobody,Ada\n",
    "bad address on line 3": HEADER + b"a@example.com,Ada\nbob at example.com,Bob\n",
    "two @": HEADER + b"a@b@example.com,Ada\n",
    "extra field": HEADER + b"a@example.com,Ada,surplus\n",
    "missing field": HEADER + b"a@example.com\n",
    "latin-1": HEADER + b"a@example.com,J\xf6rg\n",
    "utf-16": "email,name\na@example.com,Ada\n".encode("utf-16"),
    "nul byte": HEADER + b"a@example.com,A\x00da\n",
    "a png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
    "field beyond the csv limit": HEADER + b"a@example.com," + b"x" * 200_000 + b"\n",
    "template variable missing": b"email\na@example.com\n",
}
SHARED = ["-d", "login_url=https://shop.example/login"]


@pytest.mark.parametrize("content", list(CSVS.values()), ids=list(CSVS))
def test_a_bad_recipients_csv(tmp_path, redis_client, jobctl_env, content):
    recipients = tmp_path / "recipients.csv"
    recipients.write_bytes(content)
    with nothing_written(redis_client, jobctl_env):
        result = run("enqueue", "email-bulk", "-t", "welcome", "--recipients", str(recipients), *SHARED)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    one_error(result.stderr)


@pytest.mark.parametrize("where", ["missing.csv", ".", "/dev/null"])
def test_a_recipients_path_that_is_no_csv(tmp_path, redis_client, jobctl_env, where):
    path = where if where.startswith("/") else str(tmp_path / where)
    with nothing_written(redis_client, jobctl_env):
        result = run("enqueue", "email-bulk", "-t", "welcome", "--recipients", path, *SHARED)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    one_error(result.stderr)


FILE_JOBS = {
    "missing path": ["--url", "{tmp}/missing.png"],
    "a folder": ["--url", "{tmp}"],
    "outside the file roots": ["--url", "/etc/passwd", "--type", "pdf", "--processing", "virus_scan"],
    "file url outside the roots": ["--url", "file:///etc/passwd"],
    "empty url": ["--url", ""],
    "ftp": ["--url", "ftp://files.example/a.png"],
    "loopback": ["--url", "http://127.0.0.1:6379/a.png"],
    "metadata address": ["--url", "http://169.254.169.254/latest/meta-data"],
    "no host": ["--url", "http:///a.png"],
    "unknown type": ["--type", "exe"],
    "type not allowed": ["--type", "application/zip"],
    "unknown processing": ["--processing", "compress"],
    "bad sizes option": ["--processing", "thumbnail", "--option", "sizes=big"],
    "unknown target": ["--processing", "format_convert", "--option", "target=bmp"],
    "option of another processing": ["--processing", "virus_scan", "--option", "quality=5"],
    "options not an object": ["--options-json", "[1]"],
    "options not json": ["--options-json", "{"],
    "control character in name": ["--name", "a\x01b.png"],
    "file id too long": ["--file-id", "x" * 300],
    "size beyond the limit": ["--size", str(10**12)],
}


@pytest.mark.parametrize("args", list(FILE_JOBS.values()), ids=list(FILE_JOBS))
def test_a_bad_file_job(tmp_path, redis_client, jobctl_env, args):
    upload = tmp_path / "photo.png"
    upload.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    given = dict(zip(args[::2], args[1::2], strict=True))
    wanted = {"--url": str(upload), "--type": "png", **given}
    words = [w.replace("{tmp}", str(tmp_path)) for pair in wanted.items() for w in pair]
    with nothing_written(redis_client, jobctl_env):
        result = run("enqueue", "file", *words)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    one_error(result.stderr)


@pytest.mark.parametrize("attach", ["{tmp}/missing.pdf", "{tmp}", "{big}"])
def test_a_bad_attachment(tmp_path, monkeypatch, redis_client, jobctl_env, attach):
    monkeypatch.setenv("JOBCTL_MAX_ATTACHMENT_SIZE", "1k")
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * 4096)
    path = attach.replace("{tmp}", str(tmp_path)).replace("{big}", str(big))
    args = ["--to", "a@example.com", "-t", "welcome", "-d", "name=Ada", *SHARED, "--attach", path]
    with nothing_written(redis_client, jobctl_env):
        result = run("enqueue", "email", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    one_error(result.stderr)
