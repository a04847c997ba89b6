"""Built-in and override templates: rendering, escaping, variables, errors."""

from __future__ import annotations

import pytest

from jobctl.config import load_settings
from jobctl.errors import UsageError
from jobctl.jobs.email import list_templates, render_email

BUILT_INS = [
    "admin-report",
    "alert-rule",
    "dead-letter-alert",
    "infected-file-alert",
    "marketing-campaign",
    "order-confirmation",
    "password-reset",
    "payment-declined",
    "payment-failed",
    "payment-receipt",
    "report-ready",
    "welcome",
]


def test_built_in_templates_are_listed_with_their_variables(settings):
    rows = {row["name"]: row for row in list_templates(settings)}
    assert sorted(rows) == BUILT_INS
    assert all(row["source"] == "built-in" for row in rows.values())
    assert rows["welcome"]["variables"] == ["login_url", "name"]
    assert rows["welcome"]["subject"] == "Welcome to {{ brand }}, {{ name }}!"
    assert rows["password-reset"]["variables"] == ["expires_in_minutes", "name", "reset_url"]
    assert rows["order-confirmation"]["variables"] == [
        "currency",
        "items",
        "name",
        "order_id",
        "order_url",
        "shipping",
    ]
    # layout globals and imported macros are not variables the caller must pass
    assert not {"brand", "button"} & {v for row in rows.values() for v in row["variables"]}


@pytest.mark.parametrize("name", BUILT_INS)
def test_every_built_in_renders_text_and_html(settings, sample_data, name):
    rendered = render_email(settings, name, sample_data[name])
    assert rendered.subject and "\n" not in rendered.subject and "{{" not in rendered.subject
    assert "Ada" in rendered.text and "Ada" in rendered.html
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>") and "</html>" in rendered.html
    assert "Marketplace" in rendered.html  # brand from EMAIL_FROM's display name
    assert "{{" not in rendered.text + rendered.html


@pytest.mark.parametrize("name", BUILT_INS)
def test_every_variable_listed_is_needed(settings, sample_data, name):
    variables = next(row["variables"] for row in list_templates(settings) if row["name"] == name)
    assert sorted(sample_data[name]) == variables
    for missing in variables:
        data = {k: v for k, v in sample_data[name].items() if k != missing}
        with pytest.raises(UsageError, match=f"needs variable '{missing}'"):
            render_email(settings, name, data)


def test_order_confirmation_has_an_items_table_with_totals(settings, sample_data):
    rendered = render_email(settings, "order-confirmation", sample_data["order-confirmation"])
    assert rendered.subject == "Order ORD-1042 confirmed"
    for text in (rendered.text, rendered.html):
        assert "Ceramic mug" in text and "$25.00" in text and "$19.99" in text
        assert "$44.99" in text  # subtotal 25.00 + 19.99
        assert "$49.49" in text  # + 4.50 shipping
    assert "<table" in rendered.html and "<td>Linen tote</td>" in rendered.html


def test_password_reset_has_link_and_expiry(settings, sample_data):
    rendered = render_email(settings, "password-reset", sample_data["password-reset"])
    assert "https://shop.example.com/reset?token=abc&u=1" in rendered.text
    assert 'href="https://shop.example.com/reset?token=abc&amp;u=1"' in rendered.html
    assert "30 minutes" in rendered.text and "30 minutes" in rendered.html


def test_a_resolved_alert_rule_says_the_value_now_and_for_how_long(settings, sample_data):
    message = "email-sending has 12 waiting jobs (threshold 10,000): resolved after firing for 14m"
    data = sample_data["alert-rule"] | {"event": "resolved", "message": message, "value": 12}
    rendered = render_email(settings, "alert-rule", data | {"fired_for": "14m"})
    assert rendered.subject == f"[jobctl] resolved: {message}"
    assert "Value:     12 now (threshold 10000)" in rendered.text and "Fired for: 14m" in rendered.text
    assert "value 12 now, threshold 10000" in rendered.html and "fired for 14m" in rendered.html
    firing = render_email(settings, "alert-rule", sample_data["alert-rule"])  # fired_for None
    assert "Fired for" not in firing.text and "fired for" not in firing.html
    assert "Value:     12000 (threshold 10000)" in firing.text
    unknown = render_email(settings, "alert-rule", data | {"value": None, "fired_for": None})
    assert "Value:     unknown now" in unknown.text  # the rule was turned off: no value to say


def test_html_escapes_data_but_text_keeps_it(settings, sample_data):
    data = sample_data["welcome"] | {"name": "<script>alert('x')</script>"}
    rendered = render_email(settings, "welcome", data)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in rendered.html
    assert "<script>alert('x')</script>" in rendered.text
    assert rendered.subject == "Welcome to Marketplace, <script>alert('x')</script>!"


