"""jobctl.jobs.template_names (shell completion's template names, read without Jinja2) gives the
names Jinja2's view of the templates gives (jobctl.jobs.email.templates.list_templates)."""

from __future__ import annotations

import pytest

from jobctl.config import load_settings
from jobctl.errors import ConfigError
from jobctl.jobs.email.templates import list_templates
from jobctl.jobs.template_names import template_names


def _jinja_names(settings) -> list[str]:
    return [row["name"] for row in list_templates(settings)]


def test_the_built_ins():
    settings = load_settings()
    names = template_names(settings)
    assert names == _jinja_names(settings)
    assert "welcome" in names and "password-reset" in names


def test_with_a_templates_dir(tmp_path, monkeypatch):
    extra = tmp_path / "templates"
    (extra / "nested").mkdir(parents=True)
    (extra / "winter-sale.subject.txt").write_text("Sale\n")  # an added template
    (extra / "winter-sale.txt").write_text("Hello\n")
    (extra / "welcome.subject.txt").write_text("Hi {{ name }}\n")  # a built-in overridden
    (extra / "_layout.subject.txt").write_text("a layout, not a template\n")
    (extra / "nested" / "deep.subject.txt").write_text("not at the top: not a template\n")
    (extra / "notes.txt").write_text("no subject: not a template\n")
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(extra))
    settings = load_settings()
    names = template_names(settings)
    assert names == _jinja_names(settings)
    assert "winter-sale" in names and names.count("welcome") == 1
    assert not {"_layout", "deep", "nested/deep", "notes"} & set(names)


def test_a_templates_dir_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBCTL_TEMPLATES_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a directory"):
        template_names(load_settings())
