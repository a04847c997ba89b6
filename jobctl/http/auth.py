"""Who is calling: a bearer token from `jobctl token create`, checked against Redis on every request.

Roles nest: viewer (reads) < operator (retry, schedule, pause/resume, cancel) < admin (clear,
delete, purge). With no token stored at all, a server bound to loopback lets requests without a
token read as the viewer "anonymous"; `jobctl serve` refuses to start anywhere else without tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobctl.core import audit, tokens
from jobctl.http.context import ApiContext, api_context
from jobctl.http.errors import Forbidden, Unauthorized

ANONYMOUS = "anonymous"
CREATE_HINT = (
    "send Authorization: Bearer <token>; an admin creates one with jobctl token create NAME --role viewer"
)

# declares the bearer scheme in /openapi.json; the header is read and judged below, not here
bearer = HTTPBearer(auto_error=False, description="A token from `jobctl token create NAME --role ROLE`.")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    @contextmanager
    def acting(self) -> Iterator[audit.Actor]:
        """Attribute the core mutations made inside to this token, face "http". Entered in the
        endpoint body: sync endpoints run in a worker thread, so a context set in a dependency
        would not reach them."""
        with audit.acting_as(audit.Actor(self.name, "http")) as actor:
            yield actor


def _identify(request: Request, ctx: ApiContext) -> Caller:
    header = request.headers.get("authorization")
    if header is None:
        if ctx.loopback and not tokens.has_tokens(ctx.connection):
            return Caller(ANONYMOUS, "viewer")
        raise Unauthorized("missing bearer token", CREATE_HINT)
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'", CREATE_HINT)
    owner = tokens.authenticate(ctx.connection, presented)
    if owner is None:
        raise Unauthorized(
            "invalid or revoked token", "check the token, or ask an admin for a new one (jobctl token list)"
        )
    return Caller(owner.name, owner.role)


def require(role: str) -> Callable[..., Caller]:
    """A dependency admitting callers whose role is `role` or above."""
    tokens.check_role(role)

    def dependency(
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        ctx: ApiContext = Depends(api_context),
    ) -> Caller:
        caller = _identify(request, ctx)
        if not tokens.role_allows(caller.role, role):
            who = "requests without a token are" if caller.name == ANONYMOUS else f"token {caller.name!r} is"
            raise Forbidden(
                f"this needs the {role} role; {who} {caller.role}",
                f"use a token with role {role} or above (jobctl token create NAME --role {role})",
            )
        return caller

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Depends(require("viewer"))
Operator = Depends(require("operator"))
Admin = Depends(require("admin"))
