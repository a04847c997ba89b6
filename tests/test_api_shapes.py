"""The Python API takes the seed's call shapes and names parameters (never CLI flags) in its errors."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image
from rq.job import Job

import jobctl
from jobctl.core.payloads import PayloadSerializer
from jobctl.errors import InvalidPayload, JobctlError


def payload_of(redis_client, job_id: str) -> dict:
    return Job.fetch(job_id, connection=redis_client, serializer=PayloadSerializer).args[0]


def test_add_analytics_job_takes_a_start_end_mapping_like_a_pair(settings, redis_client):
    as_mapping = jobctl.add_analytics_job("daily", {"start": "2026-11-01", "end": "2026-11-03"}, ["revenue"])
    as_pair = jobctl.add_analytics_job("daily", (date(2026, 11, 1), date(2026, 11, 3)), ["revenue"])
    assert (
        payload_of(redis_client, as_mapping)
        == payload_of(redis_client, as_pair)
        == {
            "type": "daily",
            "start": "2026-11-01T00:00:00",
            "end": "2026-11-04T00:00:00",
            "metrics": ["revenue"],
        }
    )


def test_schedule_custom_analytics_takes_start_end_metrics(settings, redis_client):
    ids = jobctl.schedule_custom_analytics("daily", "2026-11-01", "2026-11-03", ["page_views"])
    assert [payload_of(redis_client, i)["start"][:10] for i in ids] == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
    ]
    assert {tuple(payload_of(redis_client, i)["metrics"]) for i in ids} == {("page_views",)}
    # the range shape of earlier releases still works: (type, range, metrics)
    again = jobctl.schedule_custom_analytics("daily", (date(2026, 11, 1), date(2026, 11, 2)), ["page_views"])
    assert len(again) == 2


def test_process_file_takes_product_id_and_options_positionally(settings, redis_client, tmp_path):
    image = tmp_path / "p.jpg"
    Image.new("RGB", (20, 20), "red").save(image)
    job_id = jobctl.process_file(
        "f-9",
        str(image),
        "p.jpg",
        "image/jpeg",
        None,
        "u-1",
        "p-3",
        {"sizes": "50x50", "generate_thumbnail": False},
    )
    payload = payload_of(redis_client, job_id)
    assert payload["product_id"] == "p-3" and payload["file_size"] == image.stat().st_size
    assert payload["options"] == {
        "generate_thumbnail": False,
        "optimize_image": True,
        "scan_for_viruses": True,
        "sizes": [[50, 50]],
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda: jobctl.add_email_job("ann@example.com", "welcome", {"name": "Ann"}),
        lambda: jobctl.add_email_job("not-an-address", "welcome", {}),
        lambda: jobctl.add_analytics_job("daily", {"begin": "2026-11-01"}),
        lambda: jobctl.add_job("referral-commission", {"order": 12}),
        lambda: jobctl.add_job("sleep", {"seconds": "soon"}),
    ],
)
def test_errors_name_the_parameter_not_a_cli_flag(call, settings):
    with pytest.raises(JobctlError) as info:
        call()
    assert isinstance(info.value, InvalidPayload)
    assert "--" not in info.value.message + (info.value.hint or ""), (info.value.message, info.value.hint)
