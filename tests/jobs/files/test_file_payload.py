"""Enqueue-time checks of file jobs: bad requests never reach Redis, good ones are normalised."""

from __future__ import annotations

import re

import pytest

from jobctl.errors import UsageError
from jobctl.jobs.files import prepare_file_payload
from jobctl.jobs.files.payload import load_file_payload


@pytest.fixture
def upload(tmp_path):
    path = tmp_path / "cat.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    return path


def prepare(settings, upload, **changes):
    request = {
        "file_id": "f-1",
        "file_url": str(upload),
        "file_name": "cat.jpg",
        "file_type": "image/jpeg",
        "file_size": 104,
        "user_id": 7,
        "processing_type": "thumbnail",
        **changes,
    }
    return prepare_file_payload(settings, **request)


def test_a_good_request_is_normalised(settings, upload, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    payload = prepare(
        settings,
        upload,
        file_url="cat.jpg",
        file_type="JPG",
        user_id=7,
        product_id=12,
        options={"sizes": "64x64,128", "format": "jpg"},
    )
    assert payload == {
        "file_id": "f-1",
        "file_url": str(upload),
        "file_name": "cat.jpg",
        "file_type": "image/jpeg",
        "file_size": 104,
        "user_id": "7",
        "product_id": "12",
        "processing_type": "thumbnail",
        "options": {"sizes": [[64, 64], [128, 128]], "format": "jpeg"},
    }
    assert load_file_payload(payload).options == payload["options"]


def test_cli_strings_become_typed_options(settings, upload):
    payload = prepare(
        settings,
        upload,
        processing_type="process",
        options={"generate_thumbnail": "false", "scan_for_viruses": "yes", "quality": "70"},
    )
    assert payload["options"] == {"generate_thumbnail": False, "scan_for_viruses": True, "quality": 70}


def test_http_urls_are_kept_and_the_name_defaults_to_the_last_part(settings, upload):
    payload = prepare(
        settings,
        upload,
        file_url="https://cdn.example/u/9/photo.png?sig=1",
        file_name=None,
        file_type="image/png",
        file_size=0,
    )
    assert (payload["file_url"], payload["file_name"], payload["file_size"]) == (
        "https://cdn.example/u/9/photo.png?sig=1",
        "photo.png",
        0,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"processing_type": "shrink"}, "unknown processing type 'shrink'"),
        ({"file_type": "image/svg+xml"}, "file type image/svg\\+xml is not accepted"),
        ({"file_type": "not a type"}, "unknown file type"),
        ({"file_type": None}, "file_type is required"),
        ({"file_url": "ftp://example.com/a.jpg"}, "scheme ftp:// is not supported"),
        ({"file_url": "https:///a.jpg"}, "has no host"),
        ({"file_url": "no/such/upload.jpg"}, "no such file"),  # inside the test folder, a root
        ({"file_url": ""}, "file_url is required"),
        ({"file_size": 101 * 1024 * 1024}, "MAX_FILE_SIZE is 100.0 MiB"),
        ({"file_size": -1}, "whole number of bytes"),
        ({"file_size": "12"}, "whole number of bytes"),
        ({"file_id": ""}, "file_id is required"),
        ({"user_id": None}, "user_id is required"),
        ({"user_id": "a\nb"}, "printable"),
        ({"options": {"target": "webp"}}, "thumbnail has no option target"),
        ({"options": {"sizes": "big"}}, "not a size like 300x300"),
        ({"options": {"format": "bmp"}}, "not an output format"),
        ({"options": ["sizes"]}, "options must be an object"),
        ({"processing_type": "format_convert"}, "format_convert needs a target"),
        (
            {"processing_type": "image_optimize", "options": {"quality": 0}},
            "quality must be a whole number from 1",
        ),
        ({"processing_type": "process", "options": {"optimize_image": "maybe"}}, "must be true or false"),
        ({"processing_type": "validate", "options": {"quality": 80}}, "it takes no options"),
    ],
)
def test_bad_requests_say_what_is_wrong(settings, upload, changes, message):
    with pytest.raises(UsageError) as info:
        prepare(settings, upload, **changes)
    assert re.search(message, f"{info.value.message} ({info.value.hint})")


def test_allowed_types_come_from_the_settings(configure, upload):
    settings = configure(ALLOWED_FILE_TYPES="image/png")
    with pytest.raises(UsageError) as info:
        prepare(settings, upload)
    assert info.value.hint == "ALLOWED_FILE_TYPES is image/png"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"file_id": "x"},
        {
            **dict.fromkeys(
                [
                    "file_id",
                    "file_url",
                    "file_name",
                    "file_type",
                    "file_size",
                    "user_id",
                    "product_id",
                    "options",
                ]
            ),
            "processing_type": "nope",
        },
    ],
)
def test_a_tampered_payload_is_refused_in_the_worker(payload):
    with pytest.raises(UsageError):
        load_file_payload(payload)
