"""The HTTP fixtures (the in-process app, a token per role) for the battery's HTTP cases."""

from tests.http.conftest import app, client, creds  # noqa: F401 - fixtures, used by name
