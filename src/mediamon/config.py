"""Find the config file, and load it (and the seed files it names) into typed, validated objects.

Every mistake is reported as ``ConfigError`` naming the file, the key and the reason, e.g.
``config/mediamon.toml: feeds[3].interval: "5x" is not a duration (use 30s, 15m, 2h)``,
before anything runs. Unknown keys are errors too: a typo must not be silently ignored.

Relative paths in a config file (database, seeds, local feed files) are relative to the
directory that holds the config file, so a config works from any working directory.

Which config (``find_config``), first found wins:
    --config FILE, then $MEDIAMON_CONFIG, then ./mediamon.toml, then mediamon.toml in the
    user's config directory (platformdirs: ~/.config/mediamon/ on Linux), then the built-in
    default (the project's config/mediamon.toml, shipped in the package with its seed).
The database is ``[database] path``, else mediamon.db in the user's data directory
(~/.local/share/mediamon/ on Linux), so every command finds the same one from anywhere.

This module reads files but fetches nothing and opens no database.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from urllib.parse import unquote, urlsplit

from mediamon import USER_AGENT
from mediamon.clock import duration, parse_duration
from mediamon.core.sources import Source, SourceRegistry, source_from
from mediamon.core.spikes import SpikeSettings
from mediamon.core.stories import StorySettings
from mediamon.errors import ConfigError, QueryError
from mediamon.store.postgres import is_postgres_url
from mediamon.types import FeedSource

if TYPE_CHECKING:  # not imported to read a config for listing (see ``load_config``)
    from mediamon.core.score import KeepMode
    from mediamon.core.topics import TopicSet

# core.score's KEEP_MODES, here so that reading a config imports no scorer (a test keeps
# the two the same).
KEEP_MODES: tuple[KeepMode, ...] = ("rule", "profile", "either", "both")

APP = "mediamon"
CONFIG_NAME = "mediamon.toml"
# The built-in default: links in the package to the top-level config/ and seeds/.
BUILTIN_CONFIG = Path(__file__).resolve().parent / "data" / "config" / CONFIG_NAME
BUILTIN_SEEDS = Path(__file__).resolve().parent / "data" / "seeds"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3}




def parse_size(value: object) -> int:
    """``"10MB"``, ``"512KiB"`` or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (use 512KB, 10MB)")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise ValueError(f'"{value}" is not a size (use 512KB, 10MB)')
        size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    if size <= 0:
        raise ValueError(f"{value!r} must be more than 0 bytes")
    return size


