"""Job types: which queue each kind of job goes to and which function runs it.

Handlers are referenced by dotted path so RQ stores a plain string (no pickle) and the worker
imports only the handler it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.errors import UsageError


@dataclass(frozen=True)
class JobType:
    name: str
    queue: str
    func: str
    summary: str


JOB_TYPES: dict[str, JobType] = {
    t.name: t
    for t in (
        JobType("email", "email-sending", "jobctl.jobs.email.send_email", "send a templated email"),
        JobType("file", "file-processing", "jobctl.jobs.files.job.process_file_job",
                "validate, virus-scan and process an upload (images: optimise, thumbnails, convert)"),
        JobType("analytics", "analytics-aggregation", "jobctl.jobs.analytics.job.run_analytics_job",
                "roll up page views, visitors, orders and revenue per period"),
        JobType("daily-report", "daily-reports", "jobctl.jobs.reports.job.run_daily_report",
                "yesterday's report (or payload['date']'s) as PDF/CSV/JSON, mailed to admins"),
        JobType("weekly-report", "weekly-reports", "jobctl.jobs.reports.job.run_weekly_report",
                "last week's report with the week before for comparison, mailed to admins"),
        JobType("payment-retry", "payment-retry", "jobctl.jobs.payments.job.run_payment_retry",
                "charge a payment again (Stripe, YooKassa, crypto), never twice"),
        JobType("referral-commission", "referral-commission",
                "jobctl.jobs.referrals.job.run_referral_commission_job",
                "pay (or, for a refund, reverse) an order's multi-level referral commissions"),
        JobType("noop", "email-sending", "jobctl.jobs.noop.noop", "do nothing (benchmarks, smoke tests)"),
        JobType("sleep", "email-sending", "jobctl.jobs.noop.sleep", "sleep for payload['seconds'] (tests)"),
        JobType("fail", "email-sending", "jobctl.jobs.noop.fail", "always fail, non-retryably (tests)"),
        JobType("flaky", "email-sending", "jobctl.jobs.noop.flaky", "fail transiently N times, then succeed"),
    )
}
FUNC_TO_TYPE = {t.func: t.name for t in JOB_TYPES.values()}


def get_job_type(name: str) -> JobType:
    try:
        return JOB_TYPES[name]
    except KeyError:
        raise UsageError(f"unknown job type {name!r}", f"job types are: {', '.join(JOB_TYPES)}") from None