def test_links_must_be_http_or_mailto(settings, sample_data):
    data = sample_data["welcome"] | {"login_url": "javascript:alert(1)"}
    with pytest.raises(UsageError, match="links must start with https://"):
        render_email(settings, "welcome", data)


def test_unknown_template_lists_the_known_ones(settings):
    with pytest.raises(UsageError) as info:
        render_email(settings, "welcom", {})
    assert info.value.message == "unknown email template 'welcom'"
    assert info.value.hint == "templates: " + ", ".join(BUILT_INS)
    for name in ("../welcome", "_base", "welcome.subject", ""):
        with pytest.raises(UsageError, match="unknown email template"):
            render_email(settings, name, {})


def test_missing_variable_is_named_with_a_hint(settings):
    with pytest.raises(UsageError) as info:
        render_email(settings, "welcome", {"login_url": "https://x.example.com"})
    assert info.value.message == "template 'welcome' needs variable 'name'"
    assert info.value.hint == "add name to the template data"


@pytest.mark.parametrize(
    "items, expected",
    [
        ([{"name": "Mug", "quantity": 1}], "item 1 needs 'unit_price'"),
        ([{"name": "Mug", "quantity": "two", "unit_price": 1}], "quantity must be a number, got 'two'"),
        ("Mug", "items must be a non-empty list"),
        ([], "items must be a non-empty list"),
        ([{"quantity": 1, "unit_price": 2}], "needs field 'name'"),
    ],
)
def test_bad_order_items_are_usage_errors(settings, sample_data, items, expected):
    data = sample_data["order-confirmation"] | {"items": items}
    with pytest.raises(UsageError, match=expected):
        render_email(settings, "order-confirmation", data)


def _write(folder, files: dict[str, str]):
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_templates_dir_overrides_and_adds(tmp_path, monkeypatch, sample_data):
    custom = tmp_path / "my-templates"
    _write(
        custom,
        {
            "welcome.subject.txt": "Hey {{ name }}, welcome aboard",
            "shipping-update.subject.txt": "Order {{ order_id }} shipped",
            "shipping-update.txt": "Hi {{ name }}, tracking: {{ tracking_url }}\n",
            "shipping-update.html": '{% extends "_base.html" %}{% block content %}<p>{{ name }}: '
            "{{ carrier }}</p>{% endblock %}",
            "notes.md": "not a template",
        },
    )
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(custom))
    settings = load_settings()

    rows = {row["name"]: row for row in list_templates(settings)}
    assert sorted(rows) == sorted([*BUILT_INS, "shipping-update"])
    assert rows["welcome"]["source"] == str(custom.resolve())
    assert rows["welcome"]["subject"] == "Hey {{ name }}, welcome aboard"
    assert rows["password-reset"]["source"] == "built-in"
    assert rows["shipping-update"]["variables"] == ["carrier", "name", "order_id", "tracking_url"]

    welcome = render_email(settings, "welcome", sample_data["welcome"])
    assert welcome.subject == "Hey Ada, welcome aboard"
    assert "Your Marketplace account is ready" in welcome.html  # body still the built-in one

    shipped = render_email(
        settings,
        "shipping-update",
        {"name": "Ada", "order_id": "7", "carrier": "<UPS>", "tracking_url": "https://t.example.com/1"},
    )
    assert shipped.subject == "Order 7 shipped"
    assert shipped.text == "Hi Ada, tracking: https://t.example.com/1\n"
    assert "<p>Ada: &lt;UPS&gt;</p>" in shipped.html and "<!DOCTYPE html>" in shipped.html


def test_added_template_without_html_is_text_only(tmp_path, monkeypatch):
    _write(tmp_path / "t", {"ping.subject.txt": "Ping", "ping.txt": "pong {{ n }}\n"})
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(tmp_path / "t"))
    rendered = render_email(load_settings(), "ping", {"n": 1})
    assert (rendered.subject, rendered.text, rendered.html) == ("Ping", "pong 1\n", None)


def test_broken_override_template_names_file_and_line(tmp_path, monkeypatch):
    _write(tmp_path / "t", {"bad.subject.txt": "Hi", "bad.txt": "line one\n{% if x %}\nunclosed\n"})
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(tmp_path / "t"))
    with pytest.raises(UsageError, match=r"bad\.txt line \d+"):
        render_email(load_settings(), "bad", {"x": 1})


def test_missing_templates_dir_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="is not a directory"):
        list_templates(load_settings())


def test_templates_ship_inside_the_package():
    from pathlib import Path

    import jobctl
    import jobctl.jobs.email as email_pkg

    folder = Path(email_pkg.__file__).parent / "templates"
    assert folder.is_relative_to(Path(jobctl.__file__).parent)
    for name in BUILT_INS:
        for suffix in (".subject.txt", ".txt", ".html"):
            assert (folder / f"{name}{suffix}").is_file()
