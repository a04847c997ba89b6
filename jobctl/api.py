"""The Python API for the marketplace's own code: validate, then enqueue; returns job ids.

    from jobctl import add_email_job, add_file_processing_job, process_file
    data = {"name": "Ann", "login_url": "https://shop.example/login"}
    job_id = add_email_job("ann@example.com", "welcome", data)
    later = add_email_job("ann@example.com", "welcome", data, delay=timedelta(hours=2))  # or at=<datetime>
    thumbs = add_file_processing_job("f-1", "https://cdn.example/u/1.jpg", "1.jpg", "image/jpeg", 48213,
                                     "user-7", "thumbnail", options={"sizes": ["150x150", "600x600"]})
    whole = process_file("f-1", "/srv/uploads/1.jpg", "1.jpg", "image/jpeg", 48213, "user-7", "p-3")
    rollup = add_analytics_job("daily", {"start": "2026-11-01", "end": "2026-11-30"}, ["revenue"])

Settings come from the environment/.env/jobctl.toml (see README); every function validates its
payload with the job type's contract (jobctl.core.submit, the road every face uses) before
anything reaches Redis, and raises JobctlError naming the parameter otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from jobctl.core import runtime
from jobctl.core.bulk import BulkResult
from jobctl.core.progress import Progress
from jobctl.core.submit import prepare, submit, submit_many, submit_rows
from jobctl.errors import InvalidPayload
from jobctl.jobs.analytics.periods import periods


def _submit(job_type: str, fields: dict[str, Any], **options: Any) -> str:
    return submit(runtime.connection(), runtime.settings(), job_type, fields, **options)


def add_job(
    job_type: str,
    data: Mapping[str, Any] | None = None,
    *,
    priority: str | None = None,
    queue: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue one job of any type from its fields (`jobctl job types` lists them); returns the job id.

    The typed functions below are this with named parameters: add_job("referral-commission",
    {"order_id": 1042}) is add_referral_commission_job(1042).
    """
    return _submit(job_type, dict(data or {}), priority=priority, queue=queue, at=at, delay=delay)


