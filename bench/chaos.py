#!/usr/bin/env python3
"""Chaos soak (issue 14): thousands of real jobs while workers and the server are killed.

    python3 dev.py bench chaos                       # 5,000 jobs, a worker SIGKILL every 5 s
    python3 dev.py bench chaos --emails 4000 --payments 2000 --noops 4000 --seed 7 --json

A private Redis-compatible server with an append-only file; a local SMTP server that answers 451
to 30 % of recipients; the fake Stripe/YooKassa/crypto gateway of the payment tests answering 503
to 30 % of charges; no-op jobs. Two `jobctl worker start` processes on email-sending and
payment-retry, one of them SIGKILLed every 5 s and started again; the server is stopped
gracefully once (30 % done) and SIGKILLed once (60 % done), each time started again on the same
port and data. Then it waits for every job to be completed or dead-lettered.

Reported: lost and stuck jobs (tests/chaos.py account), duplicate payment captures (the fake
provider's captures per payment), emails delivered more than once (at-least-once delivery makes
some expected), detection time (from a worker's SIGKILL until the job it held left the
started registry: back on its queue, scheduled for retry or failed) and total time. Exit status 1
when a job was lost or stuck or a payment was captured twice, else 0.
"""

from __future__ import annotations

import os
import secrets
import sys

PREFIX = f"chaos-{secrets.token_hex(4)}"
os.environ["RQ_KEY_PREFIX"] = PREFIX  # before rq is imported, here and in the workers

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import (  # noqa: E402
    Account,
    ChaosRun,
    DurableServer,
    Plan,
    WorkerPool,
    account,
    free_port,
    lease_bound,
    physical,
    scratch_dir,
)

QUEUES = ("email-sending", "payment-retry")
PROVIDERS = ("stripe", "yookassa", "crypto")
# the developer's own settings must not reach the workers (as in tests/conftest.py)
SCRUBBED = ("JOBCTL_", "EMAIL_", "SMTP_", "SENDGRID_", "STRIPE_", "YOOKASSA_", "CRYPTO_")
SCRUBBED_NAMES = {"REDIS_URL", "REDIS_PASSWORD", "DATABASE_URL"}


