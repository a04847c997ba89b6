"""EmailRows (bulk payloads) must agree with prepare_email_payload on every row: result or error message."""

from __future__ import annotations

import contextlib
import json
import random
import timeit

import pytest

from jobctl.config import load_settings
from jobctl.errors import UsageError
from jobctl.jobs.email import prepare_email_payload
from jobctl.jobs.email.addresses import normalize_address, normalize_recipients, plain_address
from jobctl.jobs.email.bulk import PLAIN_LINK_RE, EmailRows
from jobctl.jobs.email.filters import link
from jobctl.jobs.email.recipients import iter_recipients_csv, read_recipients_csv
from jobctl.jobs.template_names import template_names
from tests.servers import SAMPLE_DATA

# Values that trip one check or another: blanks, bad links, bad amounts, odd types, unicode, big numbers.
ODD_VALUES = [
    "",
    "   ",
    "0",
    "x",
    "Ünïcødé 😀 <b>&amp;</b>",
    "https://shop.example.com/p?a=1&b=2",
    "  HTTPS://shop.example.com/  ",
    "mailto:ada@example.com",
    "javascript:alert(1)",
    "ftp://files.example.com/x",
    "http://[::1",
    "shop.example.com/no-scheme",
    "12.5",
    " -3 ",
    "1e30",
    "1e-30",
    "NaN",
    "Infinity",
    "abc",
    "12,50",
    "firing",
    "resolved",
    "line one\n\nline two",
    0,
    1,
    -7.25,
    10**40,
    True,
    False,
    None,
    [],
    ["a", "b"],
    [{"name": "x", "quantity": 1, "unit_price": "2"}],
    {},
    {"a": 1},
]
ADDRESSES = [
    "ada@example.com",
    "Ada.Lovelace+tag@Mail.Example.CO.UK",
    "Ada <ada@example.com>",
    '"Lovelace, Ada" <ada@example.com>, bob@example.org',
    "jo@bücher.example",
    "jo@xn--bcher-kva.example",
    "ada@example",
    "ada@@example.com",
    "a..b@example.com",
    "ada@-example.com",
    "ada@example.c0m",
    "ada@example.xn--",
    "a" * 65 + "@example.com",
    "a@" + "b" * 64 + ".com",
    " ada@example.com ",
    "ada @example.com",
    "",
    "ada@example.com\n",
    ["ada@example.com", "ADA@example.com"],
    [],
    42,
]


def outcome(call, *args, **kwargs):
    try:
        return ("ok", call(*args, **kwargs))
    except UsageError as exc:
        return ("error", exc.message, exc.hint)


def rows_for(base: dict, rng: random.Random, count: int) -> list[tuple[dict, dict]]:
    """(shared, row) pairs around valid data: one or two keys changed, dropped or added."""
    keys = sorted(base)
    out = [({}, dict(base)), (dict(base), {}), (dict(base), {"extra": "column"})]
    for key in keys:
        out.append(({k: v for k, v in base.items() if k != key}, {}))  # missing variable
        for value in ODD_VALUES:
            out.append(({k: v for k, v in base.items() if k != key}, {key: value}))
    while len(out) < count:
        split = set(rng.sample(keys, rng.randint(0, len(keys))))
        shared = {k: v for k, v in base.items() if k in split}
        row = {k: v for k, v in base.items() if k not in split}
        for key in rng.sample(keys, rng.randint(1, min(3, len(keys)))):
            if rng.random() < 0.15:
                shared.pop(key, None)
                row.pop(key, None)
            else:
                row[key] = rng.choice(ODD_VALUES)
        if rng.random() < 0.2:
            row["brand"] = rng.choice(["Shop", "", 3])
        out.append((shared, row))
    return out


def agree(settings, template: str, pairs, addresses=("ada@example.com",), **options) -> int:
    """Assert that EmailRows and prepare_email_payload agree on every (shared, row); returns #errors."""
    errors = 0
    cache: dict[str, EmailRows] = {}
    for n, (shared, row) in enumerate(pairs):
        key = json.dumps(shared, sort_keys=True)
        if key not in cache:
            cache[key] = EmailRows(settings, template, shared, **options)
        to = addresses[n % len(addresses)]
        data = {**shared, **row}
        expected = outcome(prepare_email_payload, settings, to=to, template=template, data=data, **options)
        got = outcome(cache[key].payload, to, row)
        assert got == expected, (template, shared, row, to)
        if got[0] == "ok":
            assert json.dumps(got[1]) == json.dumps(expected[1])  # same key order too
        errors += got[0] == "error"
    return errors


