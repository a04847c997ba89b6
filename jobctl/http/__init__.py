"""The HTTP API (`jobctl serve`): a thin FastAPI face over jobctl.core, guarded by bearer tokens.

Needs the `http` extra (fastapi, uvicorn). Nothing in jobctl.core imports this package.
"""

from jobctl.http.app import create_app

__all__ = ["create_app"]
