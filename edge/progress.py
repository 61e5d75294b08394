"""Progress bars for long commands: tqdm on stderr, shown only on a terminal and never with ``-q``.

Library code wraps its loops in :func:`progress`; the CLI decides once, with :func:`set_enabled`,
whether bars may show at all. A bar never writes to stdout, so JSON output stays clean.
"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")

_enabled = True


def set_enabled(enabled: bool) -> None:
    """``False`` (``-q``) hides every bar; ``True`` shows them when stderr is a terminal."""
    global _enabled
    _enabled = enabled


def bars_shown() -> bool:
    return _enabled and sys.stderr.isatty()


def progress(iterable: Iterable[T], total: Optional[int] = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """``iterable`` with a bar on stderr when bars are shown; the plain iterable otherwise."""
    if not bars_shown():
        yield from iterable
        return
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; a trimmed install still works, without bars
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                    dynamic_ncols=True, mininterval=0.5)