@pytest.mark.parametrize("template", sorted(SAMPLE_DATA))
def test_rows_agree_with_prepare_email_payload(settings, sample_data, template):
    pairs = rows_for(sample_data[template], random.Random(template), 600)
    errors = agree(settings, template, pairs, ADDRESSES[:2])
    assert 0 < errors < len(pairs)  # both outcomes were exercised


def test_every_built_in_template_is_covered(settings, sample_data):
    assert sorted(sample_data) == template_names(settings)


def test_fast_path_is_taken_where_it_can_be_proven(settings, sample_data):
    slow = {name for name in template_names(settings) if not EmailRows(settings, name, {}).fast}
    # admin-report loops over a list and joins files; order-confirmation computes totals;
    # alert-rule tests `value is none`
    assert slow == {"admin-report", "alert-rule", "order-confirmation"}


def test_addresses_agree(settings, sample_data):
    data = sample_data["welcome"]
    rows = EmailRows(settings, "welcome", data)
    for to in ADDRESSES:
        expected = outcome(prepare_email_payload, settings, to=to, template="welcome", data=data)
        assert outcome(rows.payload, to, {}) == expected, to


def test_plain_address_is_normalize_address_or_none():
    rng = random.Random(7)
    alphabet = "aZ09.-_+@@..xn--ü \"<>,'"
    samples = [*(a for a in ADDRESSES if isinstance(a, str))]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(20000)]
    pieces = ["a", "Z", "0", "-", ".", "+", "_", "é", "xn--", "", " "]
    weights = [30, 10, 10, 2, 1, 1, 1, 0.3, 0.3, 1, 0.2]

    def part(n: int) -> str:
        return "".join(rng.choices(pieces, weights, k=rng.randint(0, n)))

    for _ in range(20000):
        labels = [part(4) for _ in range(rng.randint(1, 3))]
        samples.append(
            f"{part(5)}@{'.'.join(labels)}.{rng.choice(['com', 'c', 'co1', 'xn--p1ai', 'xn--', part(3)])}"
        )
    samples += ["a" * 64 + "@example.com", "a@" + "b." * 120 + "com", "a" * 63 + "@" + "b" * 63 + ".com"]
    fast = slow = 0
    for raw in samples:
        plain = plain_address(raw)
        if plain is not None:
            fast += 1
            assert plain == normalize_address(raw), raw
        elif raw.isascii() and "<" not in raw:
            with contextlib.suppress(UsageError):
                slow += normalize_address(raw) == raw.rsplit("@")[0] + "@" + raw.rsplit("@")[-1].lower()
    assert fast > 2000 and slow == 0, (fast, slow)  # taken often, always agreed, rarely missed


def test_shared_problems_are_raised_once_up_front(settings, sample_data, tmp_path):
    data = sample_data["welcome"]
    with pytest.raises(UsageError, match="unknown email template 'nope'"):
        EmailRows(settings, "nope", data)
    with pytest.raises(UsageError, match="is not JSON-serialisable"):
        EmailRows(settings, "welcome", {"x": {1, 2}})
    with pytest.raises(UsageError, match="subject must be one line"):
        EmailRows(settings, "welcome", data, subject="a\nb")
    with pytest.raises(UsageError, match="does not exist"):
        EmailRows(settings, "welcome", data, attachments=[tmp_path / "missing.pdf"])


def test_subject_and_attachments_are_in_every_payload(settings, sample_data, tmp_path):
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    options = {"subject": "  Spring   sale ", "attachments": [pdf]}
    pairs = rows_for(sample_data["marketing-campaign"], random.Random(3), 150)
    agree(settings, "marketing-campaign", pairs, **options)
    rows = EmailRows(settings, "marketing-campaign", sample_data["marketing-campaign"], **options)
    one, two = rows.payload("a@example.com", {}), rows.payload("b@example.com", {})
    assert one["attachments"] == two["attachments"] and one["attachments"] is not two["attachments"]


