"""mediamon: pull news feeds, keep what matches the analyst's topics, explain why.

The pipeline, one module each: fetch -> parse -> normalise -> score -> store -> query.
``pipeline`` wires them together; ``schedule`` runs it as a daemon; ``cli`` is the front door.
"""

__version__ = "0.1.0"
USER_AGENT = f"mediamon/{__version__} (+https://github.com/mediamon/mediamon)"
