"""What a piece of code sends to Redis: for tests that its cost does not grow with queue length."""

from __future__ import annotations

from collections.abc import Callable

import redis
import redis.client


def commands_sent(monkeypatch, call: Callable[[], object]) -> list[str]:
    """The commands `call()` sends, pipelined or direct, as sorted "COMMAND first-argument" strings."""
    sent: list[str] = []
    real_execute, real_command = redis.client.Pipeline.execute, redis.Redis.execute_command

    def execute(self, *a, **kw):
        sent.extend(_shown(c[0]) for c in self.command_stack)
        return real_execute(self, *a, **kw)

    def command(self, *args, **kw):
        sent.append(_shown(args))
        return real_command(self, *args, **kw)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    monkeypatch.setattr(redis.Redis, "execute_command", command)
    try:
        call()
    finally:
        monkeypatch.undo()
    return sorted(sent)


def _shown(args: tuple) -> str:
    return " ".join([str(args[0]).upper(), *(str(a) for a in args[1:2])])
