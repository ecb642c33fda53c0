"""Enter a network namespace from this thread (``setns(2)``), so sockets it opens live there.

The demo's own Kubernetes client talks to the API server inside the lab's ``cp`` namespace this
way, without any link between the lab and the host's network.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def netns(name: str) -> Iterator[None]:
    """Run the body with this thread in network namespace ``name`` (``/run/netns/<name>``).

    Sockets created inside keep working after the body returns. Raises ``OSError`` if the
    namespace does not exist or the caller is not root.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
