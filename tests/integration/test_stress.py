"""Forget under fire (issue 12): forget, consolidation, the background worker, chat-history writes and reads run
concurrently on the same namespace for a bounded time; afterwards a forget with vacuum must leave no byte of the
namespace in any file of the folder, and the other namespaces must have lost nothing."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.integrations import LightMemChatMessageHistory, LightMemStore
from langchain_lightmem.testing import ScriptedChatModel
from tests.helpers import files_containing

pytestmark = pytest.mark.integration

SECONDS = 12.0


def test_forget_wins_against_everything_running_at_once(tmp_path: Path, static_embeddings: Any) -> None:
    config = LightMemConfig(
        data_dir=tmp_path / "data",
        segmentation={"window_tokens": 32},
        short_term={"threshold_tokens": 24},
        background={"idle_flush_seconds": 0.5, "poll_seconds": 0.2},
    )
    memory = LightMem(config, chat_model=ScriptedChatModel(), embeddings=static_embeddings)
    store = LightMemStore(memory)
    kept: list[str] = []  # what the other namespace was told
    errors: list[BaseException] = []
    stop = threading.Event()
    rng = random.Random(7)

    def guarded(body: Any) -> Any:
        def run() -> None:
            while not stop.is_set():
                try:
                    body()
                except BaseException as exc:
                    import traceback

                    traceback.print_exc()
                    errors.append(exc)
                    return

        return threading.Thread(target=run)

    counter = iter(range(10**9))

    def writer() -> None:  # the doomed namespace, through the middleware's path (background adds)
        i = next(counter)
        memory.add(
            [{"role": "user", "content": f"zorblax secret {i} of the doomed user"}],
            namespace="doomed",
            thread_id=f"t{i % 3}",
            background=True,
        )

    history = LightMemChatMessageHistory(memory, namespace="doomed", session_id="chat")

    def chatter() -> None:
        i = next(counter)
        history.add_messages([HumanMessage(f"zorblax chat {i}"), AIMessage(f"zorblax reply {i}")])
        store.put(("doomed", "notes"), f"n{i}", {"text": f"zorblax note {i}"})

    def reader() -> None:
        memory.search("doomed", "zorblax secret", k=5)
        memory.context("doomed", "zorblax", max_tokens=200)
        store.search(("doomed",), query="zorblax")
        history.messages  # noqa: B018  (a read)

    def consolidator() -> None:
        memory.consolidate("doomed")
        time.sleep(0.05)

    def forgetter() -> None:
        time.sleep(rng.uniform(0.2, 1.0))
        memory.forget("doomed")

    def bystander() -> None:
        i = next(counter)
        text = f"quilvane fact {i} of the other user"
        memory.add([{"role": "user", "content": text, "id": f"k{i}"}], namespace="other", thread_id="o")
        kept.append(text)
        time.sleep(0.02)

    threads = [guarded(f) for f in (writer, writer, chatter, reader, consolidator, forgetter, bystander)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert errors == [], errors[:3]
    assert memory.worker.join(60)

    memory.forget("doomed", vacuum=True)
    memory.flush("other")
    assert memory.recent_messages("doomed") == [] and memory.search("doomed", "zorblax", k=5) == []
    assert store.search(("doomed",)) == []
    other = {e.text for e in memory.entries("other", include_pending=True)}
    assert other == {f"user: {t}" for t in kept}  # the bystander lost nothing, and nothing was doubled
    assert len(memory.journal.messages.read(("other",))) == len(kept)
    memory.close()

    leaks = files_containing(config.data_dir, ["zorblax"])
    # Chroma 1.5 writes its HNSW files from buffers it never zeroes, so an unused slot of another collection's
    # data_level0.bin can hold a copy of freed heap memory (chroma-core/chroma#7688; docs/reliability.md, "Short").
    # Every other file must be clean.
    assert [p for p in leaks if p.name not in ("data_level0.bin", "length.bin")] == []
