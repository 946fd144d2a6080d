"""Argument types that check a number against its range in :mod:`music2img.limits` while parsing, so
that a bad value ends in argparse's ``error: argument --x: …`` (exit code 2) before anything loads."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..errors import OptionError
from ..limits import check_range


def checked(parse: type, check: Callable[..., float]) -> Callable[[str], float]:
    """An argparse ``type``: ``parse(text)`` (``int`` or ``float``), then ``check(value, name=…)``, a
    ``check_*`` function of :mod:`music2img.limits`."""
    kind = "a whole number" if parse is int else "a number"

    def convert(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(value, name="value")
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    convert.__name__ = parse.__name__  # argparse names the type in its own messages
    return convert


def ranged(
    parse: type, low: float | None = None, high: float | None = None, *, above: bool = False
) -> Callable[[str], float]:
    """An argparse ``type`` for a number within ``low``–``high`` (see :func:`~music2img.limits.check_range`)."""
    return checked(parse, lambda value, name: check_range(name, value, low, high, integer=parse is int, above=above))
