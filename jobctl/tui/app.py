"""DashApp: refreshes the top data screen about every second from a worker thread, so the UI never
waits on Redis; shows a full-screen notice while Redis is unreachable and recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.worker import Worker, get_current_worker

from jobctl.config import Settings
from jobctl.core import audit, ops
from jobctl.core.connection import connect, describe_target
from jobctl.errors import JobctlError, RedisUnavailable
from jobctl.tui.screens import DataScreen, DeadLetterScreen, MainScreen
from jobctl.tui.widgets import HelpScreen, UnreachableScreen

READ_TIMEOUT = 5.0
DOWN_ERRORS = (redis.ConnectionError, redis.TimeoutError, RedisUnavailable, OSError)


class DashApp(App[None]):
    TITLE = "jobctl dash"
    BINDINGS = [
        Binding("question_mark", "help", "Help", show=False),
        Binding("f5", "refresh_now", "Refresh", show=False),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, settings: Settings, refresh_seconds: float = 1.0, retry_seconds: float = 2.0) -> None:
        super().__init__()
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self.connection: redis.Redis | None = None
        self.down: str | None = None  # the reason while Redis is unreachable
        self._last_attempt = 0.0
        self._reading: Worker | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        # kept: a test pauses it to freeze a frame for a screenshot
        self.refresh_timer = self.set_interval(self.refresh_seconds, self._tick)
        self.refresh_now()

    def _tick(self) -> None:
        if self._reading is not None and not self._reading.is_finished:
            return  # the previous read is still under way: never pile reads up
        self.refresh_now()

    def data_screen(self) -> DataScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DataScreen):
                return screen
        return None

    def refresh_now(self) -> None:
        screen = self.data_screen()
        if screen is not None:
            self._reading = self._read(screen)

    def action_refresh_now(self) -> None:
        self.refresh_now()

    # --- reads (worker thread) -------------------------------------------------------------------

    def _connection(self) -> redis.Redis:
        if self.connection is None:
            connection = connect(self.settings)
            # a server that hangs (rather than refuses) must also end up on the unreachable screen
            connection.connection_pool.connection_kwargs.setdefault("socket_timeout", READ_TIMEOUT)
            if connection.connection_pool.connection_kwargs["socket_timeout"] is None:
                connection.connection_pool.connection_kwargs["socket_timeout"] = READ_TIMEOUT
            connection.connection_pool.disconnect()  # the ping's connection had no timeout
            self.connection = connection
        return self.connection

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, JobctlError):
            # "cannot reach Redis at <url>: <why>": the url is already in the screen's first words
            return exc.message.split(f"{describe_target(self.settings)}: ", 1)[-1]
        return str(exc) or type(exc).__name__

    @work(thread=True, exclusive=True, group="read")
    def _read(self, screen: DataScreen) -> None:
        if self.down is not None and time.monotonic() - self._last_attempt < self.retry_seconds:
            return
        self._last_attempt = time.monotonic()
        try:
            connection = self._connection()
            result = screen.read(connection, self.settings)
        except DOWN_ERRORS as exc:
            self._drop_connection()
            self._post(self._went_down, self._reason(exc))
            return
        except JobctlError as exc:  # e.g. a queue renamed in the config meanwhile: say it, keep going
            self._post(self.notify, exc.message, severity="error")
            return
        self._post(self._apply, screen, result)

    def _drop_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is gone anyway
                pass

    def _apply(self, screen: DataScreen, result: Any) -> None:
        if self.down is not None:
            self.down = None
            if isinstance(self.screen, UnreachableScreen):
                self.pop_screen()
            self.notify("Redis is reachable again")
        if screen in self.screen_stack and screen.is_mounted:
            try:
                screen.show(result)
            except NoMatches:  # the screen is still being composed, or torn down: the next tick draws it
                pass

    def _post(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """From a worker thread: run `fn` on the UI thread, unless the app is already gone."""
        worker = get_current_worker()
        if worker.is_cancelled or not self.is_running:
            return
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:  # the app stopped meanwhile
            pass

    def down_message(self, reason: str) -> str:
        target = describe_target(self.settings)
        return (
            f"Redis at {target} is unreachable: {reason}\n\n"
            f"Retrying every {self.retry_seconds:g} s… (q quits)"
        )

    def _went_down(self, reason: str) -> None:
        self.down = reason
        message = self.down_message(reason)
        if isinstance(self.screen, UnreachableScreen):
            self.screen.update(message)
        else:
            while not isinstance(self.screen, DataScreen) and len(self.screen_stack) > 2:
                self.pop_screen()  # a confirm or help modal would act on stale data
            self.push_screen(UnreachableScreen(message))

    # --- mutations (worker thread, the same core calls as the CLI) -------------------------------

    def mutate(self, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None] | None = None) -> None:
        self._mutate(fn, args, done)

    @work(thread=True, group="mutate")
    def _mutate(self, fn: Callable[..., Any], args: tuple, done: Callable[[Any], None] | None) -> None:
        try:
            with audit.acting_as(audit.Actor(audit.os_user(), "tui")):  # a fresh thread: no actor yet
                result = fn(self._connection(), self.settings, *args)
        except DOWN_ERRORS as exc:
            self._drop_connection()
            self._post(self.notify, f"not done: Redis is unreachable: {self._reason(exc)}", severity="error")
            return
        except JobctlError as exc:
            self._post(self.notify, exc.message + (f"\n{exc.hint}" if exc.hint else ""), severity="error")
            return
        if done is not None:
            self._post(done, result)
        self._post(self.refresh_now)

    def toggle_pause(self, queue: str, paused: bool) -> None:
        fn = ops.resume_queue if paused else ops.pause_queue
        self.mutate(
            fn, queue, done=lambda r: self.notify(f"{r['queue']}: {'paused' if r['paused'] else 'running'}")
        )

    # --- app-wide actions ------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, (HelpScreen, UnreachableScreen)):
            self.push_screen(HelpScreen())

    def action_dead_letters(self) -> None:
        if not isinstance(self.screen, (DeadLetterScreen, UnreachableScreen)):
            self.push_screen(DeadLetterScreen())
