from __future__ import annotations

import pytest

from jobctl.config import SECRET_MASK, load_settings, mask_url
from jobctl.core import runtime
from jobctl.core.catalog import queue_catalog
from jobctl.errors import ConfigError, ExitCode


def sources(settings) -> dict[str, str]:
    return {row["key"]: row["source"] for row in settings.describe()}


def test_defaults_when_nothing_is_set():
    s = load_settings(environ={})
    assert s.email_provider == "outbox"
    assert s.max_file_size == 100 * 1024**2
    assert sources(s)["email_provider"] == "default"


def test_precedence_flag_env_dotenv_toml_default(tmp_path):
    (tmp_path / "jobctl.toml").write_text(
        'email_from = "toml@x.io"\nsmtp_host = "toml"\nsmtp_user = "toml"\nsmtp_port = 2525\n'
    )
    (tmp_path / ".env").write_text("SMTP_HOST=dotenv\nSMTP_USER=dotenv\nSMTP_PORT=2526\n")
    env = {"SMTP_USER": "env", "SMTP_PORT": "2527"}
    s = load_settings(flags={"smtp_port": 2528}, environ=env, cwd=tmp_path)
    assert (s.email_from, s.smtp_host, s.smtp_user, s.smtp_port) == ("toml@x.io", "dotenv", "env", 2528)
    src = sources(s)
    assert src["email_from"].startswith("jobctl.toml")
    assert src["smtp_host"].startswith(".env")
    assert src["smtp_user"] == "env SMTP_USER"
    assert src["smtp_port"] == "flag"


def test_env_file_and_config_paths_from_environment(tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text("EMAIL_PROVIDER=smtp\n")
    toml = tmp_path / "custom.toml"
    toml.write_text("[queues.email-sending]\nattempts = 9\n")
    s = load_settings(environ={"JOBCTL_ENV_FILE": str(env_file), "JOBCTL_CONFIG": str(toml)}, cwd=tmp_path)
    assert s.email_provider == "smtp"
    assert queue_catalog(s)["email-sending"].attempts == 9
    assert queue_catalog(s)["file-processing"].attempts == 3


def test_secrets_are_masked():
    s = load_settings(environ={"SMTP_PASSWORD": "hunter2", "REDIS_URL": "redis://:pw@localhost:6379/0"})
    shown = {row["key"]: row["value"] for row in s.describe()}
    assert shown["smtp_password"] == SECRET_MASK
    assert "pw" not in shown["redis_url"] and SECRET_MASK in shown["redis_url"]
    assert "hunter2" not in repr(s.describe())


def test_mask_url_leaves_passwordless_urls_alone():
    assert mask_url("redis://localhost:6379/1") == "redis://localhost:6379/1"


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"REDIS_URL": "http://localhost"}, "redis_url (REDIS_URL) from env REDIS_URL"),
        ({"SMTP_PORT": "abc"}, "smtp_port (SMTP_PORT)"),
        ({"EMAIL_PROVIDER": "pigeon"}, "email_provider"),
        ({"MAX_FILE_SIZE": "-5"}, "max_file_size"),
    ],
)
def test_invalid_values_name_key_and_source(env, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env)
    assert needle in err.value.message
    assert err.value.code == ExitCode.USAGE


@pytest.mark.parametrize(
    "toml, needle",
    [
        ("[queues.emails]\nattempts = 2\n", "unknown queue 'emails'"),
        ("[queues.email-sending]\nattempts = -1\n", "queues.email-sending.attempts"),
        ("[queues.email-sending]\nattempts = 0\n", "queues.email-sending.attempts"),
        ('[queues.email-sending]\ncolour = "red"\n', "unknown setting queues.email-sending.colour"),
        ('[queues.email-sending]\npriority = "urgent"\n', "queues.email-sending.priority"),
        ('[queues.email-sending.backoff]\nkind = "random"\n', "queues.email-sending.backoff"),
        ('smtp_hots = "x"\n', "unknown key 'smtp_hots'"),
        ("this is not toml", "is not valid TOML"),
    ],
)
def test_invalid_toml_is_a_config_error(tmp_path, toml, needle):
    (tmp_path / "jobctl.toml").write_text(toml)
    with pytest.raises(ConfigError) as err:
        runtime.load_settings(environ={}, cwd=tmp_path)  # the [queues] tables are checked by core
    assert needle in err.value.message
    assert "jobctl.toml" in err.value.message


def test_missing_explicit_files_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="env file"):
        load_settings(flags={"env_file": str(tmp_path / "nope.env")}, environ={})
    with pytest.raises(ConfigError, match="config file"):
        load_settings(environ={"JOBCTL_CONFIG": str(tmp_path / "nope.toml")})


