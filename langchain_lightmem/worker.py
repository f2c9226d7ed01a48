"""The background worker of a :class:`~langchain_lightmem.LightMem`: later stages off the caller's thread, and
idle flushes.

A background ``add`` (the agent middleware, chat history and store surfaces use it) returns once its messages are
in the journal and searchable as pending entries. The worker then runs the rest of the write path for that
namespace (compression, segmentation, batching, extraction, long-term writes) from the journal, and every
``poll_seconds`` flushes the threads that have been quiet for ``idle_flush_seconds``. Nothing the worker does is
needed for durability: a killed process loses no accepted message, and the next run (or the next worker) picks up
where this one stopped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_lightmem.config import BackgroundConfig
from langchain_lightmem.types import Namespace

logger = logging.getLogger(__name__)

Process = Callable[[Namespace, RunnableConfig | None], Any]
FlushIdle = Callable[[], Any]


class _State:
    """What the worker thread shares with its owner (kept apart so the owner can be garbage-collected)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.dirty: dict[Namespace, RunnableConfig | None] = {}
        self.busy: set[Namespace] = set()
        self.stop = False
        self.errors: collections.deque[tuple[Namespace | None, BaseException]] = collections.deque(maxlen=100)


def _loop(state: _State, process: Process, flush_idle: FlushIdle, config: BackgroundConfig) -> None:
    next_idle = time.monotonic() + config.poll_seconds
    while True:
        with state.cond:
            while not state.dirty and not state.stop and time.monotonic() < next_idle:
                state.cond.wait(max(0.0, next_idle - time.monotonic()))
            work = dict(state.dirty)
            state.dirty.clear()
            state.busy.update(work)
            stopping = state.stop
        for namespace, trace in work.items():
            try:
                process(namespace, trace)
            except Exception as exc:  # the messages stay in the journal; the next run retries the stage
                logger.warning("background processing of %s failed (%s); it is retried on the next run", namespace, exc)
                state.errors.append((namespace, exc))
            finally:
                with state.cond:
                    state.busy.discard(namespace)
                    state.cond.notify_all()
        if stopping:
            return
        if time.monotonic() >= next_idle:
            next_idle = time.monotonic() + config.poll_seconds
            if config.idle_flush_seconds is not None:
                try:
                    flush_idle()
                except Exception as exc:
                    logger.warning("idle flush failed (%s); retried in %.0f s", exc, config.poll_seconds)
                    state.errors.append((None, exc))


def _shutdown(state: _State, thread: threading.Thread, timeout: float) -> None:
    with state.cond:
        state.stop = True
        state.cond.notify_all()
    thread.join(timeout)


class BackgroundWorker:
    """One daemon thread per :class:`~langchain_lightmem.LightMem`, started on first use.

    Args:
        process: runs the write path of one namespace from the journal (``LightMem`` passes its own).
        flush_idle: flushes idle threads (``LightMem.flush_idle``).
        config: ``LightMemConfig.background``.
        shutdown_timeout: how long :meth:`close` (and interpreter exit) waits for work in progress.
    """

    def __init__(
        self, process: Process, flush_idle: FlushIdle, config: BackgroundConfig, *, shutdown_timeout: float = 60.0
    ) -> None:
        self._process = process
        self._flush_idle = flush_idle
        self._config = config
        self._timeout = shutdown_timeout
        self._state = _State()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False

    @property
    def errors(self) -> list[tuple[Namespace | None, BaseException]]:
        """The last failures (namespace, error) of background runs; each failed stage was retried afterwards."""
        return list(self._state.errors)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (idempotent)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this LightMem is closed; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_loop,
                    args=(self._state, self._process, self._flush_idle, self._config),
                    name="lightmem-worker",
                    daemon=True,
                )
                self._thread.start()
                # Finishes work in progress on close, garbage collection or normal interpreter exit.
                self._finalizer = weakref.finalize(self, _shutdown, self._state, self._thread, self._timeout)

    def schedule(self, namespace: Namespace, trace: RunnableConfig | None = None) -> None:
        """Run the namespace's write path soon (``trace``: the run config its LLM calls are traced under)."""
        self.start()
        with self._state.cond:
            self._state.dirty[namespace] = trace
            self._state.cond.notify_all()

    def forget(self, namespace: Namespace) -> None:
        """Drop scheduled work of a namespace and wait until a run of it in progress has ended."""
        with self._state.cond:
            self._state.dirty.pop(namespace, None)
            while namespace in self._state.busy:
                self._state.cond.wait()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until everything scheduled so far has run. Returns False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state.cond:
            while self._state.dirty or self._state.busy:
                if not self.running:
                    return not self._state.dirty and not self._state.busy
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.cond.wait(remaining if remaining is not None else 1.0)
        return True

    def close(self) -> None:
        """Run what is scheduled, then stop the thread. Idempotent."""
        with self._lock:
            self._closed = True
            finalizer = self._finalizer
        if finalizer is not None:
            finalizer()