AlertWhen = Literal["items", "stories", "spikes"]
AlertMode = Literal["immediate", "digest"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = ""  # the `from` key
    to: tuple[str, ...] = ()
    starttls: bool = False  # plain connection, then STARTTLS (port 587)
    tls: bool = False  # TLS from the first byte, "SMTPS" (port 465)
    username: str | None = None
    password_env: str | None = None  # the environment variable holding the password


@dataclass(frozen=True)
class AlertSettings:
    name: str
    webhook: str | None = None
    smtp: SmtpSettings | None = None
    apprise: tuple[str, ...] = ()  # apprise URLs, a channel each (``apprise_channels``)
    secret: str | None = field(default=None, repr=False)  # signs the webhook's POSTs ...
    secret_env: str | None = None  # ... or the environment variable holding that secret
    when: AlertWhen = "items"
    min_score: float | None = None
    min_reach: int | None = None
    topic: str | None = None
    mode: AlertMode = "immediate"
    every: float = 6 * 3600.0  # digests only

    @property
    def channels(self) -> tuple[str, ...]:
        return ((("webhook",) if self.webhook else ()) + (("smtp",) if self.smtp else ())
                + tuple(self.apprise_channels))

    @property
    def apprise_channels(self) -> dict[str, str]:
        """Channel name -> apprise URL. A channel is named by its service (the URL's scheme:
        "slack", "tgram", "ntfy"...), "-2", "-3"... added for a second URL of one service.
        The name is what ``alert_sent`` records, so it stays the same when a token changes."""
        names: dict[str, str] = {}
        for url in self.apprise:
            service = url.split("://", 1)[0].lower()
            name, n = service, 1
            while name in names or name in ("webhook", "smtp"):
                n += 1
                name = f"{service}-{n}"
            names[name] = url
        return names


@dataclass(frozen=True)
class RetentionSettings:
    unkept_after: float | None = None   # seconds
    fetch_log_after: float | None = None
    kept_after: float | None = None     # None: kept items are never deleted


# -- [articles] (article.py): fetch and extract the pages of kept items ----------------------
@dataclass(frozen=True)
class ArticleSettings:
    enabled: bool = False  # needs trafilatura: pip install 'mediamon[articles]'
    per_pass: int = 50  # article pages fetched per feed pass at most (the rest wait)
    timeout: float = 20.0  # one page, connecting to the last byte
    max_bytes: int = 5_000_000  # a larger page is not read ("too-large")
# -- end [articles]


@dataclass(frozen=True)
class FetchSettings:
    timeout: float = 30.0
    max_bytes: int = 10_000_000
    user_agent: str = USER_AGENT
    concurrency: int = 16
    per_host: int = 2
    # Politeness and throughput.
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # the longest silence while waiting for data
    max_retry_after: float = 86_400.0  # a Retry-After longer than this is capped
    http2: bool = False  # needs the h2 package: pip install 'mediamon[http2]'
    # None: the environment's (HTTPS_PROXY, NO_PROXY...); "": none; else this proxy's URL.
    proxy: str | None = None
    workers: int | None = None  # parser processes; None = one per CPU, 0 = in-process
    # A parse with no result after this long is stuck: the workers are restarted and the
    # feed is tried once more, then recorded as failed (workers.py).
    worker_timeout: float = 60.0


@dataclass(frozen=True)
class ScheduleSettings:
    interval: float = 1800.0  # until a feed's publishing rate is known
    jitter: float = 120.0
    # The adaptive interval's bounds, and when a failing feed counts as dead.
    min_interval: float = 300.0
    max_interval: float = 86_400.0
    dead_after: float = 7 * 86_400.0


@dataclass(frozen=True)
class ProfileSettings:
    seeds: tuple[Path, ...] = ()
    threshold: float = 0.25


@dataclass(frozen=True)
class KeepSettings:
    rule: str | None = None
    mode: KeepMode = "rule"
    keep_all: bool = False


@dataclass(frozen=True)
class Config:
    path: Path
    db_path: Path
    fetch: FetchSettings
    schedule: ScheduleSettings
    profile: ProfileSettings
    keep: KeepSettings
    topics: Mapping[str, str]
    feeds: tuple[FeedSource, ...]
    topic_set: TopicSet = field(repr=False, compare=False)
    seed_texts: tuple[str, ...] = field(default=(), repr=False, compare=False)
    stories: StorySettings = field(default_factory=StorySettings)  # [stories]
    # [retention] (mediamon vacuum).
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    alerts: tuple[AlertSettings, ...] = ()  # [[alerts]] (alerts.py)
    # Who each outlet is: data/sources.toml, then the config's [[sources]] (core/sources.py).
    sources: SourceRegistry = field(default_factory=SourceRegistry)
    # [database] url (or a postgresql:// --db / MEDIAMON_DB): PostgreSQL instead of the
    # SQLite file at db_path; lease: how long a daemon holds the due feeds it claimed.
    db_url: str | None = None
    db_lease: float | None = None
    articles: ArticleSettings = field(default_factory=ArticleSettings)  # [articles]
    spikes: SpikeSettings = field(default_factory=SpikeSettings)  # [spikes] (desk/trends.py)


class _NotCompiled:
    """The ``topic_set`` of a config read for listing (``load_config(reading=True)``): its
    topics were not compiled, so scoring with it is a bug, and says so."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("this config was read for listing stored items: its topics are "
                           "not compiled (load it without reading=True to score)")


T = TypeVar("T")
_NONE: tuple[str, ...] = ()  # the default of list-valued keys


class _Section:
    """Reads one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(self, path: Path, prefix: str, data: object) -> None:
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            raise ConfigError(str(path), prefix, f"must be a table, not {_kind(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(str(self.path), self.key(name), reason)

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        self.used.add(name)
        if name not in self.data:
            return default
        try:
            return convert(self.data[name])
        except (ValueError, TypeError) as exc:
            raise self.error(name, str(exc)) from None

    def finish(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.error(extra[0], "unknown key" + _suggest(extra[0], self.used))


def _suggest(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(sorted(known))})"


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {_kind(value)}")
    return value


def _postgres_url(value: object) -> str:
    """``database.url``: a ``postgresql://`` (or ``postgres://``) URL."""
    text = _nonempty_string(value)
    if not is_postgres_url(text):
        raise ValueError(f"{text!r} is not a postgresql:// URL")
    return text


def _nonempty_string(value: object) -> str:
    text = _string(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, not {_kind(value)}")
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")
    return value


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number between 0 and 1, not {_kind(value)}")
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, not {value}")
    return float(value)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, not {_kind(value)}")
    return value


def _string_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("must be an array of strings")
    return tuple(v.strip() for v in value if v.strip())


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than 0s")
    return seconds


def _worker_count(value: object) -> int:
    """``fetch.workers``: 0 (parse in the main process) up to 64 processes."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, not {_kind(value)}")
    if not 0 <= value <= 64:
        raise ValueError(f"must be between 0 and 64, not {value}")
    return value


def _h2_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("h2") is not None


def _proxy(value: object) -> str:
    """``fetch.proxy``: a proxy URL, or "none" / "" for no proxy ("" in both cases)."""
    from mediamon.fetch import proxy_problem, redact_proxy

    url = _string(value).strip()
    if url.lower() in ("", "none"):
        return ""
    problem = proxy_problem(url)
    if problem:
        raise ValueError(f'"{redact_proxy(url)}": {problem}')
    return url


def _check_environment_proxies(fsec: _Section) -> None:
    """With ``fetch.proxy`` unset the environment's proxies are used: check them now, so an
    unusable one is a config error rather than a failure in the middle of a poll."""
    from mediamon.fetch import proxy_problem, proxy_routes, redact_proxy

    for pattern, url in proxy_routes(None).items():
        problem = proxy_problem(url) if url else None
        if url and problem:
            name = pattern.split("://")[0].upper() + "_PROXY"
            raise fsec.error("proxy", f'not set, so the environment\'s {name}="'
                                      f'{redact_proxy(url)}" is used, and {problem}; set '
                                      'fetch.proxy to another proxy, or "none"')


def _keep_mode(value: object) -> KeepMode:
    text = _string(value)
    for mode in KEEP_MODES:
        if text == mode:
            return mode
    raise ValueError(f'"{text}" is not one of: {", ".join(KEEP_MODES)}')


def resolve_path(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def feed_url(base: Path, value: str) -> str:
    """Feed URLs stay as they are; local paths become absolute so they work from anywhere."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
        return value
    return str(resolve_path(base, value).resolve())


def check_feed_url(base: Path, value: str, *, must_exist: bool = True) -> str:
    """A feed's URL as mediamon keeps it (``feed_url``), or ValueError saying why it
    cannot be a feed: a feed is an http(s) URL with a host name, or a local file that
    exists (a path, relative to ``base``, or a ``file://`` URL). Anything else would only
    fail at every poll. Used for ``mediamon feeds add`` and, with ``must_exist=False``,
    for ``[[feeds]] url``: a config's local file that is missing today (deleted, on a
    share not mounted yet) fails that feed's polls with the reason, never every command."""
    if not value.strip():
        raise ValueError("is empty")
    is_url = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value) is not None
    if is_url:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError on a malformed port)
        except ValueError as exc:
            raise ValueError(f'"{value}" is not a valid URL ({exc})') from None
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if any(c.isspace() for c in value):
                raise ValueError(f'"{value}" contains a space')
            if not parts.hostname:
                raise ValueError(f'"{value}" has no host name')
            return value
        if scheme != "file":
            raise ValueError(f'"{value}" is not an http(s) URL, file:// URL or local path')
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f'"{value}": a file:// URL names a local file, not one on '
                             f"{parts.netloc}")
        from urllib.request import url2pathname  # here: urllib.request costs every start 20 ms

        path = Path(url2pathname(unquote(parts.path)))
        if not path.exists() and must_exist:
            raise ValueError(f'"{value}": no such file: {path}')
    else:
        path = resolve_path(base, value).resolve()
        # A host name without its scheme is a typo wherever it is written.
        host_like = re.match(r"^[\w-]+(\.[\w-]+)*\.[a-zA-Z]{2,}(:\d+)?(/|$)", value)
        if not path.exists() and (must_exist or host_like):
            hint = f"; did you mean https://{value}?" if host_like else ""
            raise ValueError(f'"{value}" is neither an http(s) URL nor an existing file '
                             f"(no such file: {path}){hint}")
    if path.exists() and not path.is_file():
        raise ValueError(f'"{value}" is not a regular file: {path}')
    return value if is_url else str(path)


