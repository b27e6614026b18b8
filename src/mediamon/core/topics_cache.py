"""A config's compiled topics, loaded in milliseconds from a copy in the user's cache.

    compiled(TopicSet, topics, keep, since)   what TopicSet.compile(topics, keep, since) returns
      a copy for exactly these queries and this code exists -> unpickled (about 20 ms)
      it does not                      -> compiled (about 0.25 s for the default config's 30
                                          topics and 4,000 terms), and a copy written when
                                          compiling took WORTH_KEEPING or longer
      anything fails                   -> compiled, as without a cache

Why. Every process that scores compiles the config's topics first: `mediamon run` when it
starts, each `run --once` (a re-poll of unchanged feeds spent most of its time there),
`score`, `eval`, `rescore`. Parsing thousands of terms, stemming the stems and building the
prefilter is the same work each time the queries are the same.

A copy is named by a hash of the queries, the keep rule, the topics' date windows and the
code that compiles them (the source of ``topics`` and ``text``, OpenCC's table of
Traditional characters that folding uses, snowballstemmer's version, Python's), so an edited
config, another mediamon or another OpenCC compiles afresh; a query with an error
is never cached (compiling it raises, as without a cache). Copies live in
``$MEDIAMON_CACHE_DIR``, else the user's cache directory (``langid_cache.cache_root``),
under ``topics/``; the ``KEEP`` most recently used are kept. Each is written to a temporary
file and renamed into place. A copy that cannot be read is compiled again and replaced; a
cache that cannot be written (a read-only home) costs the compile and a debug line, nothing
else. The copy is a pickle, read only from the user's own cache directory.
``tests/test_topics_cache.py`` checks that a loaded copy judges every labelled text as the
compiled set does. The caller passes the ``TopicSet`` class, so that this module imports
nothing of ``core`` but the cache's place.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from mediamon.core.langid_cache import cache_root

if TYPE_CHECKING:
    from mediamon.core.topics import TopicSet

log = logging.getLogger("mediamon.topics")

WORTH_KEEPING = 0.05  # seconds of compiling that make a copy worth writing
KEEP = 8  # copies kept (one per config and mediamon version in use, at most)
_FOLDER = "topics"
_CODE = ("mediamon.core.topics", "mediamon.core.text")  # the modules a compiled set is made by
# Data a compiled set's terms were folded with (``text.traditional_to_simplified``): package,
# file under it.
_DATA = (("opencc", "dictionary/TSCharacters.txt"),)


@cache
def _code() -> bytes:
    """What the compiled form depends on besides the queries."""
    import snowballstemmer

    digest = hashlib.sha256()
    for name in _CODE:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        digest.update(Path(spec.origin).read_bytes())
    for package, file in _DATA:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
            data = Path(folder) / file
            digest.update(data.read_bytes() if data.is_file() else b"-")
    digest.update(f"{getattr(snowballstemmer, '__version__', '')}\0{sys.version}\0"
                  f"{pickle.HIGHEST_PROTOCOL}".encode())
    return digest.digest()


def _path(topics: Mapping[str, str], keep: str | None,
          since: Mapping[str, date] | None) -> Path:
    queries = json.dumps([list(topics.items()), keep,
                          sorted((name, day.isoformat()) for name, day in (since or {}).items())],
                         ensure_ascii=False)
    key = hashlib.sha256(_code() + queries.encode()).hexdigest()[:32]
    return cache_root() / _FOLDER / f"{key}.pickle"


def compiled(kind: type[TopicSet], topics: Mapping[str, str], keep: str | None = None,
             since: Mapping[str, date] | None = None) -> TopicSet:
    """``kind.compile(topics, keep, since)`` (``kind``: ``core.topics.TopicSet``), from a
    cached copy when there is one (see the module). Raises ``TopicError`` as ``compile``
    does."""
    try:
        path = _path(topics, keep, since)
    except Exception as exc:  # no cache directory can be named, a source unreadable
        log.debug("topics compiled without a cache (%s)", exc)
        return kind.compile(topics, keep, since)
    try:
        with open(path, "rb") as f:
            found = pickle.load(f)
        if not isinstance(found, kind):
            raise TypeError(f"not a topic set: {type(found).__name__}")
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be dropped (``_write``)
        return found
    except FileNotFoundError:
        pass
    except Exception as exc:  # damaged, or written by another layout: made again
        log.debug("cached topics at %s unreadable (%s): compiled again", path, exc)
    started = time.perf_counter()
    topic_set = kind.compile(topics, keep, since)
    if time.perf_counter() - started >= WORTH_KEEPING:
        _write(path, topic_set)
    return topic_set


def _write(path: Path, topic_set: TopicSet) -> None:
    """Write the copy (temporary file, then rename) and drop all but the ``KEEP`` most
    recently used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".topics-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(topic_set, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except Exception as exc:  # a read-only or full cache: compiled next time too
        log.debug("compiled topics not cached at %s (%s)", path, exc)
        return
    used = {}
    for copy in path.parent.glob("*.pickle"):
        with contextlib.suppress(OSError):  # another process may drop it meanwhile
            used[copy] = copy.stat().st_mtime_ns
    for old in sorted(used, key=used.__getitem__)[:-KEEP]:
        with contextlib.suppress(OSError):
            old.unlink(missing_ok=True)
