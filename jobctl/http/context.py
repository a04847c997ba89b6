"""What every endpoint needs from the app that serves it: the settings, the connection, how it is bound."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from fastapi import Request

from jobctl.config import Settings


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    connection: redis.Redis
    loopback: bool  # bound to a loopback address: anonymous reads are allowed while no token exists


def api_context(request: Request) -> ApiContext:
    return request.app.state.jobctl
