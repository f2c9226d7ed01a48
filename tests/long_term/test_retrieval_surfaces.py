"""Time expressions, and the retrieval options as the LangChain/LangGraph surfaces expose them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.integrations.store import MEMORIES
from langchain_lightmem.long_term.temporal import parse_time_window

ASKED = datetime(2023, 5, 30, 14, 0, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("query", "expression", "start", "end"),
    [
        ("What did I buy two weeks ago?", "two weeks ago", "2023-05-13", "2023-05-19"),
        ("what did I do yesterday", "yesterday", "2023-05-29", "2023-05-29"),
        ("Where did I go last Saturday?", "last Saturday", "2023-05-27", "2023-05-27"),
        ("What happened in March?", "in March", "2023-03-01", "2023-03-31"),
        ("What did I read in June?", "in June", "2022-06-01", "2022-06-30"),  # June has not come yet this year
        ("What did I do last month?", "last month", "2023-04-01", "2023-05-30"),
        ("Who called on May 3rd, 2023?", "May 3rd, 2023", "2023-05-03", "2023-05-03"),
        ("the 5th of April dinner", "5th of April", "2023-04-05", "2023-04-05"),
        ("trips in 2022", "in 2022", "2022-01-01", "2022-12-31"),
        ("runs in the past 3 days", "past 3 days", "2023-05-27", "2023-05-30"),
        ("a couple of months ago", "a couple of months ago", "2023-03-16", "2023-04-15"),
        ("meetings this week", "this week", "2023-05-29", "2023-05-30"),
        ("event on 2023/04/02", "2023/04/02", "2023-04-02", "2023-04-02"),
    ],
)
def test_time_expressions(query, expression, start, end):
    window = parse_time_window(query, ASKED)
    assert window is not None
    assert (window.expression, f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}") == (expression, start, end)
    assert expression not in window.strip(query)


@pytest.mark.parametrize("query", ["May I ask about cooking?", "How many days ago did I start?", "What is 2+2?"])
def test_no_time_expression(query):
    assert parse_time_window(query, ASKED) is None


def test_naive_reference_is_utc():
    window = parse_time_window("yesterday", datetime(2023, 5, 30, 1, 0))
    assert window is not None and window.start.tzinfo is UTC


@pytest.fixture
def memory(make_memory):
    memory = make_memory()
    turns = [
        ("user", "My sister Lena visited from Vienna.", "2023-05-01T10:00:00Z"),
        ("assistant", "Lovely! What did you two do?", "2023-05-01T10:01:00Z"),
        ("user", "We hiked up the Kahlenberg and ate strudel.", "2023-05-01T10:02:00Z"),
        ("user", "I fixed the bike chain today.", "2023-05-29T18:00:00Z"),
    ]
    memory.add([{"role": r, "content": c, "timestamp": t} for r, c, t in turns], namespace="kim", thread_id="t1")
    memory.flush("kim")
    return memory


def test_retriever_modes_packing_and_reference_time(memory):
    retriever = memory.as_retriever(namespace="kim", k=2)
    docs = retriever.invoke("Lena Vienna")
    assert "Lena" in docs[0].page_content and docs[0].metadata["source_ids"]
    assert retriever.invoke("Kahlenberg", mode="lexical")[0].page_content.endswith("strudel.")
    packed = memory.as_retriever(namespace="kim", max_tokens=200).invoke("What did my sister do?")
    assert {d.metadata["group"] for d in packed} and any(d.metadata.get("neighbour_of") for d in packed)
    filtered = retriever.invoke(
        "what did I fix yesterday", reference_time="2023-05-30T09:00:00Z", retrieval={"time_mode": "filter"}
    )
    assert [d.page_content for d in filtered] == ["user: I fixed the bike chain today."]


def test_store_memory_search_is_hybrid_and_configurable(memory):
    store = LightMemStore(memory)
    items = store.search(("kim", MEMORIES), query="Kahlenberg", limit=1)
    assert "Kahlenberg" in items[0].value["text"] and 0.0 <= items[0].score <= 1.0
    dense = LightMemStore(memory, memory_search={"mode": "dense"})
    assert len(dense.search(("kim", MEMORIES), query="Kahlenberg", limit=2)) == 2


def test_middleware_injects_a_packed_context(memory):
    pytest.importorskip("langchain.agents")
    from langchain_core.messages import HumanMessage, SystemMessage

    from langchain_lightmem.integrations.middleware import PACKED_HEADER, LightMemMiddleware

    middleware = LightMemMiddleware(memory, namespace="kim", packing=True, max_tokens=80, ingest=False)
    seen = {}

    class Request:
        def __init__(self) -> None:
            self.messages = [HumanMessage("What did Lena and I do?")]
            self.runtime = None
            self.system_message = None

        def override(self, **kw):
            seen.update(kw)
            return self

    middleware.wrap_model_call(Request(), lambda request: "ok")  # type: ignore[arg-type]
    block = seen["system_message"]
    assert isinstance(block, SystemMessage) and block.text.startswith(PACKED_HEADER)
    assert "2023-05-01 (Mon)" in block.text and memory.pipeline.counter.count(block.text) <= 80
    middleware.close()
