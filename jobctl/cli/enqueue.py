"""jobctl enqueue email|email-bulk|file|analytics|report|payment|commission|noop"""

from __future__ import annotations

import getpass
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from jobctl.api import (
    add_analytics_job,
    add_email_job,
    add_file_processing_job,
    add_payment_retry_job,
    add_referral_commission_job,
    add_report_job,
    send_email_campaign,
)
from jobctl.cli import completion
from jobctl.cli.analytics import day_span, parse_day
from jobctl.cli.common import (
    DURATION,
    JsonOption,
    emit_json,
    emit_json_streaming_ids,
    new_app,
    parse_json_object,
    parse_key_values,
    state,
)
from jobctl.cli.progress import progress_bar, summary, summary_text
from jobctl.core.bulk import BulkResult
from jobctl.core.enqueue import parse_at, parse_duration, parse_when, scheduled_for
from jobctl.core.submit import submit, submit_rows
from jobctl.errors import UsageError

app = new_app("Put jobs on queues.")

PriorityOption = typer.Option(
    None,
    "--priority",
    "-p",
    help="high, normal or low (default: the queue's).",
    autocompletion=completion.PRIORITY,
)
AtOption = typer.Option(
    None,
    "--at",
    help="Run at this time, not now: ISO 8601 with an offset, e.g. "
    "2026-12-01T09:00:00+03:00 or 2026-12-01T06:00:00Z.",
)
InOption = typer.Option(
    None, "--in", metavar=DURATION, help="Run after this delay, not now: 90s, 10m, 2h, 1d, 1h30m."
)


def _data(pairs: list[str], data_json: str | None) -> dict:
    return {**parse_json_object(data_json), **parse_key_values(pairs)}


def _timing(at: str | None, in_: str | None) -> dict:
    """--at/--in as enqueue keyword arguments, checked before anything is read or enqueued.

    --in goes on as a delay, so it counts from when the jobs land, however long a big CSV takes.
    """
    if parse_when(at, in_) is None:
        return {}
    return {"delay": parse_duration(in_)} if in_ is not None else {"at": parse_at(at)}


def _in_words(seconds: float) -> str:
    seconds = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def _report(job_id: str, as_json: bool, when: datetime | None = None) -> None:
    """One job: its bare id on stdout (for JOB=$(jobctl enqueue ...)), or {job_id} with --json."""
    due = when.isoformat() if when else None
    if as_json:
        out = {"job_id": job_id}
        emit_json({**out, "scheduled_for": due} if when else out)
        return
    typer.echo(job_id)
    if when:
        sys.stderr.write(
            f"scheduled for {due} (in {_in_words((when - datetime.now(UTC)).total_seconds())})\n"
        )


def _report_bulk(result: BulkResult, as_json: bool, started: float, what: str, where: str = "") -> None:
    """Many jobs: the final summary line (how many, where, elapsed, rate); with --json the same as
    fields (count, elapsed_seconds, rate_per_second, first/last id, digest) and every id. One job is
    reported as one job: its bare id."""
    if result.count == 1:
        _report(result.ids[0], as_json, result.scheduled_for)
        return
    elapsed = time.perf_counter() - started
    due = result.scheduled_for.isoformat() if result.scheduled_for else None
    if as_json:
        fields = {
            **summary(result.count, elapsed),
            "first_job_id": result.first_id,
            "last_job_id": result.last_id,
            "digest": result.digest,
        }
        emit_json_streaming_ids(result.ids, {**fields, "scheduled_for": due} if due else fields)
        return
    on = f" on {where}" if where else ""
    done = (
        f"scheduled {result.count:,} {what} jobs for {due}{on}"
        if due
        else f"enqueued {result.count:,} {what} jobs{on}"
    )
    typer.echo(f"{done} {summary_text(result.count, elapsed)}")


def _queue_one(
    ctx: typer.Context,
    at: str | None,
    in_: str | None,
    as_json: bool,
    what: str,
    queue_it: Callable[[dict], str],
) -> None:
    """The shared tail of the single-job commands: timing checked first, then `queue_it(timing)` with this
    invocation's settings installed for the API, then the id (and when it runs) reported."""
    timing = _timing(at, in_)
    st = state(ctx)
    st.install_runtime()
    job_id = queue_it(timing)
    _report(job_id, as_json, scheduled_for(st.connection, job_id) if timing else None)


