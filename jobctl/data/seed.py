"""Realistic, reproducible sample data for the marketplace store (`jobctl db seed`, `jobctl demo`).

Everything comes from one `random.Random(seed)` and the start date: the same arguments give the
same rows, ids included, on SQLite and PostgreSQL alike. Timestamps are whole seconds, naive UTC,
all before the end of the window (start + days, 00:00), so nothing lies in the future of the data.

The shape, for analytics and reports to find something to say:
- users: a fifth signed up in the year before the window, the rest during it (weekdays busier,
  growing); ~30% were referred by an earlier user, a few "ambassadors" refer many and referred
  users refer others, so chains of 3+ levels exist; `referrals` mirrors `users.referred_by`;
- products: ~users/25 (10..400) in a few categories, sold by a quarter as many seller users,
  with skewed popularity; most exist before the window, some launch during it;
- page views: `views_per_day` on average (default 2 per user), in sessions of ~3 pages; weekends
  quieter, an hourly curve (UTC) that peaks in the evening, one promotion day, a growth trend;
  35% of sessions are logged-in users ("u<id>"), the rest anonymous visitors (16 hex digits),
  some of whom return; every sign-up in the window is a /signup view;
- orders: ~8% of logged-in sessions (~3% of all) end in /cart, /checkout and an order of 1-4
  items; 91% paid a few minutes later, 7% failed, 2% left pending; ~3% of paid ones are refunded
  within two weeks (if that falls inside the window); one payment per order, provider by country,
  with a provider ref the payment sandbox knows (see provider_ref: some failed ones decline again);
- commissions, analytics_aggregates and reports stay empty: other jobs compute them.
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from jobctl.data import schema
from jobctl.data.engine import begin_write
from jobctl.data.migrations import ensure_schema
from jobctl.errors import UsageError

# on_progress(done, total, stage): the convention of jobctl.core.progress (data never imports core)
Progress = Callable[[int, int | None, str], None]

BATCH_SIZE = 5_000
VIEWS_PER_USER_PER_DAY = 2
# the tables seeding writes, and the ones derived from them that would be wrong after a replace;
# reports are left alone: they record files already delivered
SEEDED = (
    schema.users,
    schema.products,
    schema.orders,
    schema.order_items,
    schema.payments,
    schema.page_views,
    schema.referrals,
)
CLEARED = (*SEEDED, schema.commissions, schema.analytics_aggregates)

DAY = 86_400
WEEKDAY_FACTOR = (1.0, 1.03, 1.02, 0.98, 0.92, 0.72, 0.78)  # Monday first
# relative traffic per hour (UTC), midnight first
HOURLY_WEEKDAY = (2, 1.5, 1.2, 1, 1, 1.3, 2, 3, 4, 5, 5.5, 6, 6, 6, 6.2, 6.5, 7, 7.5, 8, 8.5, 8, 7, 5, 3)
HOURLY_WEEKEND = (
    3,
    2.5,
    2,
    1.5,
    1.2,
    1,
    1.2,
    1.8,
    2.5,
    3.5,
    4.5,
    5.5,
    6,
    6.5,
    6.5,
    6.5,
    6.5,
    7,
    7,
    7,
    6.5,
    6,
    5,
    4,
)
GROWTH = 0.25  # the last day of the window is this much busier than the first
PROMO_FACTOR = 1.7
LOGGED_IN_SHARE = 0.35
RETURNING_ANON_SHARE = 0.45
CONVERSION_LOGGED_IN = 0.08
REFERRED_SHARE = 0.30
AMBASSADOR_SHARE = 0.03
SIGNED_UP_BEFORE_SHARE = 0.20
REFUND_SHARE = 0.03

COUNTRIES = {
    "US": 30,
    "GB": 9,
    "DE": 9,
    "FR": 6,
    "RU": 8,
    "BR": 6,
    "IN": 7,
    "CA": 4,
    "NL": 3,
    "ES": 4,
    "PL": 3,
    "KZ": 2,
    "TR": 3,
    "JP": 3,
    "AU": 3,
}
FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Sophie",
    "Olga",
    "Ivan",
    "Maria",
    "Chen",
    "Priya",
    "Lucas",
    "Amara",
    "Yuki",
    "Fatima",
    "Mateo",
    "Noor",
    "Elena",
    "Omar",
    "Hana",
    "Diego",
    "Zoe",
    "Arjun",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Wilson",
    "Petrova",
    "Ivanov",
    "Garcia",
    "Wei",
    "Sharma",
    "Silva",
    "Okafor",
    "Tanaka",
    "Khan",
    "Rossi",
    "Haddad",
    "Kim",
    "Lopez",
    "Novak",
    "Patel",
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
# category: (weight, cheapest, dearest in whole currency units, nouns)
CATEGORIES = {
    "templates": (
        30,
        9,
        79,
        ("Landing Page Kit", "Invoice Template", "Pitch Deck", "Notion Planner", "Resume Set"),
    ),
    "fonts": (12, 15, 120, ("Serif Family", "Display Font", "Handwritten Script", "Mono Typeface")),
    "graphics": (22, 5, 49, ("Icon Pack", "Illustration Bundle", "Texture Set", "Mockup Scene", "Brush Set")),
    "courses": (
        14,
        29,
        299,
        ("Course: SQL for Analysts", "Course: Product Photography", "Masterclass", "Workshop Recording"),
    ),
    "audio": (10, 4, 59, ("Lo-fi Loop Pack", "Sound Effects Library", "Podcast Intro", "Ambient Tracks")),
    "software": (12, 19, 199, ("Figma Plugin", "WordPress Theme", "CLI Toolkit", "Browser Extension")),
}
ADJECTIVES = (
    "Minimal",
    "Bold",
    "Retro",
    "Clean",
    "Pro",
    "Essential",
    "Modern",
    "Vintage",
    "Ultimate",
    "Cozy",
    "Neon",
    "Nordic",
    "Studio",
    "Pixel",
    "Organic",
)
FAILURE_REASONS = {
    "card_declined": 45,
    "insufficient_funds": 30,
    "expired_card": 10,
    "processing_error": 10,
    "fraud_suspected": 5,
}
# a failed payment with one of these reasons is declined again when retried (its ref says so to the
# payment sandbox); the others go through (another try, a new card, a passing outage)
DECLINED_AGAIN = ("insufficient_funds", "fraud_suspected")
REF_PREFIX = {"stripe": "pi_seed_", "yookassa": "pm_seed_", "crypto": "inv_seed_"}
PROVIDERS_DEFAULT = {"stripe": 78, "yookassa": 7, "crypto": 15}
PROVIDERS_CIS = {"yookassa": 85, "stripe": 5, "crypto": 10}
CIS = {"RU", "KZ"}


def provider_ref(provider: str, payment_id: int, failure_reason: str | None = None) -> str:
    """The payment's id at its provider (a Stripe PaymentIntent, a YooKassa saved payment method, a
    crypto invoice), as checkout would have stored it. The payment sandbox (jobs/payments/sandbox.py)
    charges these; one ending in `_decline_<reason>` it declines with that reason, every time."""
    ref = f"{REF_PREFIX[provider]}{payment_id}"
    return f"{ref}_decline_{failure_reason}" if failure_reason in DECLINED_AGAIN else ref


def default_start(days: int, today: date | None = None) -> date:
    """The window ends with yesterday (UTC): today minus `days`."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days)


