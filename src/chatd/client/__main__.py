"""`python -m chatd.client` runs chat-client."""

from .cli import main

raise SystemExit(main())