def test_nested_shared_data_is_not_shared_between_payloads(settings, sample_data):
    rows = EmailRows(settings, "marketing-campaign", {**sample_data["marketing-campaign"], "tags": ["a"]})
    one, two = rows.payload("a@example.com", {"name": "A"}), rows.payload("b@example.com", {"name": "B"})
    assert one["data"]["tags"] == two["data"]["tags"] == ["a"]
    assert one["data"]["tags"] is not two["data"]["tags"]


def test_oversized_rows_are_refused_like_prepare(settings, sample_data):
    base = sample_data["welcome"]
    pairs = [(base, {"blob": "x" * 300_000}), (base, {"blob": "é" * 30_000}), (base, {"blob": "😀" * 25_000})]
    assert agree(settings, "welcome", pairs) == 2  # 30,000 é is 180,000 bytes of JSON: still fits


CUSTOM = {
    # a check guarded by the truthiness of a variable: replayed per truthiness combination
    "guarded.subject.txt": "{{ title }}",
    "guarded.txt": "{% if url %}{{ url | link }}{% elif alt %}{{ alt | link }}{% else %}none{% endif %}\n"
    "{{ amount | money(currency) }} {{ 'cheap' if cheap else (fee | decimal) }}\n",
    # a local macro (sees the context) and an include
    "local.subject.txt": "{{ brand }}: {{ title }}",
    "local.txt": "{% macro row(v) %}{{ v | link }} {{ other }}{% endmacro %}{{ row(url) }}\n"
    '{% include "_part.txt" %}',
    "_part.txt": "{{ part | trim | upper }} {{ (part ~ '!') }} {{ part == 'x' and other != 'y' }}\n",
    # a check whose guard depends on a value: only the full render can tell
    "valued.subject.txt": "Hi",
    "valued.txt": "{% if kind == 'a' %}{{ url | link }}{% endif %}\n",
    # things the walk refuses: optional variables, computed links, set, loops over data
    "optional.subject.txt": "Hi {{ name }}",
    "optional.txt": "{{ name | default('you') }} {% if url is defined %}{{ url | link }}{% endif %}\n",
    "computed.subject.txt": "Hi",
    "computed.txt": "{{ (base ~ '/x') | link }}\n",
    "looped.subject.txt": "Hi",
    "looped.txt": "{% for u in urls %}{{ u | link }}{% endfor %}\n",
    "blank.subject.txt": "{% if title %}{{ title }}{% endif %}",
    # str methods with arguments that raise, includes and blocks inside loops: refused
    "methods.subject.txt": "Hi",
    "methods.txt": "{% for w in (part | string).split('') %}{{ w }}{% endfor %}{{ url | link }}\n",
    "inloop.subject.txt": "Hi",
    "inloop.txt": '{% for w in (part | string).split() %}{% include "_part.txt" %}{% endfor %}'
    "{{ url | link }}\n",
    "blank.txt": "{{ url | link }}\n",
}
CUSTOM_BASE = {
    "title": "T",
    "url": "https://example.com",
    "alt": "mailto:a@example.com",
    "amount": "9.99",
    "currency": "EUR",
    "cheap": "",
    "fee": "1.5",
    "other": "o",
    "part": " p ",
    "kind": "a",
    "name": "Ada",
    "base": "https://example.com",
    "urls": ["https://a.example.com"],
}


def test_custom_templates_agree(tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, text in CUSTOM.items():
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(folder))
    settings = load_settings()
    fast = {}
    for template in (
        "guarded",
        "local",
        "valued",
        "optional",
        "computed",
        "looped",
        "blank",
        "methods",
        "inloop",
    ):
        fast[template] = EmailRows(settings, template, {}).fast
        pairs = rows_for(CUSTOM_BASE, random.Random(template), 700)
        agree(settings, template, pairs)
    assert fast == {
        "guarded": True,
        "local": True,
        "valued": False,
        "optional": False,
        "computed": False,
        "looped": False,
        "blank": True,
        "methods": False,
        "inloop": False,
    }
    guarded = EmailRows(settings, "guarded", CUSTOM_BASE)
    guarded.payload("a@example.com", {"url": "", "alt": ""})
    guarded.payload("a@example.com", {})
    assert len(guarded.replays) == 2  # one probe per truthiness combination of url, alt and cheap


