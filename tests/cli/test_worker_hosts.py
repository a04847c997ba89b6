"""`worker list` groups workers by host: in the table (the host once per group) and in --json
(sorted by host, then name, and a per-host summary)."""

from __future__ import annotations

from tests.core.test_liveness import physical, register


def on_host(redis_client, name: str, host: str, settings, age: float = 1) -> None:
    key = register(redis_client, name, physical(settings, "email-sending"), age=age)
    redis_client.hset(key, "hostname", host)


def test_worker_list_groups_by_host(cli, redis_client, settings):
    on_host(redis_client, "zeta:11:aa", "zeta", settings)
    on_host(redis_client, "alpha:12:bb", "alpha", settings)
    on_host(redis_client, "zeta:10:cc", "zeta", settings, age=300)  # its heartbeats stopped
    on_host(redis_client, "alpha:13:dd", "alpha", settings)

    listed = cli.json("worker", "list")
    assert [(w["host"], w["name"]) for w in listed["workers"]] == [
        ("alpha", "alpha:12:bb"),
        ("alpha", "alpha:13:dd"),
        ("zeta", "zeta:10:cc"),
        ("zeta", "zeta:11:aa"),
    ]
    assert listed["hosts"] == [
        {"host": "alpha", "workers": 2, "alive": 2},
        {"host": "zeta", "workers": 2, "alive": 1},
    ]

    lines = cli("worker", "list").stdout.splitlines()
    assert lines[0].split()[:2] == ["host", "name"]
    rows = [line.split() for line in lines[1:]]
    # the host once, on its group's first row; the names without it
    assert [r[:2] for r in rows] == [
        ["alpha", "12:bb"],
        ["13:dd", "email-sending"],
        ["zeta", "10:cc"],
        ["11:aa", "email-sending"],
    ]
