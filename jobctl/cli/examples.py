"""Every leaf command's examples, declared once: `jobctl <command> --help` ends with them
(JobctlCommand) and the man page lists them (scripts/gen_docs.py); tests/cli/test_help_examples.py
parses each one against the command tree, so an example cannot name an option that is gone."""

from __future__ import annotations

from typing import Any, NamedTuple


class Example(NamedTuple):
    command: str  # the whole command line, starting with `jobctl <command path>`
    does: str  # one line: what it does


EXAMPLES: dict[str, tuple[Example, ...]] = {
    "alerts list": (
        Example("jobctl alerts list", "Every alert rule and whether it fires right now"),
        Example("jobctl alerts list --json", "The same as JSON, for a script or a status page"),
    ),
    "alerts history": (
        Example("jobctl alerts history", "The last 50 times an alert rule fired or resolved"),
        Example("jobctl alerts history --limit 200 --json", "The last 200 as JSON"),
    ),
    "alerts test": (
        Example("jobctl alerts test email", "Check that alert emails reach JOBCTL_ADMIN_EMAILS"),
        Example("jobctl alerts test webhook", "Post a test alert to JOBCTL_ALERT_WEBHOOK_URL"),
    ),
    "analytics schedule-custom": (
        Example(
            "jobctl analytics schedule-custom --type daily --from 2026-11-01 --to 2026-11-30",
            "Backfill November: one daily roll-up job per day",
        ),
    ),
    "analytics show": (
        Example(
            "jobctl analytics show --type daily --from 2026-11-01 --to 2026-11-07",
            "The daily roll-ups of the first week of November",
        ),
        Example(
            "jobctl analytics show -t monthly --from 2026-11-01 -m revenue,purchases --json",
            "November's revenue and purchases as JSON",
        ),
    ),
    "audit list": (
        Example("jobctl audit list --since 1d", "What was changed in the last day, and by whom"),
        Example("jobctl audit list --action queue.clear --limit 10", "The last ten queue clears"),
        Example(
            "jobctl audit list --action enqueue --type email --since 1h",
            "Who enqueued email jobs in the last hour",
        ),
    ),
    "clear": (
        Example(
            "jobctl clear email-sending --state failed --dry-run",
            "Count the failed email jobs a clear would remove",
        ),
        Example("jobctl clear file-processing --state completed --yes", "Drop finished file jobs, unasked"),
    ),
    "config show": (
        Example("jobctl config show", "The settings changed from their defaults, and where each came from"),
        Example("jobctl config show --all --json", "Every setting as JSON, secrets masked"),
    ),
    "dash": (
        Example("jobctl dash", "Open the live dashboard"),
        Example("jobctl dash --refresh 5s", "Refresh it every five seconds instead"),
    ),
    "db migrate": (Example("jobctl db migrate", "Bring the database schema up to date"),),
    "db seed": (
        Example("jobctl db seed --days 30 --users 200", "A month of sample shop data for 200 users"),
        Example("jobctl db seed --replace --seed 7 --yes", "Replace the sample data, reproducibly"),
    ),
    "db status": (
        Example("jobctl db status", "Schema version, pending migrations and rows per table"),
        Example("jobctl db status --json", "The same as JSON"),
    ),
    "demo": (
        Example("jobctl demo", "A marketplace's day of jobs on all queues, with real workers"),
        Example("jobctl demo --campaign 500 --concurrency 4", "A 500-recipient campaign, four jobs at once"),
    ),
    "dlq groups": (
        Example("jobctl dlq groups", "What the dead jobs died of: one line per error, biggest first"),
        Example(
            "jobctl dlq groups --queue email-sending --since 1h --json", "Last hour's email failures as JSON"
        ),
    ),
    "dlq list": (
        Example("jobctl dlq list --queue email-sending --since 1h", "Emails that died in the last hour"),
        Example("jobctl dlq list --error-contains timeout --json", "Timed-out dead jobs as JSON"),
        Example("jobctl dlq list --fingerprint 3f2a9c1b0d4e", "The dead jobs of one error group"),
    ),
    "dlq purge": (
        Example(
            "jobctl dlq purge --all --since 30d --dry-run",
            "What purging the last 30 days' dead jobs would delete",
        ),
        Example(
            "jobctl dlq purge --queue file-processing --all --yes", "Delete every dead file job, unasked"
        ),
        Example(
            "jobctl dlq purge --all --fingerprint 3f2a9c1b0d4e --dry-run",
            "What purging one error group would delete",
        ),
    ),
    "dlq retry": (
        Example(
            "jobctl dlq retry --queue email-sending --since 1h --all --dry-run",
            "Which dead emails of the last hour would be replayed",
        ),
        Example(
            "jobctl dlq retry --all --error-contains 'Connection refused' --yes",
            "Replay everything that died on a refused connection",
        ),
        Example(
            "jobctl dlq retry --all --fingerprint 3f2a9c1b0d4e --yes",
            "Replay one error group (ids from `jobctl dlq groups`)",
        ),
    ),
    "dlq show": (
        Example("jobctl dlq show JOB_ID", "One dead job: payload, attempts and the last traceback"),
        Example("jobctl dlq show JOB_ID --json", "The same as JSON, personal data redacted"),
    ),
    "email preview": (
        Example(
            "jobctl email preview --template welcome -d name=Ann -d login_url=https://shop.example/login",
            "Show the welcome email Ann would get",
        ),
        Example(
            'jobctl email preview -t order-confirmation --data-json \'{"name": "Ann", "order_id": 1042}\' '
            "--html",
            "The HTML of an order confirmation",
        ),
    ),
    "email templates": (Example("jobctl email templates", "The templates and the variables each one needs"),),
    "enqueue analytics": (
        Example(
            "jobctl enqueue analytics --type daily --from 2026-11-01 --to 2026-11-30",
            "One job rolling up every day of November",
        ),
        Example(
            "jobctl enqueue analytics -t hourly --from 2026-12-01 --in 10m",
            "Roll up December 1st by the hour, ten minutes from now",
        ),
    ),
    "enqueue commission": (
        Example("jobctl enqueue commission --order-id 1042", "Pay the referral commissions of order 1042"),
    ),
    "enqueue email": (
        Example(
            "jobctl enqueue email --to ann@example.com --template welcome -d name=Ann",
            "Send Ann the welcome email",
        ),
        Example(
            "jobctl enqueue email --to ann@example.com -t password-reset -d name=Ann "
            "-d reset_url=https://shop.example/reset/abc --priority high",
            "A password reset, ahead of the rest of the queue",
        ),
        Example(
            "jobctl enqueue email --to ann@example.com -t order-confirmation --data-json "
            '\'{"name": "Ann", "order_id": 1042}\' --at 2026-12-01T09:00:00Z',
            "An order confirmation sent at 09:00 UTC on December 1st",
        ),
    ),
    "enqueue email-bulk": (
        Example(
            "jobctl enqueue email-bulk --template marketing-campaign --recipients customers.csv "
            "-d headline='Winter sale'",
            "One campaign email per row of customers.csv",
        ),
        Example(
            "jobctl enqueue email-bulk -t marketing-campaign --recipients customers.csv --in 2h -p low",
            "The same campaign in two hours, at low priority",
        ),
    ),
    "enqueue file": (
        Example(
            "jobctl enqueue file --url ./uploads/cover.jpg --type image/jpeg --product-id 77",
            "Scan, validate and optimise a product photo",
        ),
        Example(
            "jobctl enqueue file -u https://cdn.example/u/manual.pdf --type pdf --processing virus_scan",
            "Only virus-scan an uploaded PDF",
        ),
        Example(
            "jobctl enqueue file -u ./uploads/cover.jpg --type jpg --processing thumbnail "
            "-o sizes=150x150,600x600",
            "Make two thumbnails of a photo",
        ),
    ),
    "enqueue job": (
        Example(
            "jobctl enqueue job email -d to=ann@example.com -d template=welcome -d name=Ann",
            "Any job type from its fields: here a welcome email",
        ),
        Example(
            'jobctl enqueue job daily-report --data-json \'{"date": "2026-11-30"}\'',
            "The daily report of November 30th",
        ),
    ),
    "enqueue noop": (
        Example("jobctl enqueue noop --queue file-processing", "Smoke-test the file-processing workers"),
        Example("jobctl enqueue noop -q email-sending --count 100", "A hundred no-op jobs on email-sending"),
    ),
    "enqueue payment": (
        Example(
            "jobctl enqueue payment --payment-id 318 --provider stripe --amount 49.90 --currency EUR "
            "--customer-id 12",
            "Retry payment 318 (charged at most once)",
        ),
    ),
    "enqueue report": (
        Example("jobctl enqueue report daily", "Yesterday's report, mailed to the admins"),
        Example(
            "jobctl enqueue report weekly --format pdf --at 2026-12-07T06:00:00Z", "Last week's PDF at 06:00"
        ),
    ),
    "job cancel": (Example("jobctl job cancel JOB_ID", "Cancel a waiting job, or stop a running one"),),
    "job delete": (
        Example("jobctl job delete JOB_ID OTHER_JOB_ID --yes", "Delete two jobs and their data, unasked"),
    ),
    "job search": (
        Example("jobctl job search --id JOB_ID", "Where a job is now, in any queue and state"),
        Example("jobctl job search --to ann@example.com", "Emails to this address, newest first"),
        Example(
            "jobctl job search --type payment-retry --state dead --json",
            "Dead-lettered payment retries as JSON",
        ),
    ),
    "job show": (
        Example("jobctl job show JOB_ID", "Status, payload, attempts and result of one job"),
        Example("jobctl job show JOB_ID --reveal --json", "The same as JSON, personal data shown"),
    ),
    "job types": (Example("jobctl job types", "Job types, their queues and their fields"),),
    "keys generate": (Example("jobctl keys generate", "A new encryption key for JOBCTL_ENCRYPTION_KEYS"),),
    "keys rotate": (
        Example("jobctl keys rotate --dry-run", "How much would be re-encrypted under the first key"),
        Example("jobctl keys rotate --yes", "Re-encrypt everything, unasked"),
    ),
    "metrics": (Example("jobctl metrics", "Counts and timings in the Prometheus text format"),),
    "monitor": (
        Example("jobctl monitor", "Evaluate the alert rules until Ctrl+C"),
        Example("jobctl monitor --once", "Evaluate them once, e.g. from cron"),
    ),
    "payments sandbox": (
        Example("jobctl payments sandbox --port 8765", "Fake Stripe, YooKassa and crypto APIs on port 8765"),
    ),
    "queue list": (
        Example("jobctl queue list", "The queues and their policies"),
        Example("jobctl queue list --json", "The same as JSON"),
    ),
    "queue pause": (
        Example(
            "jobctl queue pause email-sending", "Stop sending emails, e.g. while the mail provider is down"
        ),
    ),
    "queue resume": (Example("jobctl queue resume email-sending", "Send emails again"),),
    "queue show": (
        Example("jobctl queue show email-sending", "The first waiting email jobs"),
        Example(
            "jobctl queue show file-processing --state failed --limit 50 --offset 50",
            "The second page of failed file jobs",
        ),
    ),
    "referrals stats": (
        Example("jobctl referrals stats --limit 10", "The ten referrers who earned most"),
        Example("jobctl referrals stats --referrer 12 --json", "One referrer's numbers as JSON"),
    ),
    "report generate": (
        Example(
            "jobctl report generate daily --date 2026-11-30", "November 30th's report, made here and now"
        ),
        Example("jobctl report generate weekly --format csv --no-email", "Last week's CSV, mailed to nobody"),
    ),
    "report list": (
        Example("jobctl report list", "The reports made so far"),
        Example("jobctl report list --kind weekly --limit 5", "The last five weekly reports"),
    ),
    "retry": (
        Example("jobctl retry JOB_ID", "Give a failed or dead job a fresh set of attempts"),
        Example(
            "jobctl retry JOB_ID OTHER_JOB_ID --queue email-sending",
            "Two jobs, only if they are on email-sending",
        ),
    ),
    "schedule add": (
        Example(
            "jobctl schedule add nightly-report --cron '0 6 * * *' --tz Europe/Berlin --job daily-report",
            "The daily report every morning at 06:00 Berlin time",
        ),
        Example(
            "jobctl schedule add hourly-rollup --cron @hourly --job analytics -d type=hourly --missed skip",
            "Hourly analytics, skipping the hours missed while down",
        ),
    ),
    "schedule list": (
        Example("jobctl schedule list", "Every schedule and its next run"),
        Example("jobctl schedule list --json", "The same as JSON"),
    ),
    "schedule pause": (Example("jobctl schedule pause nightly-report", "Stop the nightly report for now"),),
    "schedule remove": (
        Example("jobctl schedule remove nightly-report --yes", "Delete a schedule, unasked"),
    ),
    "schedule resume": (Example("jobctl schedule resume nightly-report", "Run it again from its next time"),),
    "schedule run": (Example("jobctl schedule run nightly-report", "Enqueue its job now, once"),),
    "scheduler start": (
        Example("jobctl scheduler start", "Run the schedules until stopped"),
        Example("jobctl scheduler start --log-format json", "The same, logging one JSON object per line"),
    ),
    "scheduler status": (Example("jobctl scheduler status", "Which scheduler is active, and its lease"),),
    "serve": (
        Example("jobctl serve", "The HTTP API on its default address"),
        Example(
            "jobctl serve --host 0.0.0.0 --port 8080", "On every interface, port 8080 (needs API tokens)"
        ),
    ),
    "server start": (Example("jobctl server start", "Start the embedded Redis-compatible server"),),
    "server status": (
        Example("jobctl server status", "Is it running, and the URL other RQ tools take"),
        Example("jobctl server status --json", "The same as JSON"),
    ),
    "server stop": (Example("jobctl server stop", "Stop it; its data stays"),),
    "stats": (
        Example("jobctl stats", "Counts per queue and priority, workers, dead letters"),
        Example("jobctl stats --queue email-sending --watch", "Watch the email queue live"),
        Example(
            "jobctl stats --window 1h --json",
            "Also the last hour's outcomes, error rate and timings, as JSON",
        ),
    ),
    "token create": (
        Example("jobctl token create grafana --role viewer", "A read-only token for a dashboard"),
        Example("jobctl token create ci-deploy --role operator", "A token for a deploy pipeline"),
    ),
    "token list": (Example("jobctl token list", "Every token's name, role and creator"),),
    "token revoke": (Example("jobctl token revoke ci-deploy --yes", "Revoke a token, unasked"),),
    "worker list": (
        Example("jobctl worker list", "Workers, their state and current job"),
        Example("jobctl worker list --json", "The same as JSON"),
    ),
    "worker start": (
        Example(
            "jobctl worker start --queue email-sending --pool thread -c 8", "Send eight emails at a time"
        ),
        Example(
            "jobctl worker start -q file-processing -q analytics-aggregation --burst",
            "Work two queues until they are empty, then quit",
        ),
    ),
    "workers start": (
        Example("jobctl workers start", "One supervised worker per queue"),
        Example("jobctl workers start --concurrency 2 --log-format json", "Two jobs each, JSON logs"),
    ),
}


def command_key(ctx: Any) -> str:
    """The command's path below the root, as EXAMPLES is keyed: "dlq retry" (the root's own name
    varies: jobctl, python -m jobctl, a test runner's)."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names))


def write_examples(examples: tuple[Example, ...], formatter: Any) -> None:
    """An "Examples:" section, one comment line and one command line each, never rewrapped (a
    command line must stay whole to be copied)."""
    formatter.write_paragraph()
    formatter.write_heading("Examples")
    with formatter.indentation():
        for n, example in enumerate(examples):
            if n:
                formatter.write("\n")
            for line in (f"# {example.does}", example.command):
                formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
