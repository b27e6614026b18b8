"""py3langid's model, loaded in milliseconds from an uncompressed copy in the user's cache.

    identifier(langid)   py3langid.langid (the module) -> its LanguageIdentifier
      the copy exists           -> its arrays mapped from the files (np.load mmap_mode)
      it does not               -> made once from the packaged model, then mapped
      anything fails            -> the packaged model, as py3langid loads it (about 0.35 s)

Why. py3langid ships its model as one LZMA-compressed file of 4.6 MB, and every process that
detects a language spends about 0.35 s decompressing it to 68 MB: the first pass of a small
``run --once``, each CLI command that detects a language, and the parse workers' fork
server, which every pass waits for. The copy is those 68 MB once per machine, in
``$MEDIAMON_CACHE_DIR``, else the user's cache directory (``~/.cache/mediamon`` on Linux),
in a directory named after py3langid's version and the model file's size and time (a new
py3langid makes a new copy; ``rm -r`` the old ones at will). Its arrays are mapped, not
read: a process touches the pages of the features it meets, and every process that maps the
copy shares them through the page cache (the workers, the fork server and the main process
hold one copy of the model between them, not one each).

The copy is written to a temporary directory and renamed into place, so a reader never sees
half of one, and two processes making it at once both succeed (the second's is dropped). A
copy that cannot be read (damaged) is made again; a cache directory that cannot be written
(a read-only home) costs the load as before and a debug line, nothing else.
``tests/test_language.py`` checks that the copy ranks every language as the packaged model
does.
"""

from __future__ import annotations

import hashlib
import logging
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("mediamon.language")

CACHE_ENV = "MEDIAMON_CACHE_DIR"
# The packaged model's arrays (py3langid.modelio) and the file each is kept in.
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_DONE = "complete"  # written last: a directory without it is not a copy


def cache_root() -> Path:
    """Where mediamon keeps what it can make again: ``$MEDIAMON_CACHE_DIR``, else the user's
    cache directory (platformdirs: ``$XDG_CACHE_HOME/mediamon``, else
    ``~/.cache/mediamon`` on Linux)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    import platformdirs

    return platformdirs.user_cache_path("mediamon")


def identifier(langid: ModuleType) -> Any:
    """py3langid's ``LanguageIdentifier`` with normalised probabilities, from the copy when
    it can be had (see the module), else from the packaged model. A copy that cannot be
    read (damaged) is made again, once."""
    packaged = Path(langid.MODEL_DIR) / langid.MODEL_FILE
    for attempt in (1, 2):
        copy = None
        try:
            copy = _copy_of(packaged)
            return _from_copy(langid, copy)
        except Exception as exc:  # a read-only cache, a full disk, another py3langid layout
            if attempt == 1 and copy is not None:
                shutil.rmtree(copy, ignore_errors=True)
                continue
            log.debug("language model loaded from the package (no cached copy: %s)", exc)
    return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)


def _copy_of(packaged: Path) -> Path:
    """The copy's directory for ``packaged``, made if there is none."""
    package = sys.modules.get("py3langid")  # its version: not importlib.metadata (16 ms)
    stat = packaged.stat()
    key = f"{getattr(package, '__version__', '')}\0{packaged}\0{stat.st_size}\0" \
          f"{stat.st_mtime_ns}"
    root = cache_root()
    directory = root / f"py3langid-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if (directory / _DONE).exists():
        return directory
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".py3langid-", dir=root))
    try:
        _write_copy(packaged, building)
        try:
            building.rename(directory)
        except OSError:  # another process made it first, or a damaged copy is in the way
            if not (directory / _DONE).exists():
                shutil.rmtree(directory, ignore_errors=True)
                building.rename(directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return directory


def _write_copy(packaged: Path, directory: Path) -> None:
    import numpy as np

    npz = directory / "model.npz"
    with lzma.open(packaged) as src, open(npz, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    with np.load(npz, allow_pickle=False) as data:
        missing = set(_ARRAYS).difference(data.files)
        if missing:
            raise ValueError(f"model without {sorted(missing)}")
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", data[name], allow_pickle=False)
    npz.unlink()
    (directory / _DONE).write_text("ok\n", encoding="utf-8")


def _from_copy(langid: ModuleType, directory: Path) -> Any:
    import numpy as np

    def mapped(name: str) -> Any:
        return np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    ptc, nextmove = mapped("ptc"), mapped("nextmove")
    if ptc.ndim != 2 or nextmove.ndim != 1 or nextmove.dtype.itemsize != 4:
        raise ValueError("unexpected model arrays")
    # The DFA walk indexes the transition table once per byte of text: a memoryview of the
    # mapped array indexes as fast as the stdlib array py3langid builds, and stays shared.
    transitions = memoryview(nextmove).cast("B").cast("I")
    rows = np.load(directory / "nextmove_row.npy", allow_pickle=False)
    return langid.LanguageIdentifier(
        ptc, np.asarray(mapped("pc")), mapped("classes").tolist(), transitions,
        np.load(directory / "out_feat.npy", allow_pickle=False).tolist(),
        norm_probs=True, tk_row=rows.tolist())
