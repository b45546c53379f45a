"""chat-client: the terminal client for chatd (and any IRC server).

session (sans-IO state) ← transport (asyncio socket) ; commands, completion, history,
formatting (pure) ; ui/ (prompt_toolkit view) ; linemode (pipes) ; cli (entry point).
See docs/client.md.
"""
