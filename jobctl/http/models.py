"""Request bodies and bounded parameter types. Unknown fields are refused, so a typo is a 422, not
a silently ignored option."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jobctl.core.audit import FACES
from jobctl.core.browse import JOB_ID
from jobctl.core.catalog import PRIORITIES
from jobctl.core.jobtypes import JOB_TYPES
from jobctl.core.ops import CLEAR_STATES
from jobctl.core.schedule_tables import MISSED
from jobctl.core.schedule_tables import NAME as SCHEDULE_NAME
from jobctl.core.search import SEARCH_STATES
from jobctl.core.stats import STATES

MAX_IDS = 1000  # ids per request: a bigger batch is several requests (and would pass 64 KiB anyway)
MAX_PAGE = 1000

JobId = Annotated[str, StringConstraints(pattern=JOB_ID.pattern)]
QueueName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
JobState = Literal[STATES]  # type: ignore[valid-type]
SearchState = Literal[SEARCH_STATES]  # type: ignore[valid-type]
ClearState = Literal[(*CLEAR_STATES, "all")]  # type: ignore[valid-type]
JobType = Literal[tuple(JOB_TYPES)]  # type: ignore[valid-type]
Missed = Literal[MISSED]  # type: ignore[valid-type]
Duration = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$")]  # an id from GET /dlq/groups
ScheduleName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME.pattern)]
AuditFace = Literal[FACES]  # type: ignore[valid-type]
AuditCursor = Annotated[str, StringConstraints(pattern=r"^\d{1,20}-\d{1,20}$")]  # an entry's id


class RetryRequest(BaseModel):
    """Jobs by id (failed ones are retried, dead-lettered ones replayed); or dead-lettered jobs only
    (`dlq`) by id or `all` (narrowed by queue, since, error_contains, fingerprint); or one job in one
    queue, the original spec's `{"queueName", "jobId"}`."""

    model_config = ConfigDict(extra="forbid")

    job_ids: list[JobId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_IDS,
        description="Ids of failed or dead-lettered jobs (with dlq: only dead-lettered ones).",
    )
    dlq: bool = Field(False, description="Only replay from the dead-letter queue.")
    all: bool = Field(False, description="With dlq: every dead-lettered job matching the filters.")
    queue: QueueName | None = Field(None, description="With dlq and all: only this queue's entries.")
    since: Duration | None = Field(
        None, description="With dlq and all: only entries that died within this long, e.g. 1h, 7d."
    )
    error_contains: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, description="With dlq and all: only entries whose error mentions this text."
    )
    fingerprint: Fingerprint | None = Field(
        None, description="With dlq and all: only entries of this error group (an id from GET /dlq/groups)."
    )
    queue_name: QueueName | None = Field(
        None, alias="queueName", description="With jobId: the job's queue (404 if it is not in it)."
    )
    job_id: JobId | None = Field(None, alias="jobId", description="With queueName: the one job to retry.")

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> RetryRequest:
        if self.job_id is not None or self.queue_name is not None:
            if self.job_id is None or self.queue_name is None:
                raise ValueError('"queueName" and "jobId" go together: give both')
            others = [
                k
                for k in ("job_ids", "queue", "since", "error_contains", "fingerprint", "dlq", "all")
                if getattr(self, k) not in (None, False)
            ]
            if others:
                raise ValueError(f'"{others[0]}" does not go with "queueName" and "jobId": one selection')
            return self
        if (self.job_ids is not None) == self.all:
            raise ValueError(
                'give exactly one selection: "job_ids", or "dlq": true with "all": true, '
                'or "queueName" with "jobId"'
            )
        if self.all and not self.dlq:
            raise ValueError('"all" selects dead-lettered jobs: add "dlq": true')
        filters = [
            k for k in ("queue", "since", "error_contains", "fingerprint") if getattr(self, k) is not None
        ]
        if filters and not self.all:
            raise ValueError(f'"{filters[0]}" narrows "all": use it with "dlq": true and "all": true')
        return self


class EnqueueRequest(BaseModel):
    """One job of any type: `data` is checked by the type's contract (422 naming the field if bad)."""

    model_config = ConfigDict(extra="forbid")

    job: JobType = Field(description="Job type, e.g. email (GET /api/jobs/types lists each type's fields).")
    data: dict[str, Any] = Field(default_factory=dict, description="The job's fields.")
    queue: QueueName | None = Field(None, description="Queue override (default: the job type's).")
    priority: Priority | None = None
    at: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="Run at this time: ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+03:00."
    )
    in_: Duration | None = Field(None, alias="in", description="Run after this delay, e.g. 90s, 10m, 1h30m.")


class ScheduleRequest(BaseModel):
    """A recurring schedule; an existing one with this name has its definition replaced."""

    model_config = ConfigDict(extra="forbid")

    name: ScheduleName
    cron: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="'minute hour day month weekday' or @hourly, @daily, @weekly, @monthly."
    )
    tz: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "UTC", description="Timezone the cron runs in, e.g. Europe/Berlin."
    )
    job: JobType = Field(description="Job type to enqueue.")
    data: dict[str, Any] = Field(default_factory=dict, description="The job's payload.")
    queue: QueueName | None = Field(None, description="Queue override (default: the job type's).")
    priority: Priority | None = None
    missed: Missed = Field("once", description="After downtime: once (run the latest missed) or skip.")
