"""Job data, generated from the job types' contracts: for every field a value of the wrong kind or
out of range, every required field missing, a field the type does not have. Each goes in through
`jobctl enqueue job` (exit 2, one line + hint) and POST /api/jobs (422, message + hint); nothing
is queued."""

from __future__ import annotations

import json

import pytest

from jobctl.core.jobtypes import JOB_TYPES
from tests.bad_input.checks import nothing_written, one_error, one_http_error
from tests.bad_input.cli import run
from tests.http.conftest import bearer

HUGE = 10**30
UPLOAD = "{upload}"  # replaced by a real file under the test's JOBCTL_FILE_ROOTS

# data each type accepts as far as the fields' own checks go (a case changes one field of it)
VALID: dict[str, dict] = {
    "email": {
        "to": ["a@example.com"],
        "template": "welcome",
        "data": {"name": "Ada", "login_url": "https://shop.example/login"},
    },
    "file": {"file_id": "f1", "file_url": UPLOAD, "file_type": "png", "user_id": "u1"},
    "analytics": {"type": "daily", "start": "2024-01-01"},
    "daily-report": {},
    "weekly-report": {},
    "payment-retry": {
        "payment_id": 1,
        "provider": "stripe",
        "amount": "12.34",
        "currency": "USD",
        "customer_id": "1",
    },
    "referral-commission": {"order_id": 1},
    "noop": {},
    "sleep": {"seconds": 0},
    "fail": {},
    "flaky": {"counter": "c1"},
}

# values wrong for a field of each kind: of another kind, or out of any sensible range
BAD_BY_KIND: dict[str, list] = {
    "int": ["abc", HUGE, -1, 1.5, True],
    "number": ["abc", "inf", "nan", -1, HUGE],
    "bool": ["maybe", 2],
    "object": ["not json", "[1]", [1]],
    "list": [{"a": 1}, 5],
    "text": [[1, 2], {"a": 1}],
    "date": ["someday", "0001-01-01", "9999-12-31", 5],
    "amount": ["abc", "1e400", "NaN", -1, 1.5],
    "any": [],
}


# where a field's check names what the field is rather than its key
NAMED_AS = {"to": "recipients", "start": "date_range", "end": "date_range", "file_size": "MAX_FILE_SIZE"}


def _named(field: str, message: str, hint: str) -> bool:
    return field in message or field in hint or NAMED_AS.get(field, field) in message


def _cases():
    for name, job_type in JOB_TYPES.items():
        contract = job_type.load_contract()
        valid = VALID[name]
        for field in contract.fields:
            if field.required:
                data = {k: v for k, v in valid.items() if k != field.name}
                yield pytest.param(name, data, field.name, id=f"{name} without {field.name}")
            for value in BAD_BY_KIND[field.kind]:
                yield pytest.param(
                    name, {**valid, field.name: value}, field.name, id=f"{name} {field.name}={value!r}"
                )
        if contract.extra is None:
            yield pytest.param(name, {**valid, "colour": "red"}, "colour", id=f"{name} unknown field")


CASES = list(_cases())


def _with_upload(data: dict, tmp_path) -> dict:
    upload = tmp_path / "photo.png"
    upload.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    return {k: (str(upload) if v == UPLOAD else v) for k, v in data.items()}


def test_every_job_type_has_valid_data_to_vary():
    assert set(VALID) == set(JOB_TYPES)


@pytest.mark.parametrize(("job_type", "data", "field"), CASES)
def test_bad_job_data_on_the_command_line(redis_client, jobctl_env, tmp_path, job_type, data, field):
    data = _with_upload(data, tmp_path)
    with nothing_written(redis_client, jobctl_env):
        result = run("enqueue", "job", job_type, "--data-json", json.dumps(data))
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    message = one_error(result.stderr)
    assert _named(field, message, result.stderr.splitlines()[1]), message


@pytest.mark.parametrize(("job_type", "data", "field"), CASES)
def test_bad_job_data_over_http(client, creds, redis_client, jobctl_env, tmp_path, job_type, data, field):
    data = _with_upload(data, tmp_path)
    with nothing_written(redis_client, jobctl_env):
        response = client.post(
            "/api/jobs", headers=bearer(creds["operator"]), json={"job": job_type, "data": data}
        )
    message = one_http_error(response, 422)
    assert _named(field, message, response.json()["error"]["hint"]), message