def test_size_suffixes_and_lists():
    s = load_settings(environ={"MAX_FILE_SIZE": "5m", "ALLOWED_FILE_TYPES": "image/png, image/jpeg"})
    assert s.max_file_size == 5 * 1024**2
    assert s.allowed_file_types == ("image/png", "image/jpeg")


def test_queue_override_keeps_other_fields(tmp_path):
    (tmp_path / "jobctl.toml").write_text(
        "[queues.payment-retry]\nkeep_completed = 10\n[queues.payment-retry.backoff]\nbase = 5.0\n"
    )
    q = queue_catalog(load_settings(environ={}, cwd=tmp_path))["payment-retry"]
    assert q.keep_completed == 10 and q.attempts == 5
    assert q.backoff.base == 5.0 and q.backoff.cap == 3600


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('A=1\n# a comment\n\nB="never closed\n', 4),
        ("A=1\njust words\n", 2),
        ("SMTP_HOST smtp.example\n", 1),
    ],
)
def test_an_env_file_line_that_does_not_parse_is_refused_by_number(tmp_path, text, line):
    env_file = tmp_path / "bad.env"
    env_file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(flags={"env_file": str(env_file)}, environ={})
    assert err.value.message == f"env file {env_file}, line {line}: not a KEY=VALUE line"
    assert "never closed" not in err.value.message  # a line may hold a secret


def test_a_refused_redis_url_is_named_with_its_password_masked():
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"REDIS_URL": "redis://:hunter2@127.0.0.1:1/abc"})
    assert "REDIS_URL" in err.value.message and "'abc'" in err.value.message
    assert "hunter2" not in err.value.message and SECRET_MASK in err.value.message


def test_the_file_pipeline_types_are_the_types_it_stores():
    from jobctl.config import FILE_PIPELINE_TYPES
    from jobctl.jobs.files.filetypes import EXTENSIONS

    assert set(FILE_PIPELINE_TYPES) == set(EXTENSIONS)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://apikey:SG.x1@api.example/v3", f"https://apikey:{SECRET_MASK}@api.example/v3"),
        ("https://u:p@ss@host/x", f"https://u:{SECRET_MASK}@host/x"),  # a raw @ in the password
        ("unix:///run/redis.sock?db=1&password=pw", f"unix:///run/redis.sock?db=1&password={SECRET_MASK}"),
        ("https://ghp_0123456789abcdef@git.example/x", f"https://{SECRET_MASK}@git.example/x"),
        (
            "https://b.example/f?X-Amz-Signature=ab&X-Amz-Date=1&apiKey=k",
            f"https://b.example/f?X-Amz-Signature={SECRET_MASK}&X-Amz-Date=1&apiKey={SECRET_MASK}",
        ),
        (
            "https://shop.example/cb#access_token=zz&state=1",
            f"https://shop.example/cb#access_token={SECRET_MASK}&state=1",
        ),
        ("postgresql://jobctl@localhost/shop", "postgresql://jobctl@localhost/shop"),  # a user name is kept
        ("sqlite:///var/lib/jobctl.db", "sqlite:///var/lib/jobctl.db"),
        ("/api/jobs?access%5Ftoken=t1&page=2%3D", f"/api/jobs?access%5Ftoken={SECRET_MASK}&page=2%3D"),
        (
            "failed: POST http://a:b@h/x?sig=1 for ann@example.com",
            f"failed: POST http://a:{SECRET_MASK}@h/x?sig={SECRET_MASK} for ann@example.com",
        ),
    ],
)
def test_mask_url_one_rule(url, shown):
    assert mask_url(url) == shown


def test_a_bad_url_setting_is_echoed_masked():
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"JOBCTL_CRYPTO_URL": "ftp://bob:hunter2@pay.example/?token=t0k"})
    assert "hunter2" not in err.value.message and "t0k" not in err.value.message
    assert "ftp://bob:" in err.value.message


def test_a_sentinel_url_is_read_and_its_passwords_masked():
    from jobctl.config import parse_sentinel_url

    url = "redis+sentinel://jobs:s3cret@h1:26379,h2,[::1]:26380/mymaster/2?sentinel_password=pw2"
    target = parse_sentinel_url(url)
    assert target.sentinels == (("h1", 26379), ("h2", 26379), ("::1", 26380))
    assert (target.master, target.db, target.username, target.password) == ("mymaster", 2, "jobs", "s3cret")
    assert target.sentinel_password == "pw2"
    shown = load_settings(environ={"REDIS_URL": url}).describe()
    redis_url = next(row for row in shown if row["env"] == "REDIS_URL")
    assert "s3cret" not in str(redis_url) and "pw2" not in str(redis_url)
    assert mask_url(url) == (
        f"redis+sentinel://jobs:{SECRET_MASK}@h1:26379,h2,[::1]:26380/mymaster/2?sentinel_password={SECRET_MASK}"
    )