def default_views_per_day(users: int) -> int:
    return VIEWS_PER_USER_PER_DAY * users


def row_counts(engine: Engine) -> dict[str, int | None]:
    """Rows per marketplace table; None for a table that does not exist yet (not migrated)."""
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        return {
            t.name: (conn.scalar(select(func.count()).select_from(t)) if t.name in present else None)
            for t in schema.TABLES
        }


def seed(
    engine: Engine,
    *,
    days: int = 60,
    users: int = 5000,
    seed: int = 42,
    start: date | None = None,
    views_per_day: int | None = None,
    replace: bool = False,
    on_progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Fill an empty store with sample data in one transaction; returns rows written per table.

    Migrates first if needed (in its own transactions). Raises UsageError (nothing written) when a
    seeded table already holds rows, unless `replace`, which first empties those tables and the ones
    derived from them (commissions, aggregates; not reports, which record files already delivered).
    """
    if not 1 <= days <= 3660:
        raise UsageError(f"days must be between 1 and 3660, got {days}", "e.g. --days 60")
    if not 10 <= users <= 10_000_000:
        raise UsageError(f"users must be between 10 and 10000000, got {users}", "e.g. --users 5000")
    if views_per_day is not None and not 0 <= views_per_day <= 10_000_000:
        raise UsageError(
            f"views per day must be between 0 and 10000000, got {views_per_day}",
            "e.g. --views-per-day 100000",
        )
    start = start or default_start(days)
    report = on_progress or (lambda done, total, stage: None)
    if views_per_day is None:
        views_per_day = default_views_per_day(users)
    generator = _Generator(days=days, users=users, seed=seed, start=start, views_per_day=views_per_day)
    ensure_schema(engine)
    with begin_write(engine) as conn:
        existing = _existing(conn)
        if not replace:
            refuse_existing(existing)
        if existing:
            _clear(conn)
        writer = _Writer(conn, batch_size)
        generator.run(writer, report)
        writer.flush()
        _advance_sequences(conn)
    return writer.counts


def existing_data(engine: Engine) -> dict[str, int]:
    """Rows per table that seeding would write over (only the tables holding some)."""
    with engine.connect() as conn:
        return _existing(conn)


def refuse_existing(existing: dict[str, int]) -> None:
    """The refusal `seed` raises without `replace`, for callers that check before starting."""
    if existing:
        listed = ", ".join(f"{name}: {n:,}" for name, n in existing.items())
        raise UsageError(
            f"the database already holds data ({listed})",
            "pass --replace to delete it and seed again, or use another DATABASE_URL",
        )


def _existing(conn: Connection) -> dict[str, int]:
    counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in CLEARED}
    return {name: n for name, n in counts.items() if n}


def _clear(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # one TRUNCATE: no per-row foreign-key checks, and ids restart at 1 like on a fresh store
        names = ", ".join(t.name for t in CLEARED)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        return
    for table in reversed(CLEARED):
        conn.execute(table.delete())


def _advance_sequences(conn: Connection) -> None:
    """Rows were written with explicit ids; PostgreSQL's sequences must move past them."""
    if conn.dialect.name != "postgresql":
        return  # SQLite numbers new rows max(id) + 1
    for table in SEEDED:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), MAX(id)) "
                f"FROM {table.name} HAVING MAX(id) IS NOT NULL"
            )
        )


