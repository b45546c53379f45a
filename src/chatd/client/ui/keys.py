"""Key bindings, built by small factories and merged once.

Editing keys are prompt_toolkit's Emacs defaults; these add buffer switching, scrolling,
history, completion, paste handling, toggles and quitting. Bindings that only make sense in a
state (a paste waiting for confirmation) are scoped with Condition filters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.key_binding.key_bindings import KeyBindingsBase
from prompt_toolkit.keys import Keys

if TYPE_CHECKING:
    from .app import ChatApp


def switching_bindings(app: ChatApp) -> KeyBindings:
    kb = KeyBindings()
    for digit in range(1, 10):

        @kb.add("escape", str(digit))
        def _(event: KeyPressEvent, index: int = digit - 1) -> None:
            app.switch_index(index)

    @kb.add("escape", "0")
    def _tenth(event: KeyPressEvent) -> None:
        app.switch_index(9)

    @kb.add("c-n")
    @kb.add("escape", "right")
    def _next(event: KeyPressEvent) -> None:
        app.switch_relative(1)

    @kb.add("c-p")
    @kb.add("escape", "left")
    def _prev(event: KeyPressEvent) -> None:
        app.switch_relative(-1)

    return kb


def scrolling_bindings(app: ChatApp) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("pageup")
    def _up(event: KeyPressEvent) -> None:
        app.scroll(-app.log_control.page())

    @kb.add("pagedown")
    def _down(event: KeyPressEvent) -> None:
        app.scroll(app.log_control.page())

    @kb.add("c-end")
    @kb.add("escape", "end")
    def _bottom(event: KeyPressEvent) -> None:
        app.scroll_to_bottom()

    @kb.add("end", filter=Condition(lambda: app.input_buffer.text == ""))
    def _end(event: KeyPressEvent) -> None:
        app.scroll_to_bottom()

    @kb.add("escape", "pageup")
    def _nicks_up(event: KeyPressEvent) -> None:
        app.scroll_nicklist(-app.nicklist_control.page())

    @kb.add("escape", "pagedown")
    def _nicks_down(event: KeyPressEvent) -> None:
        app.scroll_nicklist(app.nicklist_control.page())

    return kb


def search_bindings(app: ChatApp) -> KeyBindings:
    """Ctrl-R searches the scrollback; while searching, Up/Down (or Ctrl-R/Ctrl-S) move to
    the older/newer match, Enter stays there, Esc (Ctrl-G, Ctrl-C) goes back."""
    searching = Condition(lambda: app.search_state is not None)
    kb = KeyBindings()

    @kb.add("c-r")
    def _older(event: KeyPressEvent) -> None:
        app.search_step(older=True)

    @kb.add("c-s", filter=searching)
    def _newer(event: KeyPressEvent) -> None:
        app.search_step(older=False)

    @kb.add("escape", filter=searching)
    @kb.add("c-g", filter=searching)
    @kb.add("c-c", filter=searching, eager=True)
    def _cancel(event: KeyPressEvent) -> None:
        app.end_search(keep=False)

    return kb


def input_bindings(app: ChatApp) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("up")
    def _older(event: KeyPressEvent) -> None:
        app.history_older()

    @kb.add("down")
    def _newer(event: KeyPressEvent) -> None:
        app.history_newer()

    @kb.add("tab")
    def _complete(event: KeyPressEvent) -> None:
        app.complete(backwards=False)

    @kb.add("s-tab")
    def _complete_back(event: KeyPressEvent) -> None:
        app.complete(backwards=True)

    @kb.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        app.paste(event.data)

    return kb


def toggle_bindings(app: ChatApp) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("f2")
    def _nicklist(event: KeyPressEvent) -> None:
        app.toggle_nicklist()

    @kb.add("f3")
    def _mouse(event: KeyPressEvent) -> None:
        app.mouse_enabled = not app.mouse_enabled

    return kb


def quit_bindings(app: ChatApp) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("c-c")
    def _quit(event: KeyPressEvent) -> None:
        app.request_quit("chat-client")

    return kb


def paste_confirm_bindings(app: ChatApp) -> KeyBindings:
    pending = Condition(lambda: app.pending_paste is not None)
    kb = KeyBindings()

    @kb.add("y", filter=pending, eager=True)
    @kb.add("Y", filter=pending, eager=True)
    @kb.add("enter", filter=pending, eager=True)
    def _yes(event: KeyPressEvent) -> None:
        app.confirm_paste(True)

    @kb.add("n", filter=pending, eager=True)
    @kb.add("N", filter=pending, eager=True)
    @kb.add("escape", filter=pending, eager=True)
    @kb.add("c-c", filter=pending, eager=True)
    @kb.add("c-g", filter=pending, eager=True)
    def _no(event: KeyPressEvent) -> None:
        app.confirm_paste(False)

    @kb.add(Keys.Any, filter=pending, eager=True)
    def _swallow(event: KeyPressEvent) -> None:
        """Other keys do nothing while the question is open."""

    return kb


def build_key_bindings(app: ChatApp) -> KeyBindingsBase:
    return merge_key_bindings(
        [
            switching_bindings(app),
            scrolling_bindings(app),
            input_bindings(app),
            toggle_bindings(app),
            quit_bindings(app),
            search_bindings(app),
            paste_confirm_bindings(app),
        ]
    )