def log(message: str) -> None:
    print(f"chaos: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class FlakySMTP:
    """aiosmtpd handler: 451 to a seeded fraction of recipients, counts deliveries per recipient."""

    def __init__(self, rng: random.Random, fail_rate: float):
        self.rng = rng
        self.fail_rate = fail_rate
        self.lock = threading.Lock()
        self.delivered: Counter = Counter()
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            busy = self.rng.random() < self.fail_rate
            self.refused += busy
        if busy:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for address in envelope.rcpt_tos:
                self.delivered[address.lower()] += 1
        return "250 2.0.0 Message accepted for delivery"


class Detection:
    """How long a SIGKILLed worker's job stayed in the started registry before it was taken back.

    Right after each kill, every started-registry entry whose lease (its score) is still running is
    noted. A live worker's entry is either renewed (its score moves) or removed before its lease
    runs out (the job ended). The dead worker's entry stays untouched until the lease has run out
    and a live worker takes the job back. So an entry removed at or after its lease deadline, never
    renewed, is the killed worker's abandoned job: detection = removal - SIGKILL, and the reclaim
    lag = removal - lease deadline. Read from Redis alone, like the rest (tests/chaos.py).
    """

    def __init__(self, connection, job_ids, queues):
        self.connection = connection
        self.job_ids = job_ids
        self.queues = queues
        self.results: list[dict] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.followed: set[tuple[str, str, float]] = set()  # an entry unrenewed since an earlier kill
        # belongs to that kill's worker: it is not followed again

    def on_kill(self, worker, killed_at: float) -> None:
        try:
            held = account(self.connection, self.job_ids, queues=self.queues).holders
        except Exception as exc:  # noqa: BLE001 - the server may be down right now
            self.results.append({"worker": worker.name, "note": f"no snapshot ({type(exc).__name__})"})
            return
        entries = [
            (job_id, key, member, score)
            for job_id, found in held.items()
            for key, member, score in found
            if score > killed_at and (key, member, score) not in self.followed
        ]
        self.followed.update((key, member, score) for _job_id, key, member, score in entries)
        thread = threading.Thread(target=self._follow, args=(worker.name, killed_at, entries), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _follow(self, name: str, killed_at: float, entries: list[tuple[str, str, str, float]]) -> None:
        pending = list(entries)
        abandoned = []
        while pending and not self.stop.is_set():
            try:
                with self.connection.pipeline(transaction=False) as pipe:
                    for _job_id, key, member, _score in pending:
                        pipe.zscore(key, member)
                    scores = pipe.execute()
            except Exception:  # noqa: BLE001 - the server is restarting
                time.sleep(0.2)  # the server is restarting
                continue
            now = time.time()
            still = []
            for entry, score in zip(pending, scores, strict=True):
                job_id, _key, _member, deadline = entry
                if score is None:
                    if now >= deadline - 0.05:  # gone only after its lease ran out: taken back
                        abandoned.append(
                            {
                                "job": job_id,
                                "seconds": round(now - killed_at, 2),
                                "after_lease": round(now - deadline, 2),
                            }
                        )
                elif score == deadline:
                    still.append(entry)
                # else renewed: a live worker's
            pending = still
            time.sleep(0.05)
        for job_id, *_rest in pending:
            self.results.append({"worker": name, "job": job_id, "note": "never taken back"})
        for found in abandoned:
            self.results.append({"worker": name, **found, "note": "taken back"})
        if not abandoned and not pending:
            self.results.append({"worker": name, "note": "held no job with a lease"})


def make_payments(engine, count: int, rng: random.Random, providers, fail_rate: float) -> list[dict]:
    from tests.jobs.payments.store import make_payment

    made = []
    for n in range(1, count + 1):
        provider = PROVIDERS[n % len(PROVIDERS)]
        ref = f"{provider}-chaos-{n}"
        made.append(
            make_payment(engine, provider=provider, provider_ref=ref, payment_id=n, amount_cents=1000 + n)
        )
        failures = 0
        while rng.random() < fail_rate and failures < 20:
            failures += 1
        if failures:
            providers.script(ref, ["503"] * failures)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--noops", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="share of SMTP 451s and provider 503s")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="JOBCTL_HEARTBEAT_INTERVAL")
    parser.add_argument("--maintenance", type=float, default=1.0, help="JOBCTL_MAINTENANCE_INTERVAL")
    parser.add_argument(
        "--fsync",
        default="always",
        choices=["always", "everysec"],
        help="the server's appendfsync (everysec: the embedded server's own setting)",
    )
    parser.add_argument("--chaos-max", type=float, default=900, help="stop killing after this many seconds")
    parser.add_argument("--settle", type=float, default=180, help="then wait at most this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worker logs)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="jobctl-bench-chaos-"))
    data = scratch_dir()
    bound = lease_bound(args.heartbeat, args.maintenance)
    server = DurableServer(data, fsync=args.fsync)
    smtp = providers = workers = None
    try:
        server.start()
        from aiosmtpd.controller import Controller

        from jobctl.core import runtime
        from jobctl.jobs.payments.sandbox import SandboxProviders, store_lookup

        handler = FlakySMTP(random.Random(args.seed * 7919), args.fail_rate)
        smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
        smtp.start()
        # payments come from the store of the settings in force when asked (set up below), hence a lambda
        lookup = lambda name, ref: store_lookup(runtime.settings())(name, ref)  # noqa: E731, PLW0108
        providers = SandboxProviders(lookup=lookup)
        threading.Thread(target=providers.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

        config = work / "jobctl.toml"
        config.write_text(
            "".join(
                f"[queues.{q}]\nattempts = 5\nkeep_completed = 10000000\nkeep_failed = 10000000\n"
                f'[queues.{q}.backoff]\ndelays = [1, 2]\njitter = "none"\n'
                for q in QUEUES
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED) and k not in SCRUBBED_NAMES}
        env.update(
            {
                "RQ_KEY_PREFIX": PREFIX,
                "REDIS_URL": server.url,
                "JOBCTL_HOME": str(work / "home"),
                "JOBCTL_CONFIG": str(config),
                "DATABASE_URL": f"sqlite:///{work / 'store.db'}",
                "JOBCTL_HEARTBEAT_INTERVAL": f"{args.heartbeat:g}",
                "JOBCTL_MAINTENANCE_INTERVAL": f"{args.maintenance:g}",
                "JOBCTL_LOG_LEVEL": "WARNING",
                "JOBCTL_ALERT_COOLDOWN": "0",
                "JOBCTL_PAYMENT_TIMEOUT": "2",
                "EMAIL_PROVIDER": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "JOBCTL_SMTP_SECURITY": "none",
                "NO_PROXY": "127.0.0.1,localhost",
                **providers.environment(),
            }
        )
        os.environ.clear()
        os.environ.update(env)

        from jobctl.api import add_bulk_email_jobs, add_payment_retry_job
        from jobctl.core.bulk import enqueue_many
        from jobctl.data import engine_for

        runtime.reset()
        settings = runtime.settings()
        connection = server.client(socket_timeout=30)
        log(f"creating {args.payments} payments")
        made = make_payments(engine_for(settings), args.payments, rng, providers, args.fail_rate)
        log(f"enqueueing {args.emails} emails, {args.payments} payment retries, {args.noops} no-ops")
        ids: list[str] = []
        if args.emails:
            ids += add_bulk_email_jobs(
                [f"user{n}@example.com" for n in range(args.emails)],
                "welcome",
                {"name": "Ada", "login_url": "https://shop.example.com/login"},
            )
        for m in made:
            ids.append(
                add_payment_retry_job(
                    m["payment_id"], m["provider"], m["amount_cents"], m["currency"], m["customer_id"]
                )
            )
        priorities = Counter(rng.choice(("high", "normal", "low")) for _ in range(args.noops))
        for priority, count in sorted(priorities.items()):
            ids += enqueue_many(
                connection, settings, "noop", [{}] * count, queue="email-sending", priority=priority
            )
        queues = physical(*QUEUES)
        workers = WorkerPool(QUEUES, count=args.workers, env=env, log_dir=work / "logs", cwd=work)
        detection = Detection(connection, ids, queues)
        plan = Plan(
            kill_every=args.kill_every,
            jitter=0.2,
            min_life=1.5,
            server_events=((0.3, args.chaos_max * 0.3, "stop"), (0.6, args.chaos_max * 0.6, "kill")),
            chaos_until=0.97,
            chaos_max=args.chaos_max,
            settle=args.settle,
            sample_every=1.0,
            give_up_after=max(10.0, 3 * bound),
        )
        last_line = [0.0]

        def progress(acc: Account, elapsed: float) -> None:
            if elapsed - last_line[0] >= 10:
                last_line[0] = elapsed
                log(f"{elapsed:6.0f} s  {acc.line()}")

        log(
            f"{len(ids)} jobs; {args.workers} workers, a SIGKILL every {args.kill_every:g} s; "
            f"bound {bound:g} s"
        )
        outcome = ChaosRun(
            connection,
            ids,
            server=server,
            workers=workers,
            plan=plan,
            bound=bound,
            rng=rng,
            queues=queues,
            on_kill=detection.on_kill,
            on_sample=progress,
            log=log,
        ).run()
        detection.stop.set()
        for thread in detection.threads:
            thread.join(5)

        from sqlalchemy import func, select

        from jobctl.data.schema import payments

        with engine_for(settings).connect() as conn:
            paid = conn.execute(
                select(func.count()).select_from(payments).where(payments.c.status == "paid")
            ).scalar_one()
        captures = Counter(str(c["payment_id"]) for c in providers.captures)
        double_captures = {p: n for p, n in captures.items() if n > 1}
        mine = {f"user{n}@example.com" for n in range(args.emails)}
        repeated_mail = {a: n for a, n in handler.delivered.items() if a in mine and n > 1}
        times = sorted(r["seconds"] for r in detection.results if "seconds" in r)
        lags = sorted(r["after_lease"] for r in detection.results if "after_lease" in r)
        notes = Counter(r["note"] for r in detection.results)
        final = outcome.final
        result = {
            "jobs": len(ids),
            "seed": args.seed,
            "seconds": round(outcome.seconds, 1),
            "chaos_seconds": round(outcome.chaos_seconds, 1),
            "settle_seconds": round(outcome.settle_seconds, 1),
            "worker_sigkills": outcome.kills,
            "server": outcome.server_events,
            "workers_exited_on_their_own": outcome.self_exits,
            "states": dict(final.counts),
            "lost": sorted(final.lost),
            "stuck": sorted(final.stuck),
            "not_terminal": len(final.pending()),
            "overdue_retries": len(final.overdue),
            "payments_paid": paid,
            "payment_captures": sum(captures.values()),
            "double_captures": double_captures,
            "emails_delivered": sum(handler.delivered[a] for a in mine),
            "emails_delivered_twice_or_more": len(repeated_mail),
            "smtp_451s": handler.refused,
            "detection": {
                "measured": len(times),
                "kills": notes,
                "p50": round(statistics.median(times), 2) if times else None,
                "max": times[-1] if times else None,
                "after_lease_max": lags[-1] if lags else None,
                "bound": bound,
                "each": detection.results,
            },
        }
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print(render(result, final, outcome.history))
        if args.keep:
            log(f"kept {work} (worker logs in {work / 'logs'})")
        failed = final.lost or final.stuck or double_captures
        return 1 if failed else 0
    finally:
        if workers is not None:
            workers.stop_all()
        server.kill()
        if smtp is not None:
            smtp.stop()
        if providers is not None:
            providers.shutdown()
        shutil.rmtree(data, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def render(r: dict, final: Account, history) -> str:
    d = r["detection"]
    rows = [
        ("jobs", f"{r['jobs']:,} (seed {r['seed']})"),
        (
            "total time",
            f"{r['seconds']} s (chaos {r['chaos_seconds']} s, then {r['settle_seconds']} s to settle)",
        ),
        (
            "worker SIGKILLs",
            f"{r['worker_sigkills']} (+{r['workers_exited_on_their_own']} exits on their own)",
        ),
        ("server", ", ".join(r["server"]) or "untouched"),
        ("final", final.line()),
        ("LOST", str(len(r["lost"]))),
        ("STUCK", str(len(r["stuck"]))),
        ("not terminal", f"{r['not_terminal']} ({r['overdue_retries']} overdue retries)"),
        ("payments paid / captures", f"{r['payments_paid']} / {r['payment_captures']}"),
        ("DUPLICATE captures", f"{len(r['double_captures'])} payments"),
        (
            "emails delivered",
            f"{r['emails_delivered']} ({r['emails_delivered_twice_or_more']} recipients "
            f"twice or more; {r['smtp_451s']} SMTP 451s)",
        ),
        (
            "detection",
            f"{d['measured']} abandoned jobs taken back after p50 {d['p50']} s, max {d['max']} s "
            f"from the SIGKILL (README bound {d['bound']:g} s); at most {d['after_lease_max']} s "
            f"after the lease ran out",
        ),
        ("kills", ", ".join(f"{n} {note}" for note, n in d["kills"].items())),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += final.details().splitlines()[1:]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
