"""The dashboard's screens, one module each: queues + workers (main), one queue's jobs (jobs), dead
letters (dead_letters).

A screen's `read` runs in the app's worker thread (Redis only through jobctl.core); its `show`
runs on the UI thread with the result. Actions call the same core functions as the CLI, also
off the UI thread (see DashApp.mutate).
"""

from jobctl.tui.screens.base import DataScreen
from jobctl.tui.screens.dead_letters import DeadLetterScreen
from jobctl.tui.screens.jobs import JobsScreen
from jobctl.tui.screens.main import MainScreen

__all__ = ["DataScreen", "DeadLetterScreen", "JobsScreen", "MainScreen"]
