"""The Python API for the marketplace's own code: validate, then enqueue; returns job ids.

    from jobctl import add_email_job, add_file_processing_job, process_file
    data = {"name": "Ann", "login_url": "https://shop.example/login"}
    job_id = add_email_job("ann@example.com", "welcome", data)
    later = add_email_job("ann@example.com", "welcome", data, delay=timedelta(hours=2))  # or at=<aware datetime>
    thumbs = add_file_processing_job("f-1", "https://cdn.example/u/1.jpg", "1.jpg", "image/jpeg", 48213,
                                     "user-7", "thumbnail", options={"sizes": ["150x150", "600x600"]})
    whole = process_file("f-1", "/srv/uploads/1.jpg", "1.jpg", "image/jpeg", 48213, "user-7", product_id="p-3")

Settings come from the environment/.env/jobctl.toml (see README); every function validates its
payload before anything reaches Redis and raises JobctlError with a clear message otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jobctl.core import runtime
from jobctl.core.enqueue import enqueue, enqueue_many, scheduled_time
from jobctl.errors import UsageError


def add_email_job(to: str | list[str], template: str, data: Mapping[str, Any] | None = None, *,
                  attachments: Iterable[str | Path] = (), subject: str | None = None,
                  priority: str | None = None, at: datetime | None = None,
                  delay: timedelta | float | None = None) -> str:
    """Queue one templated email on email-sending; returns the job id.

    `at` (a timezone-aware datetime) or `delay` (a timedelta, or seconds) sends it later instead.
    """
    from jobctl.jobs.email import prepare_email_payload

    scheduled_time(at, delay)  # a bad time fails before the payload is prepared
    settings = runtime.settings()
    payload = prepare_email_payload(settings, to=to, template=template, data=dict(data or {}),
                                    attachments=list(attachments), subject=subject)
    return enqueue(runtime.connection(), settings, "email", payload, priority=priority,
                   description=f"email {template}", at=at, delay=delay)


def _recipient(item: Any, shared: Mapping[str, Any]) -> tuple[str, dict]:
    if isinstance(item, str):
        return item, dict(shared)
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], {**shared, **item[1]}
    if isinstance(item, Mapping) and ("email" in item or "to" in item):
        row = dict(item)
        address = row.pop("email", None) or row.pop("to")
        return address, {**shared, **row}
    raise UsageError(f"cannot read recipient {item!r}", "pass addresses, (address, data) pairs or dicts with 'email'")


def add_bulk_email_jobs(recipients: Iterable[Any], template: str, data: Mapping[str, Any] | None = None, *,
                        priority: str | None = None,
                        on_batch: Callable[[int], None] | None = None, at: datetime | None = None,
                        delay: timedelta | float | None = None) -> list[str]:
    """One job per recipient, all validated first, then enqueued in pipelined batches.

    `on_batch(n)` is called after each batch of n jobs lands (progress bars). `at` (aware
    datetime) or `delay` (timedelta or seconds) schedules every email for that one time.
    """
    from jobctl.jobs.email import prepare_email_payload

    scheduled_time(at, delay)  # a bad time fails before thousands of payloads are prepared
    settings = runtime.settings()
    shared = dict(data or {})
    payloads = []
    for item in recipients:
        address, row_data = _recipient(item, shared)
        payloads.append(prepare_email_payload(settings, to=address, template=template, data=row_data))
    if not payloads:
        raise UsageError("no recipients given", "pass at least one address")
    return enqueue_many(runtime.connection(), settings, "email", payloads, priority=priority,
                        description=f"email {template}", on_batch=on_batch, at=at, delay=delay)


def add_file_processing_job(file_id: str | int, file_url: str, file_name: str, file_type: str, file_size: int,
                            user_id: str | int, processing_type: str, product_id: str | int | None = None,
                            options: Mapping[str, Any] | None = None, *, priority: str | None = None,
                            at: datetime | None = None, delay: timedelta | float | None = None) -> str:
    """Queue one file job on file-processing (high priority unless `priority` says otherwise).

    `processing_type` is virus_scan, validate, image_optimize, thumbnail, format_convert or process;
    `file_url` a path, file:// or http(s) URL the workers can read; `file_type` the declared MIME type
    (or jpg/png/...), checked against the content when the job runs. `file_size` 0 means unknown.
    """
    from jobctl.jobs.files import prepare_file_payload

    scheduled_time(at, delay)
    settings = runtime.settings()
    payload = prepare_file_payload(settings, file_id=file_id, file_url=file_url, file_name=file_name,
                                   file_type=file_type, file_size=file_size, user_id=user_id,
                                   processing_type=processing_type, product_id=product_id,
                                   options=dict(options) if options is not None else None)
    return enqueue(runtime.connection(), settings, "file", payload, priority=priority,
                   description=f"file {processing_type} {payload['file_id']}", at=at, delay=delay)


def process_file(file_id: str | int, file_url: str, file_name: str, file_type: str, file_size: int,
                 user_id: str | int, *, product_id: str | int | None = None, generate_thumbnail: bool = True,
                 optimize_image: bool = True, scan_for_viruses: bool = True, priority: str | None = None,
                 at: datetime | None = None, delay: timedelta | float | None = None) -> str:
    """Queue the whole upload pipeline as one job: scan, validate, then optimise and make thumbnails."""
    options = {"generate_thumbnail": generate_thumbnail, "optimize_image": optimize_image,
               "scan_for_viruses": scan_for_viruses}
    return add_file_processing_job(file_id, file_url, file_name, file_type, file_size, user_id, "process",
                                   product_id, options, priority=priority, at=at, delay=delay)


def add_analytics_job(type: str, date_range: tuple[Any, Any], metrics: Iterable[str] | None = None, *,
                      priority: str | None = None, at: datetime | None = None,
                      delay: timedelta | float | None = None) -> str:
    """Queue one roll-up of every `type` period (hourly/daily/weekly/monthly) overlapping `date_range`.

    `date_range` is two dates (inclusive days) or two datetimes (half-open, naive = UTC); `metrics`
    any of page_views, unique_visitors, purchases, revenue, conversion_rate, average_order_value
    (default: all). Re-running a period replaces its rows.
    """
    from jobctl.jobs.analytics.job import prepare_analytics_payload

    scheduled_time(at, delay)
    payload = prepare_analytics_payload(type, date_range, metrics)
    return enqueue(runtime.connection(), runtime.settings(), "analytics", payload, priority=priority,
                   description=f"analytics {type} {payload['start'][:10]}..{payload['end'][:10]}", at=at, delay=delay)


def schedule_custom_analytics(type: str, date_range: tuple[Any, Any], metrics: Iterable[str] | None = None, *,
                              priority: str | None = None,
                              on_batch: Callable[[int], None] | None = None) -> list[str]:
    """One roll-up job per `type` period in `date_range` (a backfill), enqueued in pipelined batches."""
    from jobctl.jobs.analytics.job import prepare_analytics_payload
    from jobctl.jobs.analytics.periods import periods

    whole = prepare_analytics_payload(type, date_range, metrics)
    start, end = datetime.fromisoformat(whole["start"]), datetime.fromisoformat(whole["end"])
    payloads = [{**whole, "start": s.isoformat(), "end": e.isoformat()} for s, e in periods(type, start, end)]
    return enqueue_many(runtime.connection(), runtime.settings(), "analytics", payloads, priority=priority,
                        description=f"analytics {type}", on_batch=on_batch)


def add_report_job(kind: str, date: Any = None, formats: Iterable[str] | str | None = None, *,
                   email: bool = True, priority: str | None = None, at: datetime | None = None,
                   delay: timedelta | float | None = None) -> str:
    """Queue the daily or weekly report that covers `date` (default: yesterday / last week)."""
    from jobctl.jobs.reports.job import check_date, check_formats, check_kind

    scheduled_time(at, delay)
    payload: dict[str, Any] = {"formats": check_formats(formats), "email": bool(email)}
    if date is not None:
        payload["date"] = check_date(date).isoformat()
    job_type = f"{check_kind(kind)}-report"
    return enqueue(runtime.connection(), runtime.settings(), job_type, payload, priority=priority,
                   description=f"{kind} report {payload.get('date', '')}".strip(), at=at, delay=delay)


def add_payment_retry_job(payment_id: int, provider: str, amount: int | Decimal, currency: str,
                          customer_id: int | str, *, provider_ref: str | None = None, priority: str | None = None,
                          at: datetime | None = None, delay: timedelta | float | None = None) -> str:
    """Queue a retry of a stored payment on payment-retry; it is charged at most once, whatever happens.

    `amount` is integer cents or a Decimal in currency units (never a float); it, the provider,
    currency and customer must match the stored payment. `provider_ref` (a Stripe PaymentIntent id,
    a YooKassa payment method, a crypto invoice) overrides the stored one.
    """
    from jobctl.jobs.payments.job import prepare_payment_payload

    scheduled_time(at, delay)
    settings = runtime.settings()
    payload = prepare_payment_payload(settings, payment_id=payment_id, provider=provider, amount=amount,
                                      currency=currency, customer_id=customer_id, provider_ref=provider_ref)
    return enqueue(runtime.connection(), settings, "payment-retry", payload, priority=priority,
                   description=f"payment retry {payment_id} ({provider})", at=at, delay=delay)


def add_referral_commission_job(order_id: int, *, priority: str | None = None, at: datetime | None = None,
                                delay: timedelta | float | None = None) -> str:
    """Queue the referral commissions of an order (or their reversal, if it was refunded); re-running is harmless.

    The order must exist in the store, or NotFound is raised and nothing is queued."""
    from jobctl.jobs.referrals.job import prepare_commission_payload

    scheduled_time(at, delay)
    settings = runtime.settings()
    payload = prepare_commission_payload(order_id, settings)  # the order must be in the store (NotFound)
    return enqueue(runtime.connection(), settings, "referral-commission", payload, priority=priority,
                   description=f"referral commission order {payload['order_id']}", at=at, delay=delay)
