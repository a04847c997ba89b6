from __future__ import annotations

import pytest

from jobctl.core.browse import job_detail, queue_jobs


def test_templates_lists_every_builtin_with_variables(cli):
    rows = {t["name"]: t for t in cli.json("email", "templates")["templates"]}
    assert set(rows) >= {
        "welcome",
        "password-reset",
        "order-confirmation",
        "payment-failed",
        "report-ready",
        "marketing-campaign",
    }
    assert rows["welcome"]["variables"] == ["login_url", "name"]
    assert "order-confirmation" in cli("email", "templates").stdout


def test_preview_renders_without_sending(cli, redis_client):
    data = cli.json(
        "email",
        "preview",
        "--template",
        "welcome",
        "--data",
        "name=<b>Ann</b>",
        "--data",
        "login_url=https://shop.example.com/login",
    )
    assert "&lt;b&gt;Ann&lt;/b&gt;" in data["html"]  # autoescaped
    assert "Ann" in data["text"]
    out = cli(
        "email",
        "preview",
        "--template",
        "welcome",
        "--data",
        "name=Ann",
        "--data",
        "login_url=https://shop.example.com/login",
    ).stdout
    assert out.startswith("Subject: ")


def test_preview_missing_variable_is_exit_2(cli):
    result = cli("email", "preview", "--template", "welcome", "--data", "name=Ann", code=2)
    assert "login_url" in result.stderr


def test_enqueue_email_json_and_job_show(cli, settings, redis_client):
    job_id = cli.json(
        "enqueue",
        "email",
        "--to",
        "ann@example.com",
        "--template",
        "password-reset",
        "--data-json",
        '{"name": "Ann", "reset_url": "https://x.example/r", "expires_in_minutes": 30}',
        "--priority",
        "high",
    )["job_id"]
    detail = job_detail(redis_client, settings, job_id)
    assert detail["type"] == "email" and detail["priority"] == "high"
    assert detail["payload"]["template"] == "password-reset"
    assert detail["description"] == "email password-reset"  # not the payload: addresses stay out of it


def test_email_bulk_from_csv(cli, tmp_path, settings, redis_client):
    csv = tmp_path / "recipients.csv"
    rows = ["email,name"] + [f"user{i}@example.com,User {i}" for i in range(150)]
    csv.write_text("\n".join(rows) + "\n")
    data = cli.json(
        "enqueue",
        "email-bulk",
        "--template",
        "marketing-campaign",
        "--recipients",
        str(csv),
        "--data",
        "headline=Sale",
        "--data",
        "body=Ends Sunday",
        "--data",
        "cta_text=Shop",
        "--data",
        "cta_url=https://x.example/sale",
        "--data",
        "unsubscribe_url=https://x.example/u",
        "--priority",
        "low",
    )
    assert data["count"] == 150
    page = queue_jobs(redis_client, settings, "email-sending", "waiting", limit=200)
    assert page["total"] == 150 and {j["priority"] for j in page["jobs"]} == {"low"}
    text = cli(
        "enqueue",
        "email-bulk",
        "--template",
        "marketing-campaign",
        "--recipients",
        str(csv),
        "--data",
        "headline=Sale",
        "--data",
        "body=b",
        "--data",
        "cta_text=Shop",
        "--data",
        "cta_url=https://x.example/sale",
        "--data",
        "unsubscribe_url=https://x.example/u",
    ).stdout
    assert "enqueued 150 email jobs" in text


def test_email_bulk_bad_row_enqueues_nothing(cli, tmp_path, settings, redis_client):
    csv = tmp_path / "recipients.csv"
    csv.write_text("email,name\nok@example.com,Ok\nnot-an-address,Bad\n")
    result = cli(
        "enqueue",
        "email-bulk",
        "--template",
        "welcome",
        "--recipients",
        str(csv),
        "--data",
        "login_url=https://x.example",
        code=2,
    )
    assert "not-an-address" in result.stderr
    assert queue_jobs(redis_client, settings, "email-sending", "waiting")["total"] == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--data", "novalue"), "KEY=VALUE"),
        (("--data-json", "[1, 2]"), "JSON object"),
    ],
)
def test_data_option_errors(cli, args, needle):
    result = cli("enqueue", "email", "--to", "a@example.com", "--template", "welcome", *args, code=2)
    assert needle in result.stderr


def test_python_api(settings, redis_client):
    from jobctl import JobctlError, add_bulk_email_jobs, add_email_job

    job_id = add_email_job("ann@example.com", "welcome", {"name": "Ann", "login_url": "https://x.example"})
    assert job_detail(redis_client, settings, job_id)["status"] == "queued"
    ids = add_bulk_email_jobs(
        ["a@example.com", ("b@example.com", {"name": "Bea"}), {"email": "c@example.com", "name": "Cy"}],
        "welcome",
        {"name": "friend", "login_url": "https://x.example"},
        priority="low",
    )
    assert len(ids) == 3
    payloads = [job_detail(redis_client, settings, i)["payload"]["data"]["name"] for i in ids]
    assert payloads == ["friend", "Bea", "Cy"]
    with pytest.raises(JobctlError, match="unknown email template"):
        add_email_job("ann@example.com", "nope")
    assert queue_jobs(redis_client, settings, "email-sending", "waiting")["total"] == 4
