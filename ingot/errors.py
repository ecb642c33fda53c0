"""The error hierarchy of ingot. Seams translate vendor errors into these (``raise X from exc``).

::

    IngotError
    ├── ConfigError            invalid metallb.io configuration (object + field path)
    ├── KubeError              the Kubernetes API failed
    │   ├── Conflict           409: stale resourceVersion or AlreadyExists
    │   ├── NotFound           404
    │   ├── Expired            410: watch resourceVersion too old, relist
    │   ├── Throttled          429: retry after ``retry_after_s``
    │   └── Unavailable        5xx, connection refused, timeouts
    ├── AnnounceError          L2 announcing failed (raw socket, interface missing)
    └── BgpDriverError         the ExaBGP process or its API failed
"""

from __future__ import annotations


class IngotError(Exception):
    """Base class of every error ingot raises on purpose."""


class ConfigError(IngotError):
    """The metallb.io configuration is invalid; ``str()`` names the object and field path."""


class KubeError(IngotError):
    """A Kubernetes API call failed. ``status`` is the HTTP status (0 when no response)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Conflict(KubeError):
    """409: the object changed since it was read (stale resourceVersion) or already exists."""


class NotFound(KubeError):
    """404: the object does not exist."""


class Expired(KubeError):
    """410: the watch resourceVersion is too old; the caller must relist."""


class Throttled(KubeError):
    """429: too many requests; retry after ``retry_after_s`` seconds."""

    def __init__(
        self, message: str, *, status: int = 429, reason: str = "", retry_after_s: float = 1.0
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.retry_after_s = retry_after_s


class Unavailable(KubeError):
    """The API server answered 5xx or could not be reached."""


class AnnounceError(IngotError):
    """L2 announcing failed (raw socket error, interface missing)."""


class BgpDriverError(IngotError):
    """The ExaBGP process or its API failed."""
