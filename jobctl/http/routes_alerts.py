"""GET /api/alerts: the alert rules, their thresholds and state (jobctl alerts list --json);
GET /api/alerts/history: their firing and resolving transitions (jobctl alerts history --json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from jobctl.core import alert_rules, alerts
from jobctl.http.auth import Caller, Viewer
from jobctl.http.common import Ctx, error_responses

router = APIRouter()


@router.get(
    "/api/alerts",
    summary="Alert rules: threshold, state and each subject's (jobctl alerts list --json)",
    responses=error_responses(403),
)
def alerts_list(ctx: Ctx, caller: Caller = Viewer) -> dict[str, Any]:
    """`evaluation`: when the rules were last evaluated, by whom, and whether that is recent (`fresh`);
    `rules`: each with `enabled`, `threshold`, `state` (off, ok, firing, or not-evaluated when no
    evaluator ran recently) and `subjects` (queue or worker: state, since, last_fired, last_resolved,
    message). Reads only the rules' state, never the queues: O(rules and subjects)."""
    return alert_rules.overview(ctx.connection, ctx.settings)


@router.get(
    "/api/alerts/history",
    summary="Alert rules' firing and resolving transitions, newest first (jobctl alerts history --json)",
    responses=error_responses(403),
)
def alerts_history(
    ctx: Ctx,
    caller: Caller = Viewer,
    limit: Annotated[
        int, Query(ge=1, le=alerts.HISTORY_MAX_ENTRIES, description="At most this many transitions.")
    ] = 50,
) -> dict[str, Any]:
    """`transitions`: each with `event` (firing or resolved), `rule`, `subject`, `value`, `threshold`,
    `message`, `at`, `notified` (false for a firing within the cooldown, which told nobody) and
    `fired_for_seconds`. A resolving's `value` and `message` say the value then, with its threshold,
    and `fired_for_seconds` how long the rule fired (null on a firing). The history keeps about the
    last 1,000; a read costs O(limit)."""
    return {"transitions": alerts.history(ctx.connection, limit)}
