"""The full-screen application: wires a Workspace of sessions, their transports and the view.

ChatApp owns the view state that is not chat state: scroll positions, per-buffer input
history, the completion cycle, the search being made, the nick-list scroll, toggles (nick
list, mouse capture) and a paste waiting for confirmation; it applies settings changed by
/set, rings the bell the workspace asks for, and tells the session when a buffer has been
read (shown at its end: on switching to it, on scrolling down to the end, while one stays
there), for the read markers. Each server's transport runs as a task on
prompt_toolkit's own asyncio loop and asks for a redraw after every batch, so a slow network
never blocks typing or drawing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer as InputBuffer
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.input import Input
from prompt_toolkit.output import ColorDepth, Output

from .. import commands, formatting, search
from ..completion import TabCompleter, rank_nicks
from ..config import SERVER_FIELDS, ConfigFile, Settings
from ..history import InputHistory
from ..logs import LogWriter
from ..model import LogLine
from ..session import TALK_KINDS, Session
from ..session import Buffer as SessionBuffer
from ..transport import Endpoint, Timing, Transport
from ..workspace import Workspace
from .keys import build_key_bindings
from .layout import WIDE_TERMINAL, NickListControl, build_layout
from .logview import LogControl, Look, ViewState
from .style import build_style

ViewKey = tuple[int, str]  # (id of the session, buffer key)
ServerFactory = Callable[[str], tuple[Session, Endpoint]]
CTCP_WORDS = ["VERSION", "PING", "TIME", "CLIENTINFO"]
ESC_WAIT_BYTES = 0.2
ESC_WAIT_KEYS = 0.3


@dataclass
class SearchState:
    """A search being made in one buffer (the input line holds its text meanwhile)."""

    key: ViewKey
    draft: str  # what the input line held before
    saved: ViewState  # where the view was, to go back to on Esc
    seq: int | None = None  # the match shown
    note: str = ""
    term: str = ""
    history_asked: bool = field(default=False)


class ChatApp:
    def __init__(
        self,
        session: Session | None = None,
        endpoint: Endpoint | None = None,
        *,
        servers: list[tuple[Session, Endpoint]] | None = None,
        config: ConfigFile | None = None,
        color: bool | None = None,
        timing: Timing | None = None,
        input: Input | None = None,
        output: Output | None = None,
        clock: Callable[[], float] = time.time,
        logger: LogWriter | None = None,
        make_server: ServerFactory | None = None,
    ) -> None:
        self._config = config
        settings = config.settings if config is not None else Settings()
        self.settings = settings
        self.color = settings.color if color is None else color
        self.clock = clock
        self.timing = timing
        self.logger = logger
        self.make_server = make_server
        self.strip = formatting.strip
        self._workspace = Workspace(bell=settings.bell)
        self.transports: dict[int, Transport] = {}
        self._nets: dict[int, asyncio.Task[None]] = {}
        self.views: dict[ViewKey, ViewState] = {}
        self.histories: dict[ViewKey, InputHistory] = {}
        self.nick_offsets: dict[ViewKey, int] = {}
        self.completer = TabCompleter()
        self.nicklist_on: bool | None = {"on": True, "off": False}.get(settings.nicklist)
        self.mouse_enabled = settings.mouse
        self.time_format = settings.timestamp_format
        self.pending_paste: list[str] | None = None
        self.search_state: SearchState | None = None
        self._shown: tuple[ViewKey, bool] | None = None  # the view drawn last, and pinned
        self.quitting = False
        self.running = False
        self.input_buffer = InputBuffer(multiline=False, accept_handler=self._accept)
        self.input_buffer.on_text_changed += lambda _: self._search_typed()
        self.log_control = LogControl(
            lambda: self.session.current_buffer.lines,
            lambda: self.view(),
            color=self.color,
            on_wheel=self.scroll,
            get_look=self.look,
        )
        self.nicklist_control = NickListControl(self)
        for pair in servers or ([(session, endpoint)] if session and endpoint else []):
            self.add_server(*pair)
        self.application: Application[int] = Application(
            layout=build_layout(self),
            key_bindings=build_key_bindings(self),
            style=build_style(self.color, settings.colors),
            full_screen=True,
            mouse_support=Condition(lambda: self.mouse_enabled),
            color_depth=None if self.color else ColorDepth.DEPTH_1_BIT,
            refresh_interval=1.0,
            input=input,
            output=output,
        )
        # A lone Esc (leaving a search, refusing a paste) is told from Alt-key sequences by
        # waiting: 0.2 s for the terminal's bytes and 0.3 s for a second key, not 0.5 + 1 s.
        self.application.ttimeoutlen = ESC_WAIT_BYTES
        self.application.timeoutlen = ESC_WAIT_KEYS
        self.application.before_render += lambda _: self.reading()

    # ------------------------------------------------------------- the parts

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def config(self) -> ConfigFile | None:
        return self._config

    @property
    def session(self) -> Session:
        """The session whose buffer is on screen."""
        return self._workspace.session

    def add_server(self, session: Session, endpoint: Endpoint) -> Transport:
        transport = Transport(
            session, endpoint, on_change=self.invalidate, timing=self.timing, clock=self.clock
        )
        self.transports[id(session)] = transport
        self._workspace.add(session)
        session.renumber_listeners.append(
            lambda buf, point, shift: self._renumbered(session, buf, point, shift)
        )
        session.bufs.rename_listeners.append(
            lambda buf, old_key, old_name: self._renamed(session, buf, old_key, old_name)
        )
        if self.logger is not None:
            session.listeners.append(self.logger.listener(lambda: session.name))
        if self.running:
            self._start(session)
        return transport

    # ------------------------------------------------------------ running

    def run(self) -> int:
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        self.running = True
        for session in self._workspace.sessions:
            self._start(session)
        try:
            result = await self.application.run_async()
        finally:
            await self._stop_network()
            if self.logger is not None:
                self.logger.close()
        return result or 0

    def _start(self, session: Session) -> None:
        task = asyncio.create_task(self.transports[id(session)].run())
        task.add_done_callback(lambda t: self._network_ended(session, t))
        self._nets[id(session)] = task

    async def _stop_network(self) -> None:
        for key, task in self._nets.items():
            if not task.done():
                self.transports[key].stop_now()
                task.cancel()
        for task in self._nets.values():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    def _network_ended(self, session: Session, task: asyncio.Task[None]) -> None:
        """A transport that dies of a bug says so on screen instead of going silent."""
        if not task.cancelled() and task.exception() is not None and not self.quitting:
            session.error(
                f"Network task failed: {task.exception()!r} — /quit and restart",
                self.clock(),
                session.server_buffer,
            )
            self.invalidate()

    def request_quit(self, message: str) -> None:
        """Send QUIT on every server (waiting briefly for them), then leave the UI."""
        if self.quitting:
            return
        self.quitting = True

        async def leave() -> None:
            with contextlib.suppress(Exception):
                await asyncio.gather(*(t.quit(message) for t in self.transports.values()))
            if self.application.is_running:
                self.application.exit(result=0)

        self.application.create_background_task(leave())

    def invalidate(self) -> None:
        if self._workspace.take_bell():
            with contextlib.suppress(Exception):
                self.application.output.bell()
        self.application.invalidate()

    # ---------------------------------------------------------- servers

    def connect(self, target: str) -> str | None:
        """/connect: another server, by its name in the configuration or an address."""
        if self.make_server is None:
            return "this client cannot open more connections"
        try:
            session, endpoint = self.make_server(target)
        except ValueError as exc:
            return str(exc)
        for other in self._workspace.sessions:
            if other.name == session.name:
                transport = self.transports[id(other)]
                task = self._nets.get(id(other))
                if task is not None and not task.done():
                    return f"already connected to {other.name} (/buffer {other.name})"
                transport.restart()
                self._start(other)
                self._workspace.focus(other)
                return None
        self.add_server(session, endpoint)
        self._workspace.focus(session)
        return None

    def disconnect(self, session: Session, message: str) -> None:
        transport = self.transports[id(session)]
        self.application.create_background_task(transport.quit(message))

    # ---------------------------------------------------------- buffers

    def view_key(self) -> ViewKey:
        return id(self.session), self.session.current

    def view(self, key: str | None = None) -> ViewState:
        vkey = self.view_key() if key is None else (id(self.session), key)
        return self.views.setdefault(vkey, ViewState())

    def history(self) -> InputHistory:
        return self.histories.setdefault(self.view_key(), InputHistory())

    def switch_index(self, index: int) -> None:
        self.end_search(keep=True)
        self._workspace.switch_index(index)
        self.completer.reset()

    def switch_relative(self, step: int) -> None:
        self.end_search(keep=True)
        self._workspace.switch_relative(step)
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

    def scroll_nicklist(self, rows: int) -> None:
        key = self.view_key()
        self.nick_offsets[key] = max(0, self.nick_offsets.get(key, 0) + rows)
        self.invalidate()

    def _renumbered(self, session: Session, buf: SessionBuffer, point: int, shift: int) -> None:
        """History went in above `point` and the lines before it were renumbered: a view
        anchored on one of them follows it."""
        view = self.views.get((id(session), buf.key))
        if view is not None and not view.pinned and view.anchor_seq < point:
            view.anchor_seq -= shift

    def _renamed(self, session: Session, buf: SessionBuffer, old_key: str, old_name: str) -> None:
        """A room was renamed (or a private buffer follows a nick change): its scroll
        position, input history, search and log files follow it."""
        old, new = (id(session), old_key), (id(session), buf.key)
        if old in self.views:
            self.views[new] = self.views.pop(old)
        if old in self.histories:
            self.histories[new] = self.histories.pop(old)
        if old in self.nick_offsets:
            self.nick_offsets[new] = self.nick_offsets.pop(old)
        if self.search_state is not None and self.search_state.key == old:
            self.search_state.key = new
        if self.logger is not None:
            self.logger.rename(session.name, old_name, buf)

    def scroll_to_bottom(self) -> None:
        self.view().pinned = True

    def reading(self) -> None:
        """Before each redraw: the buffer on screen at its end has been read. Switching to it
        or getting back to its end says so at once; staying there, every few seconds."""
        session = self.session
        shown = (self.view_key(), self.view().pinned)
        if shown == self._shown:
            if shown[1]:
                session.mark_read(session.current, self.clock(), debounce=True)
            return
        self._shown = shown
        if shown[1]:
            session.mark_read(session.current, self.clock())

    def line_in_view(self) -> int | None:
        view = self.view()
        lines = self.session.current_buffer.lines
        if view.pinned or not lines:
            return None
        return view.anchor_seq

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

    def look(self) -> Look:
        state = self.search_state
        if state is not None and state.key == self.view_key():
            return Look(self.color, self.time_format, state.term, state.seq)
        return Look(self.color, self.time_format)

    # ------------------------------------------------------------ search

    def start_search(self, text: str = "") -> None:
        """Ctrl-R or /search: search this buffer's scrollback (the input line holds the text)."""
        if self.search_state is None:
            view = self.view()
            self.search_state = SearchState(
                self.view_key(),
                self.input_buffer.text,
                ViewState(view.pinned, view.anchor_seq, view.anchor_row),
            )
        self._set_input(text)
        self._search_typed()

    def _search_typed(self) -> None:
        state = self.search_state
        if state is None or state.term == self.input_buffer.text:
            return
        state.term = self.input_buffer.text
        state.seq = None
        state.note = ""
        if state.term:
            self._show_match(search.older(self._lines(), state.term, None))
        else:
            self._restore_view(state)

    def search_step(self, older: bool) -> None:
        state = self.search_state
        if state is None:
            self.start_search()
            return
        if not state.term:
            return
        lines = self._lines()
        if older:
            found = search.older(lines, state.term, state.seq)
        else:
            found = search.newer(lines, state.term, state.seq) if state.seq is not None else None
        if found is not None:
            state.note = ""
            self._show_match(found)
        elif older:
            asked = self.session.request_older(self.session.current)
            state.note = "no older match" + (" (loading older history…)" if asked else "")
        else:
            state.note = "no newer match"
        self.invalidate()

    def _lines(self) -> list[LogLine]:
        return list(self.session.current_buffer.lines)

    def _show_match(self, line: LogLine | None) -> None:
        state = self.search_state
        if state is None:
            return
        if line is None:
            state.note = "no match"
            self._restore_view(state)
            return
        seq = line.seq
        state.seq = seq
        self.log_control.anchor_at(self.view(), self.session.current_buffer.lines, seq)
        self.invalidate()

    def _restore_view(self, state: SearchState) -> None:
        view = self.view()
        view.pinned = state.saved.pinned
        view.anchor_seq, view.anchor_row = state.saved.anchor_seq, state.saved.anchor_row

    def end_search(self, keep: bool) -> None:
        """Leave the search: `keep` the view on the match (Enter), or go back (Esc)."""
        state = self.search_state
        if state is None:
            return
        self.search_state = None
        if not keep:
            self._restore_view(state)
        self._set_input(state.draft)
        self.invalidate()

    def search_status(self) -> str:
        state = self.search_state
        if state is None:
            return ""
        if not state.term:
            return "search: type the text"
        n, total = search.position(self._lines(), state.term, state.seq)
        found = f"{n} of {total}" if n else "no match"
        return f'search "{state.term}": {found}' + (f", {state.note}" if n and state.note else "")

    # ----------------------------------------------------------- settings

    def setting_changed(self, name: str) -> str:
        """A /set took effect: apply it now where possible; returns a note for the user."""
        settings = self.settings
        if name == "highlight":
            for session in self._workspace.sessions:
                session.highlights = list(settings.highlight)
        elif name == "bell":
            self._workspace.bell = settings.bell
        elif name == "timestamp_format":
            self.time_format = settings.timestamp_format
        elif name == "nicklist":
            self.nicklist_on = {"on": True, "off": False}.get(settings.nicklist)
        elif name == "mouse":
            self.mouse_enabled = settings.mouse
        elif name in ("log", "log_dir"):
            if self.logger is None:
                return "logging starts at the next start of chat-client"
            self.logger.close()
            self.logger.base = settings.logs
            self.logger.enabled = settings.log
        elif name == "history_page":
            for session in self._workspace.sessions:
                session.router.history_page = settings.history_page
        elif name in ("color", "reconnect_delay"):
            return "takes effect at the next start"
        elif name == "nick":
            return "used at the next start by servers without a nick of their own"
        else:
            return self._server_setting(name)
        return ""

    def _server_setting(self, name: str) -> str:
        server_name, _, key = name.partition(".")
        session = next((s for s in self._workspace.sessions if s.name == server_name), None)
        server = self.settings.server(server_name)
        if session is None or server is None:
            return "takes effect when you connect to it"
        if key == "ignore":
            session.ignores = list(server.ignore)
        elif key == "autojoin":
            session.autojoin = list(server.autojoin)
        elif key == "alt_nicks":
            session.reg.alt_nicks = list(server.alt_nicks)
        elif key == "notify":
            for nick in list(session.notify.nicks):
                if nick not in server.notify:
                    session.notify.remove(nick)
            for nick in server.notify:
                session.notify.add(nick)
        elif key in SERVER_FIELDS or key.startswith("sasl."):
            now = " (/nick changes it now)" if key == "nick" else ""
            return "takes effect at the next connection" + now
        return ""

    # ------------------------------------------------------------- input

    def _context(self) -> commands.Context:
        return commands.Context(self.session, self.clock(), self.request_quit, host=self)

    def _accept(self, buff: InputBuffer) -> bool:
        if self.search_state is not None:
            self.end_search(keep=True)
            return True
        text = buff.text
        self.history().add(text)
        try:
            commands.execute(self._context(), text)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the terminal down
            self.session.error(f"Internal error running {text[:40]!r}: {exc!r}", self.clock())
        if self.search_state is None:
            self.scroll_to_bottom()
        self.completer.reset()
        return self.search_state is not None  # keep the text a /search put there

    def _set_input(self, text: str) -> None:
        self.input_buffer.document = Document(text, len(text))

    def history_older(self) -> None:
        if self.search_state is not None:
            self.search_step(older=True)
            return
        text = self.history().older(self.input_buffer.text)
        if text is not None:
            self._set_input(text)

    def history_newer(self) -> None:
        if self.search_state is not None:
            self.search_step(older=False)
            return
        text = self.history().newer()
        if text is not None:
            self._set_input(text)

    def _argument_words(self, text: str) -> list[str] | None:
        """What the word being typed can be, for the commands whose arguments are not nicks."""
        name, space, rest = text.partition(" ")
        if not text.startswith("/") or not space:
            return None
        name = name[1:].lower()
        config = self._config
        if name == "set" and " " not in rest and config is not None:
            return config.names()
        if name in ("buffer", "connect"):
            names = [s.name for s in self._workspace.sessions]
            if name == "connect":
                names += [s.name for s in self.settings.servers]
            else:
                names += [b.name for s in self._workspace.sessions for b in s.buffer_list()]
            return sorted(set(names))
        if name == "ctcp" and rest.count(" ") == 1:
            return CTCP_WORDS
        if name == "unignore":
            return list(self.session.ignores)
        if name == "unnotify":
            return list(self.session.notify.nicks)
        return None

    def complete(self, backwards: bool = False) -> None:
        session = self.session
        buf = session.current_buffer
        speakers = [
            line.nick
            for line in reversed(list(buf.lines)[-200:])
            if line.kind in TALK_KINDS and line.nick
        ]
        doc = self.input_buffer.document
        words = self._argument_words(doc.text[: doc.cursor_position])
        nicks = rank_nicks(speakers, session.member_nicks(buf.key), session.nick)
        rooms = [b.name for b in session.buffer_list() if b.kind == "channel"]
        result = self.completer.complete(
            doc.text, doc.cursor_position, nicks, commands.names(), rooms, backwards, words
        )
        if result is not None:
            self.input_buffer.document = Document(result[0], result[1])

    def paste(self, data: str) -> None:
        """A paste of several lines is one paragraph: sent as one multiline message where the
        server offers it (blank lines inside kept), else line by line; past `paste_confirm`
        lines, after asking."""
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        buff = self.input_buffer
        if "\n" not in data.strip("\n") or self.search_state is not None:
            buff.insert_text(data.strip("\n").replace("\n", " "))
            return
        text = buff.text[: buff.cursor_position] + data + buff.text[buff.cursor_position :]
        lines = text.split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        buff.reset()
        if paste_count(lines) <= self.settings.paste_confirm:
            self._send_lines(lines)
        else:
            self.pending_paste = lines

    def confirm_paste(self, yes: bool) -> None:
        lines, self.pending_paste = self.pending_paste or [], None
        if yes:
            self._send_lines(lines)
        else:
            self.session.info(f"Paste of {paste_count(lines)} lines cancelled", self.clock())

    def _send_lines(self, lines: list[str]) -> None:
        commands.say_paragraph(self._context(), lines)
        self.scroll_to_bottom()


def paste_count(lines: list[str]) -> int:
    """The lines of a paste that say something (blank ones are not counted)."""
    return sum(1 for line in lines if line.strip())
