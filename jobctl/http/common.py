"""What every route module declares with: the error body and responses in /openapi.json, the context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel

from jobctl.http.context import ApiContext, api_context


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: the statuses it answers itself, plus those every route can."""
    text = {
        400: "Bad input the core refused",
        401: "Missing, invalid or revoked token",
        403: "Role too low",
        404: "No such queue, job or entry",
        409: "The job's state refuses this",
        413: "Body too large",
        422: "Request validation failed",
        503: "Redis unreachable",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in (*statuses, 401, 413, 422, 503)}


Ctx = Annotated[ApiContext, Depends(api_context)]
