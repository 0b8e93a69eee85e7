"""One server per data folder and per port: `ppa serve` refuses to start beside another.

Granian binds its port with SO_REUSEPORT, so a second server on the same port used to start silently and the
kernel split the connections between the two: one request in two reached the other server's database, where the
phone's key did not exist ("revoked"). Before anything is set up, `ppa serve`
- locks DATA/server.lock (an flock, which the kernel releases when the last process holding it ends, even after
  kill -9, so a crash leaves nothing to clean up) and writes its pid into it; the workers inherit the lock;
- tries to bind PPA_HOST:PPA_PORT without SO_REUSEPORT, which fails while any other socket listens there.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import Any, Mapping

LOCK_NAME = "server.lock"


class Refused(RuntimeError):
    """Another server has the data folder or the port; the message says which."""


class DataFolderLock:
    """The data folder's lock, held for as long as this object (and the processes forked with it) live."""

    def __init__(self, data: Path):
        self.path = Path(data) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> "DataFolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise Refused(f"another PPA server (pid {other}) is already serving the data folder {self.path.parent}; "
                          "this one did not start. Stop that server first, or give this one its own PPA_DATA.") \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def check_port(host: str, port: int) -> None:
    """Refuse when something listens on host:port already (any process: another PPA server or not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR lets a restart bind over connections of the previous run still in TIME_WAIT; on Linux it
        # does not allow binding beside a listening socket. SO_REUSEPORT, which would, is not set.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Refused(f"port {port} on {host} is already in use by another process; this server did not "
                              "start. Stop that process, or set PPA_PORT to a free port.") from None
            raise Refused(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def claim(config: Mapping[str, Any]) -> DataFolderLock:
    """The data folder's lock and a check that the port is free, in that order (a second server on the same folder
    is named by its pid even when it also has the port)."""
    lock = DataFolderLock(Path(config["DATA"])).acquire()
    try:
        check_port(config["HOST"], config["PORT"])
    except Refused:
        lock.release()
        raise
    return lock