@app.command("email")
def email(
    ctx: typer.Context,
    to: list[str] = typer.Option(..., "--to", metavar="ADDRESS", help="Recipient address (repeatable)."),
    template: str = typer.Option(
        ...,
        "--template",
        "-t",
        help="Template name (see `jobctl email templates`).",
        autocompletion=completion.TEMPLATE,
    ),
    data: list[str] = typer.Option([], "--data", "-d", help="Template variable KEY=VALUE (repeatable)."),
    data_json: str | None = typer.Option(None, "--data-json", help="Template variables as a JSON object."),
    attach: list[Path] = typer.Option([], "--attach", help="File to attach (repeatable)."),
    subject: str | None = typer.Option(None, "--subject", help="Override the template's subject."),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue one templated email (now, or --at/--in later); prints the job id."""
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "email",
        lambda timing: add_email_job(
            list(to),
            template,
            _data(data, data_json),
            attachments=list(attach),
            subject=subject,
            priority=priority,
            **timing,
        ),
    )


@app.command("email-bulk")
def email_bulk(
    ctx: typer.Context,
    template: str = typer.Option(
        ..., "--template", "-t", help="Template name.", autocompletion=completion.TEMPLATE
    ),
    recipients: Path = typer.Option(
        ..., "--recipients", help="CSV with an 'email' column; other columns are data."
    ),
    data: list[str] = typer.Option([], "--data", "-d", help="Variable shared by every row, KEY=VALUE."),
    data_json: str | None = typer.Option(None, "--data-json", help="Shared variables as a JSON object."),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """One job per CSV row, validated first, then enqueued in pipelined batches (now, or --at/--in later)."""
    timing = _timing(at, in_)
    state(ctx).install_runtime()  # the API below then uses this invocation's flags and settings
    started = time.perf_counter()
    with progress_bar(as_json=as_json, stage="validating") as bar:
        result = send_email_campaign(
            recipients, template, _data(data, data_json), priority=priority, on_progress=bar.update, **timing
        )
    _report_bulk(result, as_json, started, "email", result.queue)


@app.command("file")
def file(
    ctx: typer.Context,
    url: str = typer.Option(..., "--url", "-u", help="The upload: a path, file:// URL or http(s):// URL."),
    file_type: str = typer.Option(
        ..., "--type", help="Declared type: image/jpeg, jpg, png, webp, gif, pdf..."
    ),
    processing: str = typer.Option(
        "process",
        "--processing",
        help="virus_scan, validate, image_optimize, thumbnail, format_convert or process (all).",
    ),
    name: str | None = typer.Option(None, "--name", help="File name (default: the URL's last part)."),
    size: int | None = typer.Option(
        None, "--size", min=0, help="Declared size in bytes (default: a local file's size; unknown for URLs)."
    ),
    file_id: str | None = typer.Option(None, "--file-id", help="The upload's id (default: a new one)."),
    user_id: str | None = typer.Option(None, "--user-id", help="Who uploaded it (default: your user name)."),
    product_id: str | None = typer.Option(None, "--product-id", help="Product the file belongs to."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="Processing option NAME=VALUE (repeatable), e.g. target=webp, sizes=150x150,600x600.",
    ),
    options_json: str | None = typer.Option(None, "--options-json", help="Processing options as JSON."),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue one file job on file-processing; prints the job id."""
    options = {**parse_json_object(options_json, "--options-json"), **parse_key_values(option, "--option")}
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "file",
        lambda timing: add_file_processing_job(
            file_id or uuid.uuid4().hex,
            url,
            name,
            file_type,
            size,
            user_id or getpass.getuser(),
            processing,
            product_id,
            options,
            priority=priority,
            **timing,
        ),
    )