def user_config_dir() -> Path:
    """Where ``mediamon init`` writes, and ``find_config`` looks, by default."""
    import platformdirs

    return platformdirs.user_config_path(APP)


def user_data_dir() -> Path:
    """Where the database lives unless the config says otherwise."""
    import platformdirs

    return platformdirs.user_data_path(APP)


def config_candidates(explicit: str | Path | None = None) -> list[tuple[Path, str]]:
    """The places ``find_config`` tries, in order, with how each was chosen."""
    if explicit:
        return [(Path(explicit), "--config")]
    env = os.environ.get("MEDIAMON_CONFIG")
    if env:
        return [(Path(env), "$MEDIAMON_CONFIG")]
    return [(Path(CONFIG_NAME), "the current directory"),
            (user_config_dir() / CONFIG_NAME, "the user config directory"),
            (BUILTIN_CONFIG, "built in")]


def find_config(explicit: str | Path | None = None) -> Path:
    """The config file to use (see the module). An explicit one is returned even when it
    does not exist, so that loading it reports the name the user gave."""
    candidates = config_candidates(explicit)
    if len(candidates) == 1:
        return candidates[0][0]
    for path, _how in candidates[:-1]:
        if path.is_file():
            return path
    return candidates[-1][0]


@dataclass(frozen=True)
class Initialised:
    """What ``init_config`` wrote."""

    config: Path
    seeds: tuple[Path, ...]
    database: Path
    found_by_default: bool  # in the user config directory, where find_config looks


