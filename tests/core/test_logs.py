"""Logging set-up: records go to sys.stderr as it is when they are emitted."""

from __future__ import annotations

import io
import logging
import sys

from jobctl.core.logs import configure_logging


def test_records_follow_sys_stderr_after_it_is_swapped(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    try:
        logging.getLogger("jobctl.test").warning("one")
        first.close()  # as an in-process CLI runner closes its stream after each command
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("jobctl.test").warning("two")
    finally:
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    assert second.getvalue().endswith("WARNING jobctl.test: two\n")
    assert "Logging error" not in second.getvalue()
