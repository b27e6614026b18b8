"""mediamon: pull news feeds, keep what matches the analyst's topics, explain why.

The rooms (docs/architecture.md): ``core`` decides (parse, normalise, score, stories, when to
poll) without I/O; ``fetch`` and ``store`` are the edges; ``pipeline`` wires one feed pass,
``schedule`` runs it as a daemon; ``desk`` is the analyst's tools; ``cli`` is the front door.
"""

__version__ = "0.1.0"
USER_AGENT = f"mediamon/{__version__} (+https://github.com/mediamon/mediamon)"
