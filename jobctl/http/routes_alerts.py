"""GET /api/alerts: the alert rules, their thresholds and state (jobctl alerts list --json)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from jobctl.core import alert_rules
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
