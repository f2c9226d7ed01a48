"""How benchmark commands end: one that measured nothing exits non-zero, with a message that says why.

A benchmark that silently measures nothing (its data missing, every system skipped, no question scored) must
not look like a passing run in CI or in a script. Every ``python -m benchmarks ...`` command and every
``python -m benchmarks.<script>`` exits with:

* ``0``: something was measured;
* ``1``: nothing was measured, a system failed, or the endpoint the run needs is not reachable (``error: ...``
  on stderr says which and what to do);
* ``2``: the command line was wrong (argparse's usage error).

Example:
    .. code-block:: python

        @command
        def main(argv: list[str] | None = None) -> int:
            args = parser.parse_args(argv)           # counts use ``type=positive_int``
            rows = measure(args)
            if not rows:
                raise NothingMeasured("no row was measured: ...")
            return 0
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from benchmarks.data import DataNotFoundError

_F = TypeVar("_F", bound=Callable[..., int])


class NothingMeasured(RuntimeError):
    """A benchmark ran but measured nothing; the message says why and what to change."""


class EndpointUnreachable(RuntimeError):
    """The OpenAI-compatible server a run needs does not answer (or refuses the key, or does not serve the
    model); the message, one line, says which server and what to do."""


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: ``0`` would measure nothing, so it is refused on the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value}): 0 would measure nothing")
    return value


def chitchat() -> ModuleType:
    """The ``chitchat_dataset`` package (the data of the soak, consolidation, embedding-memory and segmentation
    benchmarks).

    Raises:
        DataNotFoundError: it is not installed.
    """
    try:
        import chitchat_dataset
    except ImportError:
        raise DataNotFoundError(
            "the chitchat-dataset package is not installed: pip install -e '.[bench]' (it holds this benchmark's data)"
        ) from None
    return chitchat_dataset


def command(main: _F) -> _F:
    """Wrap a benchmark's ``main(argv) -> int``: missing data, :class:`NothingMeasured` and
    :class:`EndpointUnreachable` become ``error: ...`` on stderr and exit code 1 (the message is the exception's)."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except (DataNotFoundError, NothingMeasured, EndpointUnreachable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run  # type: ignore[return-value]