def test_templates_overridden_in_a_custom_folder_agree(tmp_path, monkeypatch, sample_data):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "marketing-campaign.txt").write_text(
        "{{ headline }} {{ cta_url | link }} "
        "{% for w in (body | string).split() %}{{ w | upper }}{% endfor %}\n"
    )
    (folder / "_button.html").write_text(
        '{% macro button(url, label) %}<a href="{{ url }}">{{ label }}</a>{% endmacro %}'
    )
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(folder))
    settings = load_settings()
    assert EmailRows(settings, "marketing-campaign", {}).fast
    agree(settings, "marketing-campaign", rows_for(sample_data["marketing-campaign"], random.Random(5), 400))


def test_csv_addresses_need_no_second_parse(tmp_path, settings, sample_data):
    path = tmp_path / "people.csv"
    addresses = [
        "ada@Example.COM",
        "Bob <bob@example.org>",
        '"Doe, Jane" <jane@example.com>',
        "jo@bücher.example",
    ]
    path.write_text(
        "email,name\n"
        + "".join(f'"{a.replace(chr(34), chr(34) * 2)}",N{n}\n' for n, a in enumerate(addresses))
    )
    rows = EmailRows(settings, "welcome", {"login_url": "https://example.com"})
    for line, address, data in iter_recipients_csv(path):
        assert normalize_recipients(address) == [address]
        checked = rows.payload(address, data, checked_address=True)
        assert checked == rows.payload(address, data)
        assert checked == prepare_email_payload(
            settings,
            to=addresses[line - 2],
            template="welcome",
            data={"login_url": "https://example.com", **data},
        )


def test_iter_recipients_csv_streams_and_names_lines(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("email,name\n")
        for n in range(5000):
            fh.write(f"user{n}@example.com,User {n}\n")
        fh.write("not-an-address,Bad\n")
    rows = iter_recipients_csv(path)
    assert next(rows) == (2, "user0@example.com", {"name": "User 0"})  # nothing read ahead of need
    with pytest.raises(UsageError, match=r"line 5002: invalid email address 'not-an-address'"):
        for _ in rows:
            pass
    with pytest.raises(UsageError, match=r"line 5002: invalid email address 'not-an-address'"):
        read_recipients_csv(path)


def test_marketing_rows_are_fast(settings, sample_data):
    """A printed figure, not a benchmark: µs per 3-column CSV row (email, name, unsubscribe_url)."""
    base = sample_data["marketing-campaign"]
    shared = {k: v for k, v in base.items() if k not in ("name", "unsubscribe_url")}
    rows = EmailRows(settings, "marketing-campaign", shared)
    data = [
        (f"user{n}@example.com", {"name": f"User {n}", "unsubscribe_url": f"https://e.example.com/u/{n}"})
        for n in range(2000)
    ]
    fast = min(timeit.repeat(lambda: [rows.payload(to, row) for to, row in data], number=1, repeat=3))
    full = min(
        timeit.repeat(
            lambda: [
                prepare_email_payload(settings, to=to, template="marketing-campaign", data={**shared, **row})
                for to, row in data[:100]
            ],
            number=1,
            repeat=2,
        )
    )
    per_row, per_full = fast / len(data) * 1e6, full / 100 * 1e6
    print(f"\nEmailRows.payload {per_row:.1f} us/row, prepare_email_payload {per_full:.0f} us/row")
    assert per_row * 5 < per_full  # generous: measured ~20x apart on a noisy 2-core machine


def test_plain_links_are_links_the_filter_accepts():
    rng = random.Random(11)
    schemes = ["http:", "https:", "HTTPS:", "mailto:", "ftp:", " http:", "javascript:"]
    pieces = ["//", "/", ":", "[", "]", "::1", "a.b", "%", "?q=1", "#x", " ", "\t", "é", "\\"]
    matched = 0
    for _ in range(20000):
        text = rng.choice(schemes) + "".join(rng.choices(pieces, k=rng.randint(0, 6)))
        if PLAIN_LINK_RE.fullmatch(text):
            matched += 1
            assert link(text) == text
    assert matched > 3000