def add_email_job(
    to: str | list[str],
    template: str,
    data: Mapping[str, Any] | None = None,
    *,
    attachments: Iterable[str | Path] = (),
    subject: str | None = None,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue one templated email on email-sending; returns the job id.

    `at` (a timezone-aware datetime) or `delay` (a timedelta, or seconds) sends it later instead.
    """
    return _submit(
        "email",
        {
            "to": to,
            "template": template,
            "data": dict(data or {}),
            "attachments": list(attachments),
            "subject": subject,
        },
        priority=priority,
        at=at,
        delay=delay,
    )


def _recipient(item: Any, shared: Mapping[str, Any]) -> tuple[str, dict]:
    if isinstance(item, str):
        return item, dict(shared)
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], {**shared, **item[1]}
    if isinstance(item, Mapping) and ("email" in item or "to" in item):
        row = dict(item)
        address = row.pop("email", None) or row.pop("to")
        return address, {**shared, **row}
    raise InvalidPayload(
        f"recipients: cannot read {item!r}", "give addresses, (address, data) pairs or dicts with 'email'"
    )


def add_bulk_email_jobs(
    recipients: Iterable[Any],
    template: str,
    data: Mapping[str, Any] | None = None,
    *,
    priority: str | None = None,
    on_progress: Progress | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> list[str]:
    """One job per recipient, all validated first, then enqueued in atomic batches; their ids.

    `recipients`: addresses, (address, data) pairs or dicts with 'email'; read once, as a stream.
    `on_progress(done, total, stage)` reports both phases, "validating" then "enqueueing" (progress
    bars; see jobctl.core.progress). `at` (aware datetime) or `delay` (timedelta or seconds) schedules
    every email for that one time. For a campaign too large to hold its ids, see send_email_campaign.
    """
    return list(
        _bulk_email(recipients, template, data, priority, on_progress, at, delay, total=_size(recipients)).ids
    )


def send_email_campaign(
    recipients_csv: str | Path,
    template: str,
    data: Mapping[str, Any] | None = None,
    *,
    priority: str | None = None,
    on_progress: Progress | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> BulkResult:
    """One email job per row of a CSV (an 'email' column; the other columns are template data, on
    top of `data`), streamed: a million rows in constant memory. Every row is validated before any
    job is queued; a bad row is named by its line. Returns a BulkResult (count, ids, digest, rate)."""
    # lazy: the email package (Jinja2) loads only for the email calls
    from jobctl.jobs.email.recipients import iter_recipients_csv

    rows = iter_recipients_csv(recipients_csv)
    line = [0]

    def recipients() -> Iterator[tuple[str, dict[str, Any]]]:
        for line[0], address, row in rows:
            yield address, row

    return _bulk_email(
        recipients(),
        template,
        data,
        priority,
        on_progress,
        at,
        delay,
        locate=lambda _n: f"{Path(recipients_csv).expanduser()} line {line[0]}",
    )


def _bulk_email(
    recipients: Iterable[Any],
    template: str,
    data: Mapping[str, Any] | None,
    priority: str | None,
    on_progress: Progress | None,
    at: datetime | None,
    delay: timedelta | float | None,
    *,
    total: int | None = None,
    locate: Callable[[int], str] | None = None,
) -> BulkResult:
    shared = dict(data or {})
    many = (
        {"to": address, "template": template, "data": row}
        for address, row in (_recipient(item, shared) for item in recipients)
    )
    return submit_rows(
        runtime.connection(),
        runtime.settings(),
        "email",
        many,
        priority=priority,
        description=f"email {template}",
        on_progress=on_progress,
        at=at,
        delay=delay,
        total=total,
        locate=locate,
    )


def _size(items: Iterable[Any]) -> int | None:
    return len(items) if isinstance(items, Sized) else None


def add_file_processing_job(
    file_id: str | int,
    file_url: str,
    file_name: str | None,
    file_type: str,
    file_size: int | None,
    user_id: str | int,
    processing_type: str = "process",
    product_id: str | int | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue one file job on file-processing (high priority unless `priority` says otherwise).

    `processing_type` is virus_scan, validate, image_optimize, thumbnail, format_convert or process;
    `file_url` a path, file:// or http(s) URL the workers can read; `file_type` the declared MIME type
    (or jpg/png/...), checked against the content when the job runs. `file_size` None: a local
    file's size, else unknown (0).
    """
    return _submit(
        "file",
        {
            "file_id": file_id,
            "file_url": file_url,
            "file_name": file_name,
            "file_type": file_type,
            "file_size": file_size,
            "user_id": user_id,
            "processing_type": processing_type,
            "product_id": product_id,
            "options": dict(options) if options is not None else None,
        },
        priority=priority,
        at=at,
        delay=delay,
    )


def process_file(
    file_id: str | int,
    file_url: str,
    file_name: str | None,
    file_type: str,
    file_size: int | None,
    user_id: str | int,
    product_id: str | int | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    generate_thumbnail: bool = True,
    optimize_image: bool = True,
    scan_for_viruses: bool = True,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue the whole upload pipeline as one job: scan, validate, then optimise and make thumbnails.

    `options` (sizes, format, quality, and the three switches) wins over the keyword switches."""
    merged = {
        "generate_thumbnail": generate_thumbnail,
        "optimize_image": optimize_image,
        "scan_for_viruses": scan_for_viruses,
    }
    if options is not None:
        if not isinstance(options, Mapping):
            raise InvalidPayload(
                f"options must be a mapping, got {type(options).__name__}",
                "e.g. options={'sizes': '150x150'}",
            )
        merged.update(options)
    return add_file_processing_job(
        file_id,
        file_url,
        file_name,
        file_type,
        file_size,
        user_id,
        "process",
        product_id,
        merged,
        priority=priority,
        at=at,
        delay=delay,
    )


def _date_range(date_range: Any) -> dict[str, Any]:
    """A (start, end) pair or a {"start", "end"} mapping as the analytics fields."""
    if isinstance(date_range, Mapping):
        unknown = sorted(set(date_range) - {"start", "end"})
        if unknown:
            raise InvalidPayload(f"date_range has no key {unknown[0]!r}", "give {'start': ..., 'end': ...}")
        return {"start": date_range.get("start"), "end": date_range.get("end")}
    try:
        start, end = date_range
    except (TypeError, ValueError):
        raise InvalidPayload(
            "date_range must be a (start, end) pair or {'start': ..., 'end': ...}",
            "e.g. date_range=(date(2024, 1, 1), date(2024, 1, 31))",
        ) from None
    return {"start": start, "end": end}


def add_analytics_job(
    type: str,
    date_range: Any,
    metrics: Iterable[str] | None = None,
    *,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue one roll-up of every `type` period (hourly/daily/weekly/monthly) overlapping `date_range`.

    `date_range` is (start, end) or {"start": ..., "end": ...}: two dates (inclusive days, ISO text
    allowed) or two datetimes (half-open, naive = UTC); `metrics` any of page_views,
    unique_visitors, purchases, revenue, conversion_rate, average_order_value (default: all).
    Re-running a period replaces its rows.
    """
    fields = {"type": type, **_date_range(date_range), "metrics": metrics}
    return _submit("analytics", fields, priority=priority, at=at, delay=delay)


def schedule_custom_analytics(
    type: str,
    start: Any,
    end: Any = None,
    metrics: Iterable[str] | None = None,
    *,
    priority: str | None = None,
    on_progress: Progress | None = None,
) -> list[str]:
    """One roll-up job per `type` period from `start` to `end` (a backfill), enqueued in batches;
    `on_progress(done, total, stage)` reports validating then enqueueing.

    `start` may also be a whole range, (start, end) or {"start", "end"}, with `end` left out.
    """
    if isinstance(start, Mapping | tuple | list):  # a whole range: (type, range[, metrics])
        fields = _date_range(start)
        if end is not None:
            if metrics is not None:
                raise InvalidPayload(
                    "give end only with a start date, not with a whole range",
                    "schedule_custom_analytics(type, start, end, metrics)",
                )
            metrics = end
    else:
        fields = {"start": start, "end": end}
    connection, settings = runtime.connection(), runtime.settings()
    whole = prepare(settings, "analytics", {"type": type, **fields, "metrics": metrics})
    first, last = datetime.fromisoformat(whole["start"]), datetime.fromisoformat(whole["end"])
    many = (
        {"type": type, "start": s, "end": e, "metrics": whole["metrics"]}
        for s, e in periods(type, first, last)
    )
    return submit_many(
        connection,
        settings,
        "analytics",
        many,
        priority=priority,
        description=f"analytics {type}",
        on_progress=on_progress,
        total=sum(1 for _ in islice(periods(type, first, last), settings.max_batch + 1)),  # for progress
    )


def add_report_job(
    kind: str,
    date: Any = None,
    formats: Iterable[str] | str | None = None,
    *,
    email: bool = True,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue the daily or weekly report that covers `date` (default: yesterday / last week)."""
    # lazy: SQLAlchemy, ~200 ms for whatever imports jobctl.api (the CLI at start-up too)
    from jobctl.jobs.reports.job import check_kind

    fields = {"date": date, "formats": formats, "email": email}
    return _submit(f"{check_kind(kind)}-report", fields, priority=priority, at=at, delay=delay)


def add_payment_retry_job(
    payment_id: int,
    provider: str,
    amount: int | Decimal,
    currency: str,
    customer_id: int | str,
    *,
    provider_ref: str | None = None,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue a retry of a stored payment on payment-retry; it is charged at most once, whatever happens.

    `amount` is integer cents or a Decimal in currency units (never a float); it, the provider,
    currency and customer must match the stored payment. `provider_ref` (a Stripe PaymentIntent id,
    a YooKassa payment method, a crypto invoice) overrides the stored one.
    """
    fields = {
        "payment_id": payment_id,
        "provider": provider,
        "amount": amount,
        "currency": currency,
        "customer_id": customer_id,
        "provider_ref": provider_ref,
    }
    return _submit("payment-retry", fields, priority=priority, at=at, delay=delay)


def add_referral_commission_job(
    order_id: int,
    *,
    priority: str | None = None,
    at: datetime | None = None,
    delay: timedelta | float | None = None,
) -> str:
    """Queue the referral commissions of an order (or their reversal, if refunded); re-running is harmless.

    The order must exist in the store, or NotFound is raised and nothing is queued."""
    return _submit("referral-commission", {"order_id": order_id}, priority=priority, at=at, delay=delay)


__all__ = [
    "add_analytics_job",
    "add_bulk_email_jobs",
    "add_email_job",
    "add_file_processing_job",
    "add_job",
    "add_payment_retry_job",
    "add_referral_commission_job",
    "add_report_job",
    "process_file",
    "schedule_custom_analytics",
    "send_email_campaign",
]
