"""FieldError: one problem in one object, at one field path.

Every rejection ingot makes about configuration is a :class:`FieldError`, so that the webhook,
ConfigurationState, events, ``ingot validate`` and logs all say the same thing, e.g.
``IPAddressPool metallb-system/pool-a spec.addresses[2]: invalid CIDR '10.0.0.300/32'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, order=True)
class FieldError:
    """A problem in one object.

    Attributes:
        kind: object kind (``IPAddressPool``, ``BGPPeer``...).
        namespace: object namespace.
        name: object name.
        path: field path inside the object, e.g. ``spec.addresses[2]``; empty for the object.
        message: what is wrong, in words a user can act on.
    """

    kind: str
    namespace: str
    name: str
    path: str
    message: str

    @property
    def object_ref(self) -> str:
        """``Kind namespace/name``."""
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else (f"{self.kind} {self.name}")
        )

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"{self.object_ref}{where}: {self.message}"


def format_path(loc: Sequence[str | int]) -> str:
    """Render a pydantic ``loc`` as a path: ``("spec", "addresses", 2)`` -> ``spec.addresses[2]``.

    Args:
        loc: field names and list indexes.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(
    exc: ValidationError, *, kind: str, namespace: str, name: str
) -> list[FieldError]:
    """Translate a pydantic ``ValidationError`` into FieldErrors (wire field names, by alias).

    Args:
        exc: the error raised by ``Model.model_validate(raw)``.
        kind: object kind.
        namespace: object namespace.
        name: object name.

    Returns:
        One FieldError per pydantic error, in pydantic's order.
    """
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and _short(err["input"]) and not _secret(loc):
            msg = f"{msg} (got {err['input']!r})"
        errors.append(FieldError(kind, namespace, name, format_path(loc), msg))
    return errors


def _secret(loc: Sequence[str | int]) -> bool:
    """Never echo the value of a password field back (it would reach logs and events)."""
    return any(isinstance(p, str) and "password" in p.lower() for p in loc)


def _short(value: object) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80