def init_config(directory: Path | None = None, *, force: bool = False) -> Initialised:
    """Write the built-in config and its seeds to ``directory`` (default: the user config
    directory) as a starting point. Refuses to overwrite a config unless ``force``."""
    target = Path(directory) if directory is not None else user_config_dir()
    path = target / CONFIG_NAME
    if path.exists() and not force:
        raise ConfigError(str(path), "", "already exists (mediamon init --force overwrites it)")
    # The built-in config names its seeds as ../seeds/NAME; the copy keeps them beside it.
    text = BUILTIN_CONFIG.read_text(encoding="utf-8").replace('"../seeds/', '"seeds/')
    seeds = []
    try:
        (target / "seeds").mkdir(parents=True, exist_ok=True)
        for seed in sorted(BUILTIN_SEEDS.glob("*.txt")):
            copy = target / "seeds" / seed.name
            if force or not copy.exists():
                copy.write_bytes(seed.read_bytes())
            seeds.append(copy)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        where = exc.filename or target
        raise ConfigError(str(where), "", f"cannot write: {exc.strerror or exc}") from None
    config = load_config(path)
    home = user_config_dir() / CONFIG_NAME
    return Initialised(path, tuple(seeds), config.db_path,
                       found_by_default=path.resolve() == home.resolve())


