"""Job types: which queue each kind of job goes to, which function runs it, and where its payload
contract (jobctl.core.contracts) is declared.

Handlers and contracts are referenced by dotted path: RQ stores a plain string (no pickle), the
worker imports only the handler it runs, and core does not import the job modules it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobctl.core.contracts import Contract, load_contract
from jobctl.errors import UsageError

if TYPE_CHECKING:
    from jobctl.config import Settings

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

# failure drills and timing jobs for the test suite, benchmarks and the demo: a deployment offers them
# only with JOBCTL_TEST_JOB_TYPES on, so no token can queue or schedule a flaky job every minute
# (issue #22). They stay in JOB_TYPES so jobs and dead letters made with them are still named.
TEST_ONLY: tuple[str, ...] = ("sleep", "fail", "flaky")
TEST_ONLY_FUNCS = frozenset(JOB_TYPES[name].func for name in TEST_ONLY)
TEST_ONLY_HINT = "set JOBCTL_TEST_JOB_TYPES=1 to enable sleep, fail and flaky (for tests and benchmarks only)"


def offered(settings: Settings) -> dict[str, JobType]:
    """The job types this deployment accepts: every one with JOBCTL_TEST_JOB_TYPES on, else all but
    the test-only ones. What the faces list and what enqueues and schedules may name."""
    if settings.test_job_types:
        return JOB_TYPES
    return {name: t for name, t in JOB_TYPES.items() if name not in TEST_ONLY}


def test_only_refusal(name: str) -> UsageError:
    return UsageError(f"job type {name!r} is test-only and not enabled here", TEST_ONLY_HINT)


def get_job_type(name: str, settings: Settings | None = None) -> JobType:
    """The job type `name`. With `settings`, only one the deployment offers (see `offered`): a
    test-only type is refused naming the setting; without, any type (describing a stored job)."""
    if settings is not None and name in TEST_ONLY and not settings.test_job_types:
        raise test_only_refusal(name)
    try:
        return JOB_TYPES[name]
    except KeyError:
        names = offered(settings) if settings is not None else JOB_TYPES
        raise UsageError(f"unknown job type {name!r}", f"job types are: {', '.join(names)}") from None
