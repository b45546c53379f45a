"""The full-screen prompt_toolkit view of a client Session (reads the model, never owns it)."""
