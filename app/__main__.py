"""`python -m app`: the `huddle` command line (app/server/cli.py)."""

from app.server.cli import main

main()
