"""scripts/browser_local.py: when chromium cannot be installed, the test command goes on and the
browser tests skip with the reason."""

from __future__ import annotations

from tests.web.conftest import browser_local


def test_without_root_it_says_why_and_never_fails(monkeypatch, tmp_path, capsys):
    local = browser_local()
    monkeypatch.setattr(local, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(local, "HOME", tmp_path / "browser")
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(local.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert local.main() == 0
    assert "browser tests will skip" in capsys.readouterr().err
    reason = local.unavailable_reason()
    assert reason.startswith("no chromium: installing chromium and chromium-driver needs root")


def test_installed_means_no_reason():
    local = browser_local()
    assert (local.unavailable_reason() is None) == local.installed()
