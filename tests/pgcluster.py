"""A throwaway PostgreSQL cluster for the tests (and ``.ci/run``, ``benchmarks/pg_*.py``).

``start()`` runs ``initdb`` in a new temporary directory, as the ``postgres`` user when this
process is root (initdb refuses root), then starts ``postgres`` on a free loopback port with
its Unix socket in the same directory: trust authentication on loopback only, ``fsync`` and
``synchronous_commit`` off (a crash loses the cluster, which is thrown away anyway). ``stop()``
stops it and removes the directory.

As a script: ``python tests/pgcluster.py start`` prints ``URL DIRECTORY`` (the server URL and
the directory to give ``stop``); ``python tests/pgcluster.py stop DIRECTORY``.

Nothing here is mocked: it is a real server, only a short-lived one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin")
SUPERUSER = "postgres"


class ClusterUnavailable(RuntimeError):
    """No cluster could be started here; the message says why (the tests skip with it)."""


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"


def find_bindir() -> Path | None:
    for name in BIN_DIRS:
        if (Path(name) / "initdb").exists():
            return Path(name)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    """``cmd`` run as the postgres user when this process is root (initdb refuses root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", SUPERUSER, "--", *cmd]


def start(timeout: float = 60.0) -> Cluster:
    """Start a new cluster; raises ClusterUnavailable with the reason when it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise ClusterUnavailable("no PostgreSQL server binaries (initdb) on this machine")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise ClusterUnavailable("running as root and there is no 'postgres' user "
                                     "to run initdb as") from None
    directory = Path(tempfile.mkdtemp(prefix="mediamon-pg-"))
    data = directory / "data"
    try:
        if os.geteuid() == 0:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        run = subprocess.run(
            _as_owner([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER,
                       "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]),
            capture_output=True, text=True, timeout=timeout, check=False)
        if run.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {(run.stderr or run.stdout).strip()}")
        port = free_port()
        settings = [
            "listen_addresses = '127.0.0.1'", f"port = {port}",
            f"unix_socket_directories = '{directory}'",
            "fsync = off", "synchronous_commit = off", "full_page_writes = off",
            "max_connections = 200", "shared_buffers = 128MB",
            "log_min_messages = warning", "logging_collector = off",
        ]
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# mediamon tests: a throwaway cluster\n" + "\n".join(settings) + "\n")
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        run = subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l",
                       str(directory / "server.log"), "-w", "-t", str(int(timeout)),
                       "start"]),
            capture_output=True, text=True, timeout=timeout + 10, check=False)
        if run.returncode != 0:
            log = directory / "server.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            raise ClusterUnavailable(
                f"postgres did not start: {(run.stderr or run.stdout).strip()} {tail}".strip())
        cluster = Cluster(directory, port, bindir)
        _wait_ready(cluster, timeout)
        return cluster
    except BaseException:
        _remove(directory)
        raise


def _wait_ready(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", cluster.port), timeout=1):
            return
        time.sleep(0.05)
    raise ClusterUnavailable(f"postgres did not listen on 127.0.0.1:{cluster.port}")


def stop(directory: str | Path) -> None:
    """Stop the cluster in ``directory`` (fast shutdown) and remove the directory."""
    directory = Path(directory)
    data = directory / "data"
    bindir = find_bindir()
    if bindir is not None and (data / "postmaster.pid").exists():
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "-w", "stop"]),
                       capture_output=True, timeout=60, check=False)
    _remove(directory)


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        try:
            cluster = start()
        except ClusterUnavailable as exc:
            print(f"no PostgreSQL cluster: {exc}", file=sys.stderr)
            return 1
        print(cluster.url, cluster.directory)
        print(f"PostgreSQL at {cluster.url}; stop it with: python {__file__} stop "
              f"{cluster.directory}", file=sys.stderr)
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(argv[1])
        return 0
    print("usage: pgcluster.py start | stop DIRECTORY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