def _read_toml(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(where, "",
                          "no such config file (pass --config or set MEDIAMON_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(where, "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(where, "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, "", f"not valid TOML: {exc}") from None


def _absolute_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """A copy of ``raw`` with its relative paths made absolute, so it can be merged into a
    config that lives elsewhere. Values of the wrong type are left for validation to report."""
    out = dict(raw)
    db = out.get("database")
    if isinstance(db, dict) and isinstance(db.get("path"), str):
        out["database"] = {**db, "path": str(resolve_path(base, db["path"]))}
    profile = out.get("profile")
    if isinstance(profile, dict) and isinstance(profile.get("seeds"), list):
        out["profile"] = {**profile, "seeds": [
            str(resolve_path(base, s)) if isinstance(s, str) else s for s in profile["seeds"]]}
    feeds = out.get("feeds")
    if isinstance(feeds, list):
        out["feeds"] = [
            {**f, "url": feed_url(base, f["url"])}
            if isinstance(f, dict) and isinstance(f.get("url"), str) else f
            for f in feeds
        ]
    return out


def load_config(path: str | Path, *, db_override: str | Path | None = None,
                reading: bool = False) -> Config:
    """Read and validate a config file. Raises ConfigError naming file, key and reason.

    ``reading=True``: for commands that only read stored items (listings, search, show):
    the topic queries are not parsed (a quarter of such a command's time) and
    ``topic_set`` raises if used (such a config must never score), and the environment's
    proxies are not checked (nothing is fetched).

    A config may start with ``extends = "other.toml"``: the other file is read first, and
    each section this file has replaces that section whole, except ``[topics]``, which is
    merged topic by topic.
    """
    path = Path(path)
    raw = _read_toml(path)
    parent = raw.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(str(path), "extends", f"must be a string, not {_kind(parent)}")
        parent_path = resolve_path(path.parent, parent)
        if parent_path.resolve() == path.resolve():
            raise ConfigError(str(path), "extends", "a config cannot extend itself")
        if not parent_path.is_file():
            raise ConfigError(str(path), "extends", f'"{parent}": no such file ({parent_path})')
        base_raw = _read_toml(parent_path)
        if "extends" in base_raw:
            raise ConfigError(str(parent_path), "extends", "only one level of extends is allowed")
        merged = _absolute_paths(base_raw, parent_path.parent.resolve())
        for key, value in raw.items():
            if key == "topics" and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        raw = merged
    return config_from_dict(raw, path=path, db_override=db_override, reading=reading)


def config_from_dict(
    raw: dict[str, Any], *, path: Path, db_override: str | Path | None = None,
    reading: bool = False,
) -> Config:
    base = path.parent
    where = str(path)
    top = _Section(path, "", raw)

    database = _Section(path, "database", top.get("database", {}, lambda v: v))
    db_value = database.get("path", None, _nonempty_string)
    url_value = database.get("url", None, _postgres_url)
    db_lease = database.get("lease", None, _positive_duration)
    if db_value and url_value:
        raise ConfigError(where, "database.url", "give database.path (SQLite) or "
                          "database.url (PostgreSQL), not both")
    database.finish()
    env_db = os.environ.get("MEDIAMON_DB")
    chosen = db_override or env_db
    db_url = (str(chosen) if is_postgres_url(str(chosen)) else None) if chosen else url_value
    db_path = (Path(db_override) if db_override and not db_url else
               Path(env_db) if env_db and not db_url
               else resolve_path(base, db_value) if db_value
               else user_data_dir() / "mediamon.db")
    db_path = db_path.resolve()

    fsec = _Section(path, "fetch", top.get("fetch", {}, lambda v: v))
    defaults = FetchSettings()
    fetch = FetchSettings(
        timeout=fsec.get("timeout", defaults.timeout, _positive_duration),
        max_bytes=fsec.get("max_bytes", defaults.max_bytes, parse_size),
        user_agent=fsec.get("user_agent", defaults.user_agent, _nonempty_string),
        concurrency=fsec.get("concurrency", defaults.concurrency, _positive_int),
        per_host=fsec.get("per_host", defaults.per_host, _positive_int),
        connect_timeout=fsec.get("connect_timeout", defaults.connect_timeout,
                                 _positive_duration),
        read_timeout=fsec.get("read_timeout", defaults.read_timeout, _positive_duration),
        max_retry_after=fsec.get("max_retry_after", defaults.max_retry_after,
                                 _positive_duration),
        http2=fsec.get("http2", defaults.http2, _boolean),
        proxy=fsec.get("proxy", defaults.proxy, _proxy),
        workers=fsec.get("workers", defaults.workers, _worker_count),
        worker_timeout=fsec.get("worker_timeout", defaults.worker_timeout,
                                _positive_duration),
    )
    if fetch.http2 and not _h2_available():
        raise fsec.error("http2", "needs the h2 package (pip install 'mediamon[http2]')")
    if fetch.proxy is None and not reading:
        _check_environment_proxies(fsec)
    fsec.finish()

    ssec = _Section(path, "schedule", top.get("schedule", {}, lambda v: v))
    schedule = _schedule(ssec)
    ssec.finish()

    psec = _Section(path, "profile", top.get("profile", {}, lambda v: v))
    seed_names = psec.get("seeds", _NONE, _string_list)
    threshold = psec.get("threshold", ProfileSettings.threshold, _fraction)
    psec.finish()
    seeds = []
    texts = []
    for i, name in enumerate(seed_names):
        seed = resolve_path(base, name)
        try:
            texts.append(seed.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(where, f"profile.seeds[{i}]", f"no such seed file: {seed}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(where, f"profile.seeds[{i}]", f"cannot read {seed}: {exc}") from None
        seeds.append(seed)
    profile = ProfileSettings(tuple(seeds), threshold)

    ksec = _Section(path, "keep", top.get("keep", {}, lambda v: v))
    keep = KeepSettings(
        rule=ksec.get("rule", None, _nonempty_string),
        mode=ksec.get("mode", KeepSettings.mode, _keep_mode),
        keep_all=ksec.get("keep_all", False, _boolean),
    )
    ksec.finish()
    if keep.mode in ("profile", "either", "both") and not seeds:
        raise ConfigError(where, "keep.mode", f'"{keep.mode}" needs profile.seeds')

    topics, since = _topics(path, top.get("topics", {}, lambda v: v))
    if not topics and keep.mode != "profile":
        raise ConfigError(where, "topics",
                          "define at least one topic (or use keep.mode = \"profile\")")
    if reading:
        topic_set = cast("TopicSet", _NotCompiled())
    else:
        from mediamon.core.topics import TopicError, TopicSet
        from mediamon.core.topics_cache import compiled

        try:
            topic_set = compiled(TopicSet, topics, keep.rule, since)
        except TopicError as exc:
            raise ConfigError(where, exc.key, str(QueryError(exc.reason, exc.column))) from None

    feeds = _feeds(path, base, top.get("feeds", [], lambda v: v), schedule)
    stories = _stories(path, top.get("stories", {}, lambda v: v))
    retention = _retention(path, top.get("retention", {}, lambda v: v))
    alerts = _alerts(path, top.get("alerts", [], lambda v: v), topics)
    sources = _sources(path, top.get("sources", [], lambda v: v))
    stories = replace(stories, outlet_aliases=sources.aliases())  # one outlet, one reach
    articles = _articles(path, top.get("articles", {}, lambda v: v))
    spikes = _spikes(path, top.get("spikes", {}, lambda v: v))
    top.finish()
    return Config(path, db_path, fetch, schedule, profile, keep, topics, feeds, topic_set,
                  tuple(texts), stories=stories, retention=retention, alerts=alerts,
                  db_url=db_url, db_lease=db_lease, articles=articles, sources=sources,
                  spikes=spikes)


def _schedule(ssec: _Section) -> ScheduleSettings:
    """``[schedule]``, with the adaptive interval's range made explicit: a feed is polled
    about once per new item, between ``min_interval`` and ``max_interval``. An interval the
    user wrote is never exceeded on its own account (only backoff after errors and a
    server's Retry-After wait longer, and ``mediamon status`` says so): without
    ``max_interval``, a written ``interval`` is the maximum, and ``min_interval`` is 5m or
    that interval when shorter. Without either, the range is 5m to 24h."""
    d = ScheduleSettings()
    written = "interval" in ssec.data
    interval = ssec.get("interval", d.interval, _positive_duration)
    low = ssec.get("min_interval", None, _positive_duration)
    high = ssec.get("max_interval", None, _positive_duration)
    max_interval = high if high is not None else interval if written else d.max_interval
    min_interval = low if low is not None else min(d.min_interval, interval, max_interval)
    if written and low is not None and interval < low:
        raise ssec.error("interval", f"{duration(interval)} is shorter than "
                                     f"min_interval ({duration(low)})")
    if written and high is not None and interval > high:
        raise ssec.error("interval", f"{duration(interval)} is longer than "
                                     f"max_interval ({duration(high)})")
    if min_interval > max_interval:
        raise ssec.error("min_interval", f"{duration(min_interval)} is longer than "
                                         f"max_interval ({duration(max_interval)})")
    return ScheduleSettings(
        interval=interval,
        jitter=ssec.get("jitter", d.jitter, parse_duration),
        min_interval=min_interval,
        max_interval=max_interval,
        dead_after=ssec.get("dead_after", d.dead_after, _positive_duration),
    )


def _small_int(limit: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        number = _positive_int(value)
        if number > limit:
            raise ValueError(f"must be at most {limit}, not {number}")
        return number

    return convert


def _stories(path: Path, value: object) -> StorySettings:
    """``[stories]``: how near-copies are grouped into stories (docs/stories.md)."""
    sec = _Section(path, "stories", value)
    d = StorySettings()
    settings = StorySettings(
        threshold=sec.get("threshold", d.threshold, _fraction),
        window=sec.get("window", d.window, _positive_duration),
        bands=sec.get("bands", d.bands, _small_int(256)),
        rows=sec.get("rows", d.rows, _small_int(16)),
        min_terms=sec.get("min_terms", d.min_terms, _small_int(1000)),
        headline_window=sec.get("headline_window", d.headline_window, parse_duration),
        headline_min_terms=sec.get("headline_min_terms", d.headline_min_terms,
                                   _small_int(1000)),
        series_gap=sec.get("series_gap", d.series_gap, parse_duration),
    )
    sec.finish()
    if settings.threshold == 0:
        raise sec.error("threshold", "must be more than 0 (0 would put everything in one story)")
    if settings.window < 60:
        raise sec.error("window", f"must be at least 1m, not {settings.window:g}s")
    return settings


def _articles(path: Path, value: object) -> ArticleSettings:
    """``[articles]``: fetching the article pages of kept items (docs/articles.md)."""
    sec = _Section(path, "articles", value)
    d = ArticleSettings()
    settings = ArticleSettings(
        enabled=sec.get("enabled", d.enabled, _boolean),
        per_pass=sec.get("per_pass", d.per_pass, _positive_int),
        timeout=sec.get("timeout", d.timeout, _positive_duration),
        max_bytes=sec.get("max_bytes", d.max_bytes, parse_size),
    )
    if settings.enabled:
        from mediamon.core.extract import available

        if not available():
            raise sec.error("enabled", "needs trafilatura (pip install 'mediamon[articles]')")
    sec.finish()
    return settings


# -- [spikes] (core/spikes.py, desk/trends.py): volume spikes per topic and story -----------
def _whole_hours(low: int, high: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        seconds = parse_duration(value)
        if seconds % 3600:
            raise ValueError(f"must be whole hours (6h, 2d), not {duration(seconds)}")
        hours = int(seconds // 3600)
        if not low <= hours <= high:
            raise ValueError(f"must be from {duration(low * 3600)} to {duration(high * 3600)}, "
                             f"not {duration(seconds)}")
        return hours

    return convert


def _number(low: float) -> Callable[[object], float]:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"must be a number, not {_kind(value)}")
        if value < low:
            raise ValueError(f"must be at least {low:g}, not {value:g}")
        return float(value)

    return convert


def _spikes(path: Path, value: object) -> SpikeSettings:
    """``[spikes]``: when a topic's or story's volume counts as a surge (docs/alerts.md)."""
    sec = _Section(path, "spikes", value)
    d = SpikeSettings()
    settings = SpikeSettings(
        enabled=sec.get("enabled", d.enabled, _boolean),
        window=sec.get("window", d.window, _whole_hours(1, 7 * 24)),
        baseline=sec.get("baseline", d.baseline, _whole_hours(24, 90 * 24)),
        threshold=sec.get("threshold", d.threshold, _fraction),
        min_count=sec.get("min_count", d.min_count, _positive_int),
        min_ratio=sec.get("min_ratio", d.min_ratio, _number(1.0)),
        min_rate=sec.get("min_rate", d.min_rate, _number(0.0)),
        cooldown=sec.get("cooldown", d.cooldown, _whole_hours(0, 90 * 24)),
        daily_cycle=sec.get("daily_cycle", d.daily_cycle, _boolean),
    )
    sec.finish()
    if settings.threshold == 0:
        raise sec.error("threshold", "must be more than 0 (0 would never fire)")
    return settings
# -- end [spikes]


BUILTIN_SOURCES = Path(__file__).resolve().parent / "data" / "sources.toml"


@lru_cache(maxsize=1)
def builtin_sources() -> tuple[Source, ...]:
    """The registry shipped with mediamon (``data/sources.toml``), read once."""
    with BUILTIN_SOURCES.open("rb") as f:
        entries = tomllib.load(f)["sources"]
    return tuple(source_from(entry) for entry in entries)


def _sources(path: Path, value: object) -> SourceRegistry:
    """``[[sources]]``: outlets added to the built-in registry, or overriding its entries
    for the domains they list (core/sources.py)."""
    if not isinstance(value, list):
        raise ConfigError(str(path), "sources", f"must be a list of tables ([[sources]]), "
                          f"not {_kind(value)}")
    own = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(str(path), f"sources[{i}]", f"must be a table, not {_kind(entry)}")
        try:
            own.append(source_from(entry))
        except ValueError as exc:
            key, _, reason = str(exc).partition(": ")
            raise ConfigError(str(path), f"sources[{i}].{key}", reason) from None
    return SourceRegistry((*builtin_sources(), *own))


def _retention(path: Path, value: object) -> RetentionSettings:
    """``[retention]``: how long non-kept items, fetch logs and kept items stay."""
    sec = _Section(path, "retention", value)
    settings = RetentionSettings(
        unkept_after=sec.get("unkept_after", None, _positive_duration),
        fetch_log_after=sec.get("fetch_log_after", None, _positive_duration),
        kept_after=sec.get("kept_after", None, _positive_duration),
    )
    sec.finish()
    return settings


_ALERT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


def _choice(*choices: str) -> Callable[[object], Any]:  # Any: the caller's Literal
    def convert(value: object) -> str:
        text = _string(value)
        if text not in choices:
            raise ValueError(f'"{text}" is not one of: {", ".join(choices)}')
        return text

    return convert


def _http_url(value: object) -> str:
    url = _nonempty_string(value)
    if not re.match(r"^https?://[^/\s]+", url) or any(c.isspace() for c in url):
        raise ValueError(f'"{url}" is not an http(s) URL')
    return url


def _address(value: object) -> str:
    text = _nonempty_string(value)
    if not _ADDRESS.fullmatch(text):
        raise ValueError(f'"{text}" is not an email address (user@example.org)')
    return text


def _addresses(value: object) -> tuple[str, ...]:
    found = _string_list(value)
    if not found:
        raise ValueError("must list at least one address")
    return tuple(_address(a) for a in found)


def _port(value: object) -> int:
    number = _positive_int(value)
    if number > 65535:
        raise ValueError(f"must be at most 65535, not {number}")
    return number


def _env_name(value: object) -> str:
    text = _nonempty_string(value)
    if not _ENV_NAME.fullmatch(text):
        raise ValueError(f'"{text}" is not an environment variable name')
    return text


_APPRISE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _apprise_urls(value: object) -> tuple[str, ...]:
    """``apprise``: one URL or a list of them. Only the shape is checked here (importing
    apprise to parse them would slow every command); what apprise cannot use fails that
    channel when sending, in one line naming the alert."""
    if not (isinstance(value, str) or (isinstance(value, list)
                                       and all(isinstance(v, str) for v in value))):
        raise TypeError(f"must be a URL or an array of URLs, not {_kind(value)}")
    urls = [value] if isinstance(value, str) else value
    if not urls:
        raise ValueError("must list at least one URL")
    for n, url in enumerate(urls, 1):
        if not _APPRISE_URL.fullmatch(url.strip()):
            raise ValueError(f"item {n} is not an apprise URL (service://..., e.g. "
                             "slack://, msteams://, tgram://, matrix://, discord://, ntfy://)")
    return tuple(url.strip() for url in urls)


def _apprise_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("apprise") is not None


def _smtp(path: Path, prefix: str, value: object) -> SmtpSettings:
    sec = _Section(path, prefix, value)
    host = sec.get("host", "", _nonempty_string)
    sender = sec.get("from", "", _address)
    to = sec.get("to", _NONE, _addresses)
    for name in ("host", "from", "to"):
        if name not in sec.data:
            raise sec.error(name, "missing (smtp needs host, from and to)")
    settings = SmtpSettings(
        host=host, sender=sender, to=to,
        port=sec.get("port", 25, _port),
        starttls=sec.get("starttls", False, _boolean),
        tls=sec.get("tls", False, _boolean),
        username=sec.get("username", None, _nonempty_string),
        password_env=sec.get("password_env", None, _env_name),
    )
    if settings.tls and settings.starttls:
        raise sec.error("tls", "choose one: tls (TLS from the start, usually port 465) or "
                               "starttls (usually port 587)")
    if settings.username and not settings.password_env:
        raise sec.error("password_env", "missing: with username, name the environment "
                                        "variable that holds the password")
    sec.finish()
    return settings


def _alerts(path: Path, value: object, topics: Mapping[str, str]) -> tuple[AlertSettings, ...]:
    """``[[alerts]]``: webhook, email and/or apprise URLs for new kept items or stories."""
    if not isinstance(value, list):
        raise ConfigError(str(path), "alerts", "must be an array of tables ([[alerts]])")
    alerts: list[AlertSettings] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(value):
        sec = _Section(path, f"alerts[{i}]", entry)
        name = sec.get("name", "", _nonempty_string)
        if "name" not in sec.data:
            raise sec.error("name", "missing (every alert needs a name)")
        if not _ALERT_NAME.fullmatch(name):
            raise sec.error("name", f'"{name}": use letters, digits, _, - and .')
        if name in names:
            raise sec.error("name", f"duplicate of alerts[{names[name]}]")
        names[name] = i
        webhook = sec.get("webhook", None, _http_url)
        smtp = None
        if "smtp" in sec.data:
            sec.used.add("smtp")
            smtp = _smtp(path, f"alerts[{i}].smtp", sec.data["smtp"])
        apprise_urls = sec.get("apprise", _NONE, _apprise_urls)
        if apprise_urls and not _apprise_available():
            raise sec.error("apprise", "needs the apprise package "
                                       "(pip install 'mediamon[notify]')")
        secret = sec.get("secret", None, _nonempty_string)
        secret_env = sec.get("secret_env", None, _env_name)
        for key in ("secret", "secret_env"):
            if key in sec.data and webhook is None:
                raise sec.error(key, "only for a webhook (it signs the webhook's POSTs)")
        if secret is not None and secret_env is not None:
            raise sec.error("secret_env", "choose one: secret (the key itself) or secret_env "
                                          "(the environment variable that holds it)")
        mode = cast(AlertMode, sec.get("mode", "immediate", _choice("immediate", "digest")))
        if "every" in sec.data and mode != "digest":
            raise sec.error("every", 'only for mode = "digest"')
        topic = sec.get("topic", None, _nonempty_string)
        if topic is not None and topic not in topics:
            raise sec.error("topic", f'"{topic}" is not a topic in [topics]')
        alerts.append(AlertSettings(
            name=name, webhook=webhook, smtp=smtp, apprise=apprise_urls, secret=secret,
            secret_env=secret_env,
            when=sec.get("when", "items", _choice("items", "stories", "spikes")),
            min_score=sec.get("min_score", None, _fraction),
            min_reach=sec.get("min_reach", None, _small_int(10_000)),
            topic=topic, mode=mode,
            every=sec.get("every", AlertSettings.every, _positive_duration),
        ))
        if alerts[-1].every < 60:
            raise sec.error("every", f"must be at least 1m, not {alerts[-1].every:g}s")
        if alerts[-1].when == "spikes" and alerts[-1].min_score is not None:
            raise sec.error("min_score", 'not for when = "spikes" (a surge has no item score)')
        sec.finish()
        if webhook is None and smtp is None and not apprise_urls:
            raise sec.error("webhook", "missing: an alert needs a webhook and/or "
                                       "[alerts.smtp] and/or apprise URLs")
    return tuple(alerts)


def _day(value: object) -> date:
    """A TOML date (``2021-08-15``) or the same as a string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be a date such as 2021-08-15, not {value!r}")


def _topics(path: Path, value: object) -> tuple[dict[str, str], dict[str, date]]:
    """The topic queries, and the first publication day of the topics that give one
    (``since``: before it the topic does not match; see ``TopicSet.compile``)."""
    section = _Section(path, "topics", value)
    topics: dict[str, str] = {}
    since: dict[str, date] = {}
    for name in list(section.data):
        section.used.add(name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise section.error(name, "topic names are letters, digits, _ and - (used as @name)")
        topic = _Section(path, f"topics.{name}", section.data[name])
        topics[name] = topic.get("query", "", _nonempty_string)
        topic.get("description", "", _string)
        first = topic.get("since", None, _day)
        if first is not None:
            since[name] = first
        if "query" not in topic.data:
            raise topic.error("query", "missing (every topic needs a query)")
        topic.finish()
    return topics, since


def _feeds(path: Path, base: Path, value: object,
           schedule: ScheduleSettings) -> tuple[FeedSource, ...]:
    if not isinstance(value, list):
        raise ConfigError(str(path), "feeds", "must be an array of tables ([[feeds]])")
    feeds: list[FeedSource] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(value):
        sec = _Section(path, f"feeds[{i}]", entry)
        url = sec.get("url", "", _nonempty_string)
        if "url" not in sec.data:
            raise sec.error("url", "missing (every feed needs a url)")
        try:
            url = check_feed_url(base, url, must_exist=False)
        except ValueError as exc:
            raise sec.error("url", str(exc)) from None
        if url in seen:
            raise sec.error("url", f"duplicate of feeds[{seen[url]}]")
        seen[url] = i
        feeds.append(
            FeedSource(
                url=url,
                name=sec.get("name", None, _nonempty_string),
                tags=sec.get("tags", cast("tuple[str, ...]", ()), _string_list),
                interval=sec.get("interval", None, _positive_duration),
                origin="config",
            )
        )
        sec.finish()
    return tuple(feeds)
