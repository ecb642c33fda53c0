"""The ExaBGP API helper: a byte relay between ExaBGP's process pipes and the speaker.

ExaBGP runs this program as its API ``process`` (``run python helper.py SOCKET``). It connects
to the speaker's Unix socket ``SOCKET`` and relays, in both directions at once:

* its stdin (ExaBGP -> helper: ``done``/``error`` acks, ``neighbor X up|down`` events) to the
  socket;
* the socket (speaker -> helper: ``announce``/``withdraw`` commands) to its stdout.

It **always drains stdin**, whatever the speaker does, buffering in memory: ExaBGP blocks
(keepalives stop, sessions drop) once ~64 KiB of unread acks pile up in the pipe (netlab pitfall
P1). It exits when either side closes, so ExaBGP never runs with a half-dead API.

Standard library only, no ingot import: it starts fast and cannot fail on import.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
import time

CONNECT_TIMEOUT_S = 10.0
CHUNK = 65536


def _connect(path: str) -> socket.socket:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def relay(stdin_fd: int, stdout_fd: int, sock: socket.socket) -> int:
    """Relay until one side closes; return an exit status (0 on a clean close).

    Reading stdin never waits for the socket: unsent bytes are buffered (pitfall P1).
    """
    sock.setblocking(False)
    os.set_blocking(stdin_fd, False)
    os.set_blocking(stdout_fd, False)
    to_sock = bytearray()
    to_out = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(stdin_fd, selectors.EVENT_READ, "in")
    sel.register(sock, selectors.EVENT_READ, "sock")
    out_registered = False
    while True:
        sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if to_sock else 0), "sock")
        if bool(to_out) != out_registered:
            if to_out:
                sel.register(stdout_fd, selectors.EVENT_WRITE, "out")
            else:
                sel.unregister(stdout_fd)
            out_registered = bool(to_out)
        for key, events in sel.select(timeout=1.0):
            try:
                if key.data == "in":
                    data = os.read(stdin_fd, CHUNK)
                    if not data:  # ExaBGP closed our stdin: it is going away
                        return 0
                    to_sock += data
                elif key.data == "out":
                    del to_out[: os.write(stdout_fd, to_out)]
                else:
                    if events & selectors.EVENT_WRITE and to_sock:
                        del to_sock[: sock.send(to_sock)]
                    if events & selectors.EVENT_READ:
                        data = sock.recv(CHUNK)
                        if not data:  # the speaker closed the channel
                            os.set_blocking(stdout_fd, True)
                            os.write(stdout_fd, to_out)
                            return 0
                        to_out += data
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: helper.py SOCKET", file=sys.stderr)
        return 2
    try:
        sock = _connect(args[0])
    except OSError as exc:
        print(f"ingot helper: cannot connect to {args[0]}: {exc}", file=sys.stderr)
        return 1
    with sock:
        return relay(sys.stdin.fileno(), sys.stdout.fileno(), sock)


if __name__ == "__main__":
    sys.exit(main())
