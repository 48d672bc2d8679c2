"""Swapping one of Hypercorn's protocol classes for a subclass of ours, safely."""

from __future__ import annotations

import logging

import hypercorn.protocol

log = logging.getLogger("threadgate.rest")


def replace_protocol(name: str, original: type, patched: type, method: str, otherwise: str) -> bool:
    """Make ``hypercorn.protocol.<name>`` our ``patched`` subclass of ``original``.  False
    (Hypercorn's own behaviour stands, ``otherwise`` is logged) if this Hypercorn is not
    built as expected: ``name`` is not ``original``, or ``original`` has no ``method``."""
    current = getattr(hypercorn.protocol, name, None)
    if current not in (original, patched) or not callable(getattr(original, method, None)):
        log.warning("unexpected Hypercorn: %s", otherwise)
        return False
    setattr(hypercorn.protocol, name, patched)
    return True
