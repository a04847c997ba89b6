"""jobctl: operations toolkit for a marketplace's background jobs, on RQ over Redis.

Library use: `from jobctl import add_email_job, add_bulk_email_jobs, add_file_processing_job, process_file`.
"""

from __future__ import annotations

from typing import Any

from jobctl.errors import JobctlError

__version__ = "0.1.0"
API = (
    "add_job",
    "add_email_job",
    "add_bulk_email_jobs",
    "send_email_campaign",
    "add_file_processing_job",
    "process_file",
    "add_analytics_job",
    "schedule_custom_analytics",
    "add_report_job",
    "add_payment_retry_job",
    "add_referral_commission_job",
)
__all__ = [*API, "JobctlError", "__version__"]  # noqa: PLE0604 - API is a tuple of names


def __getattr__(name: str) -> Any:
    if name in API:
        # lazy: `import jobctl`, which every jobctl module and worker does first, stays free of Redis and RQ
        from jobctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'jobctl' has no attribute {name!r}")