@app.command("analytics")
def analytics(
    ctx: typer.Context,
    kind: str = typer.Option(..., "--type", "-t", help="hourly, daily, weekly or monthly."),
    from_: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD (UTC)."),
    to: str | None = typer.Option(None, "--to", help="Last day, inclusive (default: the --from day)."),
    metrics: str | None = typer.Option(
        None, "--metrics", "-m", help="Comma-separated metric names (default: all)."
    ),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue one roll-up job covering every period in the range (per period: `analytics schedule-custom`)."""
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "analytics",
        lambda timing: add_analytics_job(kind, day_span(from_, to), metrics, priority=priority, **timing),
    )


@app.command("report")
def report(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="daily or weekly.", autocompletion=completion.REPORT_KIND),
    day: str | None = typer.Option(
        None, "--date", help="A day the report covers (default: yesterday / last week, when the job runs)."
    ),
    formats: str = typer.Option("pdf,csv,json", "--format", "-f", help="Comma-separated: pdf, csv, json."),
    email: bool = typer.Option(True, "--email/--no-email", help="Mail it to JOBCTL_ADMIN_EMAILS (when set)."),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue a daily or weekly report on its queue (`jobctl report generate` runs one here and now)."""
    when = parse_day(day, "--date") if day else None
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "report",
        lambda timing: add_report_job(kind, when, formats, email=email, priority=priority, **timing),
    )


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise UsageError(
            f"--amount {text!r} is not a number", "give it in currency units, e.g. --amount 12.34"
        ) from None


@app.command("payment")
def payment(
    ctx: typer.Context,
    payment_id: int = typer.Option(..., "--payment-id", help="The stored payment to charge again."),
    provider: str = typer.Option(..., "--provider", help="stripe, yookassa or crypto (as stored)."),
    amount: str = typer.Option(..., "--amount", help="In currency units, as stored, e.g. 12.34."),
    currency: str = typer.Option(..., "--currency", help="3-letter code, as stored."),
    customer_id: str = typer.Option(..., "--customer-id", help="The paying user's id, as stored."),
    provider_ref: str | None = typer.Option(
        None,
        "--provider-ref",
        help="Provider's reference (PaymentIntent, payment method, invoice); default: the stored one.",
    ),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue a payment retry: checked against the store, charged at most once."""
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "payment",
        lambda timing: add_payment_retry_job(
            payment_id,
            provider,
            _amount(amount),
            currency,
            customer_id,
            provider_ref=provider_ref,
            priority=priority,
            **timing,
        ),
    )


@app.command("commission")
def commission(
    ctx: typer.Context,
    order_id: int = typer.Option(
        ...,
        "--order-id",
        help="The order whose referrers are paid (or, if refunded, whose commissions are reversed).",
    ),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue an order's referral commissions; running it again changes nothing."""
    _queue_one(
        ctx,
        at,
        in_,
        as_json,
        "commission",
        lambda timing: add_referral_commission_job(order_id, priority=priority, **timing),
    )


@app.command("job")
def job(
    ctx: typer.Context,
    job_type: str = typer.Argument(
        ...,
        help="Job type (`jobctl job types` lists them and their fields).",
        autocompletion=completion.JOB_TYPE,
    ),
    data: list[str] = typer.Option(
        [],
        "--data",
        "-d",
        help="Field KEY=VALUE (repeatable), read by the field's kind: order_id=12 is a number.",
    ),
    data_json: str | None = typer.Option(None, "--data-json", help="Fields as a JSON object."),
    queue: str | None = typer.Option(
        None, "--queue", "-q", help="Queue override (default: the type's).", autocompletion=completion.QUEUE
    ),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue one job of any type from its fields, checked by the type's contract (as schedules, HTTP do)."""

    def queue_it(timing: dict) -> str:
        st = state(ctx)
        return submit(
            st.connection,
            st.settings,
            job_type,
            _data(data, data_json),
            queue=queue,
            priority=priority,
            **timing,
        )

    _queue_one(ctx, at, in_, as_json, job_type, queue_it)


@app.command("noop")
def noop(
    ctx: typer.Context,
    queue: str = typer.Option(
        "email-sending",
        "--queue",
        "-q",
        help="Queue to put the no-op jobs on.",
        autocompletion=completion.QUEUE,
    ),
    count: int = typer.Option(1, "--count", "-n", min=1, help="How many jobs."),
    priority: str | None = PriorityOption,
    at: str | None = AtOption,
    in_: str | None = InOption,
    as_json: bool = JsonOption,
) -> None:
    """No-op jobs: smoke-test a queue and its workers end to end (now, or --at/--in later)."""
    timing = _timing(at, in_)
    st = state(ctx)
    started = time.perf_counter()
    with progress_bar(as_json=as_json, total=count, stage="validating") as bar:
        result = submit_rows(
            st.connection,
            st.settings,
            "noop",
            ({} for _ in range(count)),  # read up to JOBCTL_MAX_BATCH + 1 only, whatever --count says
            priority=priority,
            queue=queue,
            on_progress=bar.update,
            total=count,
            **timing,
        )
    _report_bulk(result, as_json, started, "no-op", queue)
