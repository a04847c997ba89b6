"""Settings: every setting in config's table with a value it refuses, from the environment, a .env
file and jobctl.toml; and, in real processes, the files and folders the command line names. Each
is exit 2, one line naming the setting (a secret's value never shown) and a hint; nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobctl.config import FIELDS, FIELDS_BY_NAME
from tests.bad_input.checks import PREFIX, nothing_written, one_error
from tests.bad_input.cli import run

# per setting, values its parse or check refuses
BAD: dict[str, list[str]] = {
    "redis_url": [
        "http://localhost",
        "redis://127.0.0.1:1/abc",
        "redis://:pw@127.0.0.1:99999/0",
        "redis://",
        "redis+sentinel://127.0.0.1:26379",
        "redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:0/mymaster",
    ],
    "encryption_keys": ["not-a-fernet-key"],
    "home": ["/etc/hostname", "/etc/hostname/below"],
    "email_provider": ["pigeon"],
    "smtp_port": ["smtp", "0", "70000"],
    "smtp_security": ["tls13"],
    "smtp_timeout": ["soon", "0"],
    "sendgrid_url": ["ftp://sendgrid.example"],
    "max_attachment_size": ["big", "-1"],
    "max_file_size": ["10q", "0"],
    "allowed_file_types": ["application/x-msdownload", "image/png,text/html"],
    "database_url": ["mysql://db/shop"],
    "stripe_url": ["stripe.example"],
    "yookassa_url": ["ftp://yookassa.example"],
    "crypto_url": ["gateway"],
    "payment_timeout": ["later", "0"],
    "payment_attempts": ["paypal=3", "stripe=x", "stripe=0"],
    "commission_rates": ["ten", "150%", ",".join(["1%"] * 11)],
    "shop_url": ["shop.example"],
    "storage_dir": ["/etc/hostname"],
    "virus_scanner": ["antivirus"],
    "clamd_timeout": ["-1"],
    "fetch_timeout": ["0"],
    "fetch_allow_hosts": ["cdn example", "user@cdn.example"],
    "file_roots": ["relative/uploads"],
    "file_time_limit": ["0"],
    "image_memory_limit": ["lots"],
    "max_image_pixels": ["0"],
    "thumbnail_sizes": ["big", "0x0", "20000x20000"],
    "image_quality": ["0", "101"],
    "admin_emails": ["nobody", "a@example.com,not an address"],
    "alert_webhook_url": ["hooks.example/x"],
    "alert_cooldown": ["-5m"],
    "alert_error_rate": ["high", "101"],
    "alert_min_volume": ["-1"],
    "alert_queue_size": ["many"],
    "alert_oldest_wait": ["forever"],
    "alert_no_worker": ["maybe"],
    "test_job_types": ["sometimes"],
    "dlq_max_entries": ["-1"],
    "dlq_max_age": ["1y"],
    "audit_max_entries": ["0"],
    "audit_max_age": ["90 days", "-1d"],
    "heartbeat_interval": ["0"],
    "enqueue_replicas": ["-1", "one"],
    "maintenance_interval": ["never"],
    "scheduler_lease": ["0"],
    "log_format": ["xml"],
    "log_level": ["LOUD"],
    "http_port": ["http", "65536"],
    "http_max_body": ["0"],
    "max_batch": ["lots", "0"],
    "embedded_maxmemory": ["half", "150%", "-1"],
    "redis_wait": ["soon", "-1"],
    "http_read_timeout": ["slow", "0"],
    "web_session_ttl": ["all day", "0"],
    "hostname": ["worker 2", "host:1", "-lead.example"],
    "redis_ca_file": ["/nonexistent/ca.pem"],
    "redis_cert_file": ["/nonexistent/client.pem"],
    "redis_key_file": ["/nonexistent/client.key"],
}
# settings that take any text: checked where they are used (EMAIL_FROM by the email job, a
# blocklist or templates folder when read), or secrets and names nothing here can judge
ANY_TEXT = {
    "redis_password",
    "email_from",
    "smtp_host",
    "smtp_user",
    "smtp_password",
    "sendgrid_api_key",
    "templates_dir",
    "stripe_api_key",
    "yookassa_shop_id",
    "yookassa_secret_key",
    "crypto_api_key",
    "clamd_address",
    "virus_blocklist",
    "audit_file",
    "http_host",
}
ENV_CASES = [
    pytest.param(name, value, id=f"{name}={value}") for name, values in BAD.items() for value in values
]


def test_every_setting_has_bad_values_or_takes_any_text():
    assert set(BAD) | ANY_TEXT == set(FIELDS_BY_NAME) and not set(BAD) & ANY_TEXT


def _refused(redis_client, home, *args: str) -> str:
    with nothing_written(redis_client, home):
        result = run(*args, "config", "show")
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    return one_error(result.stderr)


@pytest.mark.parametrize(("name", "value"), ENV_CASES)
def test_a_bad_setting_in_the_environment(monkeypatch, redis_client, jobctl_env, name, value):
    field = FIELDS_BY_NAME[name]
    monkeypatch.setenv(field.env, value)
    message = _refused(redis_client, jobctl_env)
    assert field.env in message and f"env {field.env}" in message, message
    if field.secret:
        assert value not in message
    assert ":pw@" not in message  # a URL's password is masked


@pytest.mark.parametrize(
    "name", [f.name for f in FIELDS if f.name in BAD and f.name not in ("home", "redis_url")][::4]
)
def test_a_bad_setting_in_a_dotenv_file(tmp_path, redis_client, jobctl_env, monkeypatch, name):
    field = FIELDS_BY_NAME[name]
    # the suite sets some settings in the environment (JOBCTL_TEST_JOB_TYPES), which outranks .env
    monkeypatch.delenv(field.env, raising=False)
    (tmp_path / ".env").write_text(f"{field.env}={BAD[name][0]}\n")
    message = _refused(redis_client, jobctl_env)
    assert f"{field.env}) from .env" in message, message


@pytest.mark.parametrize(
    "toml",
    [
        "smtp_port = [1]",
        "smtp_port = 99999",
        "alert_no_worker = 5",
        "payment_attempts = 5",
        "commission_rates = { a = 1 }",
        "encryption_keys = 5",
        "admin_emails = { a = 1 }",
        "database_url = 5",
        "log_format = 5",
        'allowed_file_types = ["image/png", "application/zip"]',
        'thumbnail_sizes = ["150x150", "wide"]',
        'fetch_allow_hosts = ["cdn example"]',
        'smpt_host = "typo"',
        "[queues.no-such-queue]\nattempts = 2",
        "[queues.email-sending]\nattempts = -1",
        '[schedules.x]\ncron = "@daily"\njob = "no-such-type"',
        "not toml at all",
    ],
)
def test_a_bad_setting_in_jobctl_toml(tmp_path, redis_client, jobctl_env, toml):
    (tmp_path / "jobctl.toml").write_text(toml + "\n")
    assert "jobctl.toml" in _refused(redis_client, jobctl_env)


def _process(home, redis_url, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """jobctl as its own process (what reads --env-file and --home before anything else)."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOBCTL_")},
        "JOBCTL_HOME": str(home),
        "REDIS_URL": redis_url,
        "RQ_KEY_PREFIX": PREFIX,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "jobctl", *args], env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--home", "/etc/hostname", "stats"], {}, "'/etc/hostname' is not a folder"),
        (["stats"], {"JOBCTL_HOME": "/etc/hostname"}, "env JOBCTL_HOME: '/etc/hostname' is not a folder"),
        (["--env-file", "{bad_env}", "config", "show"], {}, "line 2: not a KEY=VALUE line"),
        (["--env-file", "{missing}", "config", "show"], {}, "does not exist"),
        (["--env-file", "{tmp}", "config", "show"], {}, "does not exist"),
        (["--config", "{missing}", "config", "show"], {}, "does not exist"),
        (["stats"], {"REDIS_URL": "redis://127.0.0.1:1/abc"}, "database number 'abc'"),
        (["stats"], {"REDIS_URL": "redis://:s3cret@127.0.0.1:0/0"}, "port"),
        (["--redis-url", "unix://", "stats"], {}, "socket path"),
        (["stats"], {"REDIS_URL": "redis+sentinel://:s3cret@127.0.0.1:26379"}, "names no master"),
        (["stats"], {"REDIS_URL": "redis+sentinel://:s3cret@h1:26379,h2:x/m"}, "Sentinel port 'x'"),
        (["config", "show"], {"ALLOWED_FILE_TYPES": "application/x-msdownload"}, "application/x-msdownload"),
    ],
)
def test_files_folders_and_urls_in_a_real_process(
    tmp_path, redis_url, redis_client, jobctl_env, args, env, needle
):
    bad_env = tmp_path / "bad.env"
    bad_env.write_text('SMTP_HOST=mail.example\nSMTP_PASSWORD="never closed\n')
    paths = {"{bad_env}": str(bad_env), "{missing}": str(tmp_path / "missing"), "{tmp}": str(tmp_path)}
    args = [paths.get(a, a) for a in args]
    with nothing_written(redis_client, jobctl_env):
        done = _process(jobctl_env, redis_url, *args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    message = one_error(done.stderr)
    assert needle in message and "s3cret" not in message and "never closed" not in message, message
    assert done.stdout == ""
