"""The full-screen application: wires a Session, its Transport and the prompt_toolkit view.

ChatApp owns the view state that is not chat state: scroll positions, per-buffer input
history, the completion cycle, toggles (nick list, mouse capture) and a paste waiting for
confirmation. The transport runs as a task on prompt_toolkit's own asyncio loop and asks for
a redraw after every batch, so a slow network never blocks typing or drawing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer as InputBuffer
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.input import Input
from prompt_toolkit.output import ColorDepth, Output

from .. import commands, formatting
from ..completion import TabCompleter, rank_nicks
from ..history import InputHistory
from ..session import TALK_KINDS, Session
from ..session import Buffer as SessionBuffer
from ..transport import Endpoint, Timing, Transport
from .keys import build_key_bindings
from .layout import WIDE_TERMINAL, build_layout
from .logview import LogControl, ViewState
from .style import build_style

PASTE_CONFIRM_ABOVE = 3  # pastes of more lines than this ask first


class ChatApp:
    def __init__(
        self,
        session: Session,
        endpoint: Endpoint,
        *,
        color: bool = True,
        timing: Timing | None = None,
        input: Input | None = None,
        output: Output | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.color = color
        self.clock = clock
        self.strip = formatting.strip
        self.transport = Transport(
            session, endpoint, on_change=self.invalidate, timing=timing, clock=clock
        )
        self.views: dict[str, ViewState] = {}
        self.histories: dict[str, InputHistory] = {}
        self.completer = TabCompleter()
        self.nicklist_on: bool | None = None  # None: shown when the terminal is wide
        self.mouse_enabled = False
        self.pending_paste: list[str] | None = None
        self.quitting = False
        self.input_buffer = InputBuffer(multiline=False, accept_handler=self._accept)
        self.log_control = LogControl(
            lambda: self.session.current_buffer.lines,
            lambda: self.view(),
            color=color,
            on_wheel=self.scroll,
        )
        self.application: Application[int] = Application(
            layout=build_layout(self),
            key_bindings=build_key_bindings(self),
            style=build_style(color),
            full_screen=True,
            mouse_support=Condition(lambda: self.mouse_enabled),
            color_depth=None if color else ColorDepth.DEPTH_1_BIT,
            refresh_interval=1.0,
            input=input,
            output=output,
        )
        self._net: asyncio.Task[None] | None = None
        session.renumber_listeners.append(self._renumbered)

    # ------------------------------------------------------------ running

    def run(self) -> int:
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        self._net = asyncio.create_task(self.transport.run())
        self._net.add_done_callback(self._network_ended)
        try:
            result = await self.application.run_async()
        finally:
            await self._stop_network()
        return result or 0

    async def _stop_network(self) -> None:
        if self._net is None:
            return
        if not self._net.done():
            self.transport.stop_now()
            self._net.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._net

    def _network_ended(self, task: asyncio.Task[None]) -> None:
        """A transport that dies of a bug says so on screen instead of going silent."""
        if not task.cancelled() and task.exception() is not None and not self.quitting:
            self.session.error(
                f"Network task failed: {task.exception()!r} — /quit and restart", self.clock()
            )
            self.invalidate()

    def request_quit(self, message: str) -> None:
        """Send QUIT (waiting briefly for the server), then leave the UI."""
        if self.quitting:
            return
        self.quitting = True

        async def leave() -> None:
            with contextlib.suppress(Exception):
                await self.transport.quit(message)
            if self.application.is_running:
                self.application.exit(result=0)

        self.application.create_background_task(leave())

    def invalidate(self) -> None:
        self.application.invalidate()

    # ---------------------------------------------------------- buffers

    def view(self, key: str | None = None) -> ViewState:
        return self.views.setdefault(self.session.current if key is None else key, ViewState())

    def history(self) -> InputHistory:
        return self.histories.setdefault(self.session.current, InputHistory())

    def switch_index(self, index: int) -> None:
        self.session.switch_index(index)
        self.completer.reset()

    def switch_relative(self, step: int) -> None:
        self.session.switch_relative(step)
        self.completer.reset()

    def scroll(self, rows: int) -> None:
        lines = self.session.current_buffer.lines
        if rows < 0:
            self.log_control.scroll_up(self.view(), lines, -rows)
            if self.log_control.top_visible(self.view(), lines):
                self.session.request_older(self.session.current)
        else:
            self.log_control.scroll_down(self.view(), lines, rows)
        self.invalidate()

    def _renumbered(self, buf: SessionBuffer, point: int, shift: int) -> None:
        """History went in above `point` and the lines before it were renumbered: a view
        anchored on one of them follows it."""
        view = self.views.get(buf.key)
        if view is not None and not view.pinned and view.anchor_seq < point:
            view.anchor_seq -= shift

    def scroll_to_bottom(self) -> None:
        self.view().pinned = True

    def nicklist_visible(self) -> bool:
        if self.session.current_buffer.kind != "channel":
            return False
        if self.nicklist_on is not None:
            return self.nicklist_on
        return self.application.output.get_size().columns >= WIDE_TERMINAL

    def toggle_nicklist(self) -> None:
        shown = self.nicklist_on
        if shown is None:
            shown = self.application.output.get_size().columns >= WIDE_TERMINAL
        self.nicklist_on = not shown

    # ------------------------------------------------------------- input

    def _context(self) -> commands.Context:
        return commands.Context(self.session, self.clock(), self.request_quit)

    def _accept(self, buff: InputBuffer) -> bool:
        text = buff.text
        self.history().add(text)
        try:
            commands.execute(self._context(), text)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the terminal down
            self.session.error(f"Internal error running {text[:40]!r}: {exc!r}", self.clock())
        self.scroll_to_bottom()
        self.completer.reset()
        return False

    def _set_input(self, text: str) -> None:
        self.input_buffer.document = Document(text, len(text))

    def history_older(self) -> None:
        text = self.history().older(self.input_buffer.text)
        if text is not None:
            self._set_input(text)

    def history_newer(self) -> None:
        text = self.history().newer()
        if text is not None:
            self._set_input(text)

    def complete(self, backwards: bool = False) -> None:
        session = self.session
        buf = session.current_buffer
        speakers = [
            line.nick
            for line in reversed(list(buf.lines)[-200:])
            if line.kind in TALK_KINDS and line.nick
        ]
        nicks = rank_nicks(speakers, session.member_nicks(buf.key), session.nick)
        rooms = [b.name for b in session.buffer_list() if b.kind == "channel"]
        doc = self.input_buffer.document
        result = self.completer.complete(
            doc.text, doc.cursor_position, nicks, commands.names(), rooms, backwards
        )
        if result is not None:
            self.input_buffer.document = Document(result[0], result[1])

    def paste(self, data: str) -> None:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        buff = self.input_buffer
        if "\n" not in data.strip("\n"):
            buff.insert_text(data.strip("\n"))
            return
        text = buff.text[: buff.cursor_position] + data + buff.text[buff.cursor_position :]
        lines = [line for line in text.split("\n") if line.strip()]
        buff.reset()
        if len(lines) <= PASTE_CONFIRM_ABOVE:
            self._send_lines(lines)
        else:
            self.pending_paste = lines

    def confirm_paste(self, yes: bool) -> None:
        lines, self.pending_paste = self.pending_paste or [], None
        if yes:
            self._send_lines(lines)
        else:
            self.session.info(f"Paste of {len(lines)} lines cancelled", self.clock())

    def _send_lines(self, lines: list[str]) -> None:
        ctx = self._context()
        for line in lines:
            commands.say(ctx, line)
        self.scroll_to_bottom()
