"""Job types: which queue each kind of job goes to, which function runs it, and where its payload
contract (jobctl.core.contracts) is declared.

Handlers and contracts are referenced by dotted path: RQ stores a plain string (no pickle), the
worker imports only the handler it runs, and core does not import the job modules it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.core.contracts import Contract, load_contract
from jobctl.errors import UsageError

# the reports (daily-report, weekly-report): here, not with the report code (SQLAlchemy, ReportLab),
# so shell completion of --kind reads them without loading it
REPORT_KINDS = ("daily", "weekly")


@dataclass(frozen=True)
class JobType:
    name: str
    queue: str
    func: str
    summary: str
    contract: str  # "module:NAME" of its Contract

    def load_contract(self) -> Contract:
        return load_contract(self.contract)


JOB_TYPES: dict[str, JobType] = {
    t.name: t
    for t in (
        JobType(
            "email",
            "email-sending",
            "jobctl.jobs.email.send_email",
            "send a templated email",
            "jobctl.jobs.email.contract:CONTRACT",
        ),
        JobType(
            "file",
            "file-processing",
            "jobctl.jobs.files.job.process_file_job",
            "validate, virus-scan and process an upload (images: optimise, thumbnails, convert)",
            "jobctl.jobs.files.payload:CONTRACT",
        ),
        JobType(
            "analytics",
            "analytics-aggregation",
            "jobctl.jobs.analytics.job.run_analytics_job",
            "roll up page views, visitors, orders and revenue per period",
            "jobctl.jobs.analytics.job:CONTRACT",
        ),
        JobType(
            "daily-report",
            "daily-reports",
            "jobctl.jobs.reports.job.run_daily_report",
            "yesterday's report (or payload['date']'s) as PDF/CSV/JSON, mailed to admins",
            "jobctl.jobs.reports.job:DAILY",
        ),
        JobType(
            "weekly-report",
            "weekly-reports",
            "jobctl.jobs.reports.job.run_weekly_report",
            "last week's report with the week before for comparison, mailed to admins",
            "jobctl.jobs.reports.job:WEEKLY",
        ),
        JobType(
            "payment-retry",
            "payment-retry",
            "jobctl.jobs.payments.job.run_payment_retry",
            "charge a payment again (Stripe, YooKassa, crypto), never twice",
            "jobctl.jobs.payments.job:CONTRACT",
        ),
        JobType(
            "referral-commission",
            "referral-commission",
            "jobctl.jobs.referrals.job.run_referral_commission_job",
            "pay (or, for a refund, reverse) an order's multi-level referral commissions",
            "jobctl.jobs.referrals.job:CONTRACT",
        ),
        JobType(
            "noop",
            "email-sending",
            "jobctl.jobs.noop.noop",
            "do nothing (benchmarks, smoke tests)",
            "jobctl.jobs.noop:NOOP",
        ),
        JobType(
            "sleep",
            "email-sending",
            "jobctl.jobs.noop.sleep",
            "sleep for payload['seconds'] (tests)",
            "jobctl.jobs.noop:SLEEP",
        ),
        JobType(
            "fail",
            "email-sending",
            "jobctl.jobs.noop.fail",
            "always fail, non-retryably (tests)",
            "jobctl.jobs.noop:FAIL",
        ),
        JobType(
            "flaky",
            "email-sending",
            "jobctl.jobs.noop.flaky",
            "fail transiently N times, then succeed",
            "jobctl.jobs.noop:FLAKY",
        ),
    )
}
# looked up by rq's Job.func_name, which rq types str | None; a name no type runs maps to itself
FUNC_TO_TYPE: dict[str | None, str] = {t.func: t.name for t in JOB_TYPES.values()}


def get_job_type(name: str) -> JobType:
    try:
        return JOB_TYPES[name]
    except KeyError:
        raise UsageError(f"unknown job type {name!r}", f"job types are: {', '.join(JOB_TYPES)}") from None