class _Writer:
    """Buffers rows per table and inserts them in executemany batches, parents before children."""

    ORDER = (
        schema.users,
        schema.referrals,
        schema.products,
        schema.orders,
        schema.order_items,
        schema.payments,
        schema.page_views,
    )

    def __init__(self, conn: Connection, batch_size: int):
        self.conn = conn
        self.batch_size = batch_size
        self.buffers: dict[str, list[dict]] = {t.name: [] for t in self.ORDER}
        self.counts: dict[str, int] = {t.name: 0 for t in self.ORDER}

    def add(self, table_name: str, row: dict) -> None:
        buffer = self.buffers[table_name]
        buffer.append(row)
        if len(buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        for table in self.ORDER:
            rows = self.buffers[table.name]
            if rows:
                self.conn.execute(insert(table), rows)
                self.counts[table.name] += len(rows)
                rows.clear()


def _cumulative(weights) -> list[float]:
    return list(itertools.accumulate(weights))


class _Generator:
    def __init__(self, *, days: int, users: int, seed: int, start: date, views_per_day: int):
        self.days, self.n_users, self.views_per_day = days, users, views_per_day
        self.rng = random.Random(seed)
        self.t0 = datetime(start.year, start.month, start.day)
        self.end = days * DAY  # seconds after t0; every timestamp is below it
        self.start = start
        self.country_names, self.country_cum = list(COUNTRIES), _cumulative(COUNTRIES.values())

    def at(self, offset: int) -> datetime:
        return self.t0 + timedelta(seconds=offset)

    def pick(self, names: list, cum: list[float], hi: int | None = None):
        """A weighted choice among names[:hi] (cum holds the running totals of the weights)."""
        hi = len(cum) if hi is None else hi
        return names[bisect.bisect_right(cum, self.rng.random() * cum[hi - 1], 0, hi - 1)]

    def run(self, out: _Writer, report: Progress) -> None:
        self.make_users(out, report)
        self.make_products(out, report)
        self.make_activity(out, report)

    # -- users and referrals

    def day_weights(self) -> list[float]:
        return [
            WEEKDAY_FACTOR[(self.start + timedelta(days=d)).weekday()] * (1 + GROWTH * d / self.days)
            for d in range(self.days)
        ]

    def hour_cums(self) -> tuple[list[float], list[float]]:
        return _cumulative(HOURLY_WEEKDAY), _cumulative(HOURLY_WEEKEND)

    def make_users(self, out: _Writer, report: Progress) -> None:
        rng, n = self.rng, self.n_users
        n_before = round(n * SIGNED_UP_BEFORE_SHARE)
        offsets = [-rng.randrange(1, 365 * DAY) for _ in range(n_before)]
        weekday_cum, weekend_cum = self.hour_cums()
        hours = list(range(24))
        for day in rng.choices(range(self.days), weights=self.day_weights(), k=n - n_before):
            weekend = (self.start + timedelta(days=day)).weekday() >= 5
            hour = self.pick(hours, weekend_cum if weekend else weekday_cum)
            offsets.append(day * DAY + hour * 3600 + rng.randrange(3600))
        offsets.sort()  # ids grow with sign-up time, as they would have
        self.signups = offsets
        self.countries: list[str] = []
        self.referred_by: list[int | None] = [None] * n
        ambassadors: list[int] = []
        referred: list[int] = []
        for i in range(n):
            uid = i + 1
            country = self.pick(self.country_names, self.country_cum)
            self.countries.append(country)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            referrer = None
            if i >= 5 and rng.random() < REFERRED_SHARE:
                r = rng.random()
                if r < 0.35 and ambassadors:
                    referrer = rng.choice(ambassadors)
                elif r < 0.65 and referred:
                    referrer = rng.choice(referred)  # referred users refer others: chains
                else:
                    referrer = rng.randrange(1, uid)
                self.referred_by[i] = referrer
                referred.append(uid)
            if rng.random() < AMBASSADOR_SHARE:
                ambassadors.append(uid)
            created_at = self.at(offsets[i])
            out.add(
                "users",
                {
                    "id": uid,
                    "email": f"{first}.{last}.{uid}@{rng.choice(EMAIL_DOMAINS)}".lower(),
                    "name": f"{first} {last}",
                    "country": country,
                    "created_at": created_at,
                    "referred_by": referrer,
                },
            )
            if referrer is not None:
                out.add(
                    "referrals",
                    {
                        "id": len(referred),
                        "referrer_id": referrer,
                        "referred_id": uid,
                        "created_at": created_at,
                    },
                )
            if uid % 1000 == 0 or uid == n:
                report(uid, n, "users")
        # a few heavy buyers, most occasional: logged-in sessions pick users by this weight
        self.activity_cum = _cumulative(rng.lognormvariate(0, 1) for _ in range(n))

    # -- products

    def make_products(self, out: _Writer, report: Progress) -> None:
        rng = self.rng
        n = max(10, min(400, round(self.n_users / 25)))
        early = max(10, sum(1 for s in self.signups if s < 0))  # sellers come from the early users
        sellers = rng.sample(range(1, min(early, self.n_users) + 1), max(3, min(n // 4, early)))
        categories = list(CATEGORIES)
        category_cum = _cumulative(c[0] for c in CATEGORIES.values())
        drafts = []
        for _ in range(n):
            seller = rng.choice(sellers)
            category = self.pick(categories, category_cum)
            _, cheapest, dearest, nouns = CATEGORIES[category]
            price = int(rng.triangular(cheapest, dearest, cheapest + (dearest - cheapest) * 0.2))
            cents = price * 100 + rng.choice((0, 0, 99, 99, 99, 49))
            seller_since = self.signups[seller - 1]
            if rng.random() < 0.85:  # on sale before the window
                created = rng.randrange(-300 * DAY, 0)
            else:
                created = rng.randrange(0, max(1, int(self.end * 0.8)))
            created = max(created, seller_since + rng.randrange(3600, 30 * DAY))
            drafts.append(
                {
                    "name": f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}",
                    "category": category,
                    "price_cents": cents,
                    "seller_id": seller,
                    "created": min(created, self.end - 1),
                    "popularity": rng.lognormvariate(0, 1.1),
                }
            )
        drafts.sort(key=lambda d: d["created"])
        self.product_created = [d["created"] for d in drafts]
        self.product_prices = [d["price_cents"] for d in drafts]
        self.product_categories = [d["category"] for d in drafts]
        self.product_cum = _cumulative(d["popularity"] for d in drafts)
        for pid, d in enumerate(drafts, start=1):
            out.add(
                "products",
                {
                    "id": pid,
                    "name": d["name"],
                    "category": d["category"],
                    "price_cents": d["price_cents"],
                    "seller_id": d["seller_id"],
                    "created_at": self.at(d["created"]),
                },
            )
        report(n, n, "products")

    # -- page views, orders, payments

    def make_activity(self, out: _Writer, report: Progress) -> None:
        rng = self.rng
        self.view_id = self.order_id = self.item_id = 0
        self.anonymous: list[str] = []
        self.anonymous_cap = max(1000, self.views_per_day)
        self.out = out
        weekday_cum, weekend_cum = self.hour_cums()
        day_weights = self.day_weights()
        mean_weight = sum(day_weights) / len(day_weights)
        promo_day = rng.randrange(self.days) if self.days >= 7 else -1
        hours = list(range(24))
        signup_index = bisect.bisect_left(self.signups, 0)
        for day in range(self.days):
            day_start = day * DAY
            weekend = (self.start + timedelta(days=day)).weekday() >= 5
            hour_cum = weekend_cum if weekend else weekday_cum
            factor = day_weights[day] / mean_weight * max(0.5, rng.gauss(1, 0.06))
            if day == promo_day:
                factor *= PROMO_FACTOR
            target = int(self.views_per_day * factor)
            users_known = bisect.bisect_left(self.signups, day_start)  # signed up before today
            products_live = bisect.bisect_left(self.product_created, day_start)
            while signup_index < self.n_users and self.signups[signup_index] < day_start + DAY:
                uid = signup_index + 1
                self.view(f"u{uid}", uid, "/signup", None, self.signups[signup_index])
                signup_index += 1
            views = 0
            while views < target:
                begin = day_start + self.pick(hours, hour_cum) * 3600 + rng.randrange(3600)
                views += self.session(begin, users_known, products_live)
            report(day + 1, self.days, "activity")

    def view(self, visitor: str, user_id: int | None, path: str, product_id: int | None, at: int) -> None:
        self.view_id += 1
        self.out.add(
            "page_views",
            {
                "id": self.view_id,
                "visitor_id": visitor,
                "user_id": user_id,
                "path": path,
                "product_id": product_id,
                "occurred_at": self.at(at),
            },
        )

    def visitor(self, users_known: int) -> tuple[str, int | None]:
        rng = self.rng
        if users_known and rng.random() < LOGGED_IN_SHARE:
            uid = (
                bisect.bisect_right(
                    self.activity_cum, rng.random() * self.activity_cum[users_known - 1], 0, users_known - 1
                )
                + 1
            )
            return f"u{uid}", uid
        if self.anonymous and rng.random() < RETURNING_ANON_SHARE:
            return rng.choice(self.anonymous), None
        visitor = f"{rng.getrandbits(64):016x}"
        if len(self.anonymous) < self.anonymous_cap:
            self.anonymous.append(visitor)
        else:
            self.anonymous[rng.randrange(self.anonymous_cap)] = visitor
        return visitor, None

    def popular_product(self, products_live: int) -> int:
        """A product id among those on sale, weighted by popularity."""
        x = self.rng.random() * self.product_cum[products_live - 1]
        return bisect.bisect_right(self.product_cum, x, 0, products_live - 1) + 1

    def page(self, products_live: int, landing: bool) -> tuple[str, int | None]:
        r = self.rng.random()
        if products_live and r < (0.5 if landing else 0.6):
            pid = self.popular_product(products_live)
            return f"/p/{pid}", pid
        if r < 0.75:
            return ("/" if landing else f"/c/{self.rng.choice(list(CATEGORIES))}"), None
        if r < 0.9:
            return f"/c/{self.rng.choice(list(CATEGORIES))}", None
        return "/search", None

    def session(self, at: int, users_known: int, products_live: int) -> int:
        """One visit: a few pages, sometimes ending in an order. Returns the views it made."""
        rng = self.rng
        visitor, uid = self.visitor(users_known)
        pages = 1 + min(int(rng.expovariate(0.5)), 15)
        seen: dict[int, None] = {}
        made = 0
        for n in range(pages):
            if at >= self.end:
                return made
            path, pid = self.page(products_live, landing=n == 0)
            self.view(visitor, uid, path, pid, at)
            made += 1
            if pid:
                seen[pid] = None
            at += 5 + int(rng.expovariate(1 / 40))
        if uid is None or not products_live or rng.random() >= CONVERSION_LOGGED_IN:
            return made
        if at + 60 >= self.end:
            return made
        self.view(visitor, uid, "/cart", None, at)
        at += 10 + rng.randrange(50)
        self.view(visitor, uid, "/checkout", None, at)
        self.order(uid, at, list(seen), products_live)
        return made + 2

    def order(self, uid: int, at: int, seen: list[int], products_live: int) -> None:
        rng = self.rng
        self.order_id += 1
        order_id = self.order_id
        wanted = rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]
        chosen = dict.fromkeys(seen[:wanted])
        for _ in range(10):
            if len(chosen) >= wanted:
                break
            chosen[self.popular_product(products_live)] = None
        items = []
        for pid in chosen:
            quantity = rng.choices((1, 2, 3), weights=(90, 8, 2))[0]
            items.append((pid, quantity, self.product_prices[pid - 1]))
        total = sum(q * price for _, q, price in items)

        r = rng.random()
        status = "failed" if r < 0.07 else "pending" if r < 0.09 else "paid"
        paid_at = refunded_at = None
        failure_reason = None
        attempts = 1
        updated = at
        if status == "paid":
            paid = at + 20 + min(int(rng.expovariate(1 / 90)), 580)
            attempts = 2 if rng.random() < 0.1 else 1  # a declined card, then a good one
            refund_after = rng.randrange(3600, 14 * DAY) if rng.random() < REFUND_SHARE else None
            if paid >= self.end:
                status = "pending"  # still being paid when the window closes
            else:
                paid_at = updated = paid
                if refund_after is not None and paid + refund_after < self.end:
                    status, refunded_at = "refunded", paid + refund_after
                    updated = refunded_at
        elif status == "failed":
            failure_reason = self.pick(list(FAILURE_REASONS), _cumulative(FAILURE_REASONS.values()))
            attempts = rng.choice((1, 1, 2, 3))
            updated = min(at + 30 + rng.randrange(300), self.end - 1)
        else:
            attempts = rng.choice((0, 1))
        providers = PROVIDERS_CIS if self.countries[uid - 1] in CIS else PROVIDERS_DEFAULT
        provider = self.pick(list(providers), _cumulative(providers.values()))

        self.out.add(
            "orders",
            {
                "id": order_id,
                "user_id": uid,
                "status": status,
                "total_cents": total,
                "currency": "USD",
                "created_at": self.at(at),
                "paid_at": self.at(paid_at) if paid_at is not None else None,
                "refunded_at": self.at(refunded_at) if refunded_at is not None else None,
            },
        )
        for pid, quantity, price in items:
            self.item_id += 1
            self.out.add(
                "order_items",
                {
                    "id": self.item_id,
                    "order_id": order_id,
                    "product_id": pid,
                    "quantity": quantity,
                    "unit_price_cents": price,
                },
            )
        self.out.add(
            "payments",
            {
                "id": order_id,
                "order_id": order_id,
                "provider": provider,
                "amount_cents": total,
                "currency": "USD",
                "status": status,
                "attempts": attempts,
                "idempotency_key": f"seed-{order_id}",
                "failure_reason": failure_reason,
                "provider_ref": provider_ref(provider, order_id, failure_reason),
                "created_at": self.at(at),
                "updated_at": self.at(updated),
            },
        )


def timed_seed(engine: Engine, **kwargs) -> dict:
    """seed() plus how long it took: {"counts", "rows", "seconds", "rows_per_second"}."""
    started = time.perf_counter()
    counts = seed(engine, **kwargs)
    seconds = time.perf_counter() - started
    rows = sum(counts.values())
    return {
        "counts": counts,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else rows,
    }
