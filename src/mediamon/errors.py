"""One small hierarchy of errors. Each carries enough to say what went wrong where."""

from __future__ import annotations


class MediamonError(Exception):
    """Base of every error mediamon raises on purpose."""


class ConfigError(MediamonError):
    """A config file is wrong: the message names the file, the key and the reason."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = path, key, reason
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + reason)


class QueryError(MediamonError):
    """A topic query or search query is malformed; ``column`` is 1-based, 0 when unknown."""

    def __init__(self, reason: str, column: int = 0, query: str = "") -> None:
        self.reason, self.column, self.query = reason, column, query
        super().__init__(f"{reason} at column {column}" if column else reason)


class IngestError(MediamonError):
    """A feed could not be ingested; carries the feed URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class FetchError(IngestError):
    pass


class ParseError(IngestError):
    pass


class StoreError(MediamonError):
    """The database could not be opened, migrated or written."""


class ReadOnlyError(StoreError):
    """The database cannot be written (a read-only file, or a directory that cannot hold
    its ``-wal``/``-shm`` files); reading it may still work."""


class OpmlError(MediamonError):
    """An OPML document could not be read."""
