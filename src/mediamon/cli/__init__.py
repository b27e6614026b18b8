"""The ``mediamon`` command. Thin: each command parses options, calls the library, prints.

Domain errors (config, query, database) become one-line messages and exit 1; only bugs
show a traceback. The click group and what the commands share are in ``app``; the commands
are in one module per group, imported when a command line needs it (``app.COMMANDS``):

    setup      init, paths
    run        run (the daemon, or --once)
    items      items, search, show
    stories    stories, stories show, stories explain
    feeds      feeds add/list/edit/remove/import/export, status
    relevance  score, eval, label, labels, rescore
    desk       export, import, vacuum, stats, report, alerts, serve
"""

from __future__ import annotations

import logging
import sys

from mediamon.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    try:
        cli(prog_name="mediamon")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


logging.getLogger("httpx").setLevel(logging.WARNING)
