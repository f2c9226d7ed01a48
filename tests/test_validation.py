"""Every bad input gets a typed error, on every surface (issue 12, item 6).

The validation layer (``langchain_lightmem/validation.py``) on its own, then each defect of the item through the
surface where it was found: the facade, the retriever, ``LightMemStore`` and the CLI. Each refusal is an
``InvalidInputError`` subclass that names its field; nothing is stored by a refused call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import langchain_lightmem
from langchain_lightmem import (
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidNamespaceError,
    InvalidQueryError,
    InvalidStoreInputError,
    InvalidTimeError,
    LightMem,
    LightMemConfig,
    StoreError,
)
from langchain_lightmem.cli import main
from langchain_lightmem.integrations import LightMemStore
from langchain_lightmem.integrations.store import MEMORIES, MESSAGES
from langchain_lightmem.validation import (
    MAX_NAMESPACE_DEPTH,
    MAX_TEXT_CHARS,
    validate_count,
    validate_filters,
    validate_id,
    validate_ids,
    validate_json,
    validate_namespace,
    validate_query,
    validate_time_range,
    validate_timestamp,
)

LONE = "caf\udce9"  # b"caf\xe9" decoded with errors="surrogateescape"


@pytest.fixture
def memory(make_memory: Callable[..., LightMem]) -> LightMem:
    memory = make_memory()
    memory.add(
        [{"role": "user", "content": f"I keep {n} bees in the garden.", "id": f"m{n}"} for n in range(4)],
        namespace="alice",
    )
    memory.flush("alice")
    return memory


def refused(error: type[Exception], field: str | None, call: Callable[[], Any]) -> InvalidInputError:
    """``call`` raises ``error`` (an ``InvalidInputError``) naming ``field``."""
    with pytest.raises(error) as info:
        call()
    exc = info.value
    assert isinstance(exc, InvalidInputError) and isinstance(exc, ValueError)
    if field is not None:  # the argument, or a place inside it ("filters['speaker']")
        assert exc.field is not None and exc.field.partition("[")[0] == field.partition("[")[0], (exc.field, str(exc))
        assert "[" not in field or exc.field == field, (exc.field, str(exc))
    return exc


# -- the errors ---------------------------------------------------------------------------------------------------


def test_every_input_error_is_an_invalid_input_error_and_old_except_clauses_still_catch():
    for error in (InvalidMessageError, InvalidNamespaceError, InvalidQueryError, InvalidIdError, InvalidTimeError):
        assert issubclass(error, InvalidInputError) and issubclass(error, ValueError)
        assert error.__name__ in langchain_lightmem.__all__
    # times were InvalidMessageErrors (reference_time, event_time, a message's timestamp): they still are
    assert issubclass(InvalidTimeError, InvalidMessageError)
    # the store's refusals stay StoreErrors
    assert issubclass(InvalidStoreInputError, StoreError) and issubclass(InvalidStoreInputError, InvalidInputError)
    exc = InvalidMessageError("content is empty", index=3)
    assert str(exc) == "message 3: content is empty" and exc.index == 3 and exc.field is None
    assert InvalidNamespaceError("empty").field == "namespace"


# -- the layer on its own -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True, None])
def test_counts_are_whole_numbers_of_one_or_more(value):
    if value is None:
        assert validate_count(None, "k") is None
        return
    exc = refused(InvalidQueryError, "k", lambda: validate_count(value, "k"))
    assert "1 or more" in str(exc)


@pytest.mark.parametrize(
    "value",
    [
        "9999-01-01T00:00:00",
        "0001-01-01",
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
        -1,
        float("nan"),
        float("inf"),
        10**400,
    ],
)
def test_times_outside_1970_to_3000_are_refused_in_every_form(value):
    exc = refused(InvalidTimeError, "when", lambda: validate_timestamp(value, "when"))
    assert "when" in str(exc)


def test_the_ends_of_the_range_are_accepted_and_naive_means_the_given_zone():
    assert validate_timestamp(0, "t") == datetime(1970, 1, 1, tzinfo=UTC)
    assert validate_timestamp("3000-01-01T00:00:00Z", "t") == datetime(3000, 1, 1, tzinfo=UTC)
    berlin = timezone(timedelta(hours=2))
    assert validate_timestamp("2024-05-08T10:00:00", "t", naive_tz=berlin).utcoffset() == timedelta(hours=2)


def test_time_ranges_are_pairs_in_order_and_name_the_bad_end():
    assert validate_time_range(("2024-01-01", None)) == (datetime(2024, 1, 1, tzinfo=UTC), None)
    assert "open end" in str(
        refused(InvalidTimeError, "time_range[0]", lambda: validate_time_range((datetime.min, None)))
    )
    refused(InvalidTimeError, "time_range[1]", lambda: validate_time_range((None, "yesterday")))
    refused(InvalidTimeError, "time_range", lambda: validate_time_range(("2025-01-01", "2024-01-01")))
    refused(InvalidTimeError, "time_range", lambda: validate_time_range((1, 2, 3)))


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"x": float("nan")}, "extra['x']"),
        ({"x": [1, {"y": object()}]}, "extra['x'][1]['y']"),
        ({"x": (1, 2)}, "extra['x']"),
        ({5: "five"}, "extra"),
        ({"x": LONE}, "extra['x']"),
    ],
)
def test_json_checks_name_the_place(value, field):
    refused(InvalidInputError, field, lambda: validate_json(value, "extra"))


def test_json_nested_far_deeper_than_the_recursion_limit_is_a_typed_error():
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    assert "deeper than" in str(refused(InvalidInputError, None, lambda: validate_json({"v": deep}, "extra")))


def test_names_refuse_surrogates_control_characters_and_depth():
    refused(InvalidIdError, "thread_id", lambda: validate_id("t\ud800", "thread_id"))
    refused(InvalidIdError, "key", lambda: validate_id("a\nb", "key"))
    refused(InvalidIdError, "key", lambda: validate_id("k" * 257, "key"))
    assert validate_id(42, "id") == "42"
    refused(InvalidIdError, "ids", lambda: validate_ids("abc"))  # list("abc") would look up 'a', 'b', 'c'
    refused(InvalidIdError, "ids[1]", lambda: validate_ids(["a", 5]))
    refused(InvalidNamespaceError, "namespace", lambda: validate_namespace(("org", LONE)))
    refused(InvalidNamespaceError, "namespace", lambda: validate_namespace(5))
    labels = tuple(f"l{i}" for i in range(MAX_NAMESPACE_DEPTH))
    assert validate_namespace(labels) == labels
    refused(InvalidNamespaceError, "namespace", lambda: validate_namespace((*labels, "one-more")))


def test_queries_are_strings_without_surrogates_within_the_text_limit():
    assert validate_query("") == "" and validate_query("tab\tand\x00control") == "tab\tand\x00control"
    refused(InvalidQueryError, "query", lambda: validate_query(None))
    refused(InvalidQueryError, "query", lambda: validate_query(LONE))
    refused(InvalidQueryError, "query", lambda: validate_query("x" * 11, max_chars=10))


@pytest.mark.parametrize(
    "filters",
    [
        {"speaker": float("nan")},
        {"event_ts": {"$gt": float("inf")}},
        {"speaker": LONE},
        {"speaker": "a", "role": "user"},
        {"$and": [{"speaker": "a"}]},
        {"speaker": None},
        {"speaker": {"$regex": "a"}},
        {"speaker": {"$in": []}},
        {"n": {"$gt": "1"}},
        {"$and": [{"n": i} for i in range(300)]},
        ["speaker"],
    ],
)
def test_filters_that_chroma_would_reject_are_refused_up_front(filters):
    refused(InvalidQueryError, None, lambda: validate_filters(filters))


def test_valid_filters_pass():
    for filters in (
        None,
        {},
        {"speaker": "Alice"},
        {"active": True},
        {"$or": [{"speaker": "a"}, {"thread_id": {"$in": ["t1", "t2"]}}]},
        {"event_ts": {"$gte": 0}},
    ):
        validate_filters(filters)


# -- the facade: lone surrogates in a query, namespace, id or thread id -----------------------------------------------


def test_a_lone_surrogate_in_a_query_is_refused_by_search_and_context(memory):
    refused(InvalidQueryError, "query", lambda: memory.search("alice", f"bees {LONE}"))
    refused(InvalidQueryError, "query", lambda: memory.context("alice", "\udcff"))  # $'\xff' on a command line


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.add([{"role": "user", "content": "hi"}], namespace=("org", LONE)),
        lambda m: m.search(LONE, "bees"),
        lambda m: m.context(LONE, "bees"),
        lambda m: m.remember(LONE, "bees"),
        lambda m: m.stats(LONE),
        lambda m: m.forget(LONE),
        lambda m: m.entries(LONE),
        lambda m: m.flush(LONE),
    ],
    ids=["add", "search", "context", "remember", "stats", "forget", "entries", "flush"],
)
def test_a_lone_surrogate_in_a_namespace_is_refused_everywhere(memory, call):
    refused(InvalidNamespaceError, "namespace", lambda: call(memory))


def test_a_lone_surrogate_in_an_id_or_thread_id_refuses_the_call_and_stores_nothing(memory):
    before = memory.stats("alice").messages
    bad_id = refused(
        InvalidMessageError,
        "id",
        lambda: memory.add(
            [{"role": "user", "content": "ok"}, {"role": "user", "content": "x", "id": LONE}], namespace="alice"
        ),
    )
    assert bad_id.index == 1
    refused(
        InvalidMessageError,
        "thread_id",
        lambda: memory.add([{"role": "user", "content": "x", "thread_id": LONE}], namespace="alice"),
    )
    refused(
        InvalidMessageError,
        "thread_id",
        lambda: memory.add([{"role": "user", "content": "x"}], namespace="alice", thread_id=LONE),
    )
    refused(InvalidMessageError, "thread_id", lambda: memory.remember("alice", "x", thread_id=LONE))
    refused(InvalidIdError, "key", lambda: memory.remember("alice", "x", key=LONE))
    refused(InvalidIdError, "ids[0]", lambda: memory.get("alice", [LONE]))
    refused(InvalidIdError, "ids[0]", lambda: memory.delete("alice", [LONE]))
    refused(InvalidIdError, "entry_id", lambda: memory.update("alice", LONE, "x"))
    assert memory.stats("alice").messages == before


def test_repairing_callers_get_surrogate_ids_and_thread_ids_repaired_and_marked(memory):
    memory.add(
        [{"role": "user", "content": "from a broken client", "id": LONE, "thread_id": LONE, "speaker": 5, "x": {1, 2}}],
        namespace="bob",
        repair=True,
    )
    (msg,) = memory.recent_messages("bob")
    assert msg.id != LONE and msg.thread_id == "caf\ufffd" and msg.speaker is None and "x" not in msg.extra
    for word in ("id", "thread_id", "speaker", "extra['x']"):
        assert word in msg.extra["repaired"]


# -- the facade: times ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp", ["9999-01-01T00:00:00", "0001-01-01T00:00:00", datetime(9999, 1, 1), datetime(1, 1, 1)]
)
def test_message_timestamps_in_year_9999_or_year_1_are_refused_as_documented(memory, stamp):
    exc = refused(
        InvalidTimeError,
        "timestamp",
        lambda: memory.add([{"role": "user", "content": "x", "timestamp": stamp}], namespace="a"),
    )
    assert isinstance(exc, InvalidMessageError) and exc.index == 0 and "3000" in str(exc)
    refused(InvalidTimeError, "event_time", lambda: memory.remember("a", "x", event_time=stamp))


@pytest.mark.parametrize("when", ["0001-01-02", datetime(1, 1, 1, tzinfo=UTC), "9999-12-31", -86400])
def test_a_reference_time_near_year_1_or_9999_is_refused_not_an_overflow(memory, when):
    for call in (memory.search, memory.context):
        exc = refused(
            InvalidTimeError, "reference_time", lambda call=call: call("alice", "bees last week", reference_time=when)
        )
        assert isinstance(exc, InvalidMessageError)  # what reference_time raised before


@pytest.mark.parametrize("time_range", [("yesterday", None), (None, "2024-13-01"), (datetime.min, None)])
def test_time_ranges_the_store_cannot_compare_are_refused(memory, time_range):
    refused(InvalidTimeError, None, lambda: memory.search("alice", "bees", time_range=time_range))


def test_a_time_expression_past_the_calendar_is_no_window_not_an_overflow(memory):
    assert len(memory.search("alice", "bees I had 5000 years ago", k=2)) == 2
    assert memory.context("alice", "bees 10000000000 weeks ago").items


# -- the facade: counts, filters, extra fields, speakers, sizes --------------------------------------------------------


@pytest.mark.parametrize("k", [-1, 0, 2.5, "3"])
def test_k_below_one_or_not_a_whole_number_is_refused(memory, k):
    refused(InvalidQueryError, "k", lambda: memory.search("alice", "bees", k=k))
    refused(InvalidQueryError, "k", lambda: memory.context("alice", "bees", k=k))


def test_k_minus_one_no_longer_drops_the_last_hit_silently(memory):
    assert len(memory.search("alice", "bees", k=4)) == 4
    refused(InvalidQueryError, "k", lambda: memory.search("alice", "bees", k=-1))


@pytest.mark.parametrize("max_tokens", [0, -5])
def test_max_tokens_of_zero_or_less_is_refused(memory, max_tokens):
    refused(InvalidQueryError, "max_tokens", lambda: memory.context("alice", "bees", max_tokens=max_tokens))


@pytest.mark.parametrize(
    "filters", [{"speaker": float("nan")}, {"speaker": "a", "role": "user"}, {"speaker": {"$regex": "b"}}, [1]]
)
def test_bad_filters_get_a_typed_error_not_a_chroma_error(memory, filters):
    for mode in ("hybrid", "dense", "lexical"):
        refused(
            InvalidQueryError, "filters", lambda mode=mode: memory.search("alice", "bees", filters=filters, mode=mode)
        )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tags": object()}, "extra['tags']"),
        ({"score": float("nan")}, "extra['score']"),
        ({"when": datetime.now()}, "extra['when']"),
    ],
)
def test_non_json_extra_fields_are_refused_naming_the_field(memory, extra, field):
    refused(InvalidMessageError, field, lambda: memory.add([{"role": "user", "content": "x", **extra}], namespace="a"))


def test_a_speaker_that_is_not_a_string_is_refused(memory):
    refused(
        InvalidMessageError,
        "speaker",
        lambda: memory.add([{"role": "user", "content": "x", "speaker": 5}], namespace="a"),
    )
    refused(InvalidMessageError, "speaker", lambda: memory.remember("a", "x", speaker=5))


def test_remember_and_update_refuse_a_text_add_refuses(make_memory):
    memory = make_memory(input={"max_message_chars": 1000})
    text = "x" * 1001
    refused(InvalidMessageError, "content", lambda: memory.add([{"role": "user", "content": text}], namespace="a"))
    refused(InvalidMessageError, "text", lambda: memory.remember("a", text))
    saved = memory.remember("a", "short")
    refused(InvalidMessageError, "text", lambda: memory.update("a", saved.id, text))
    assert [e.text for e in memory.entries("a")] == ["short"]


def test_the_default_text_limit_is_the_layers(make_memory):
    assert LightMemConfig().input.max_message_chars == MAX_TEXT_CHARS
    memory = make_memory()
    refused(InvalidMessageError, "text", lambda: memory.remember("a", "x" * 3_000_000))


def test_get_and_delete_refuse_a_bare_string_of_ids(memory):
    refused(InvalidIdError, "ids", lambda: memory.get("alice", "m1"))
    refused(InvalidIdError, "ids", lambda: memory.delete("alice", "m1"))


# -- the retriever -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"k": 0}, {"k": -1}, {"max_tokens": 0}, {"reference_time": "0001-01-01"}])
def test_the_retriever_refuses_per_call_options_like_the_facade(memory, options):
    retriever = memory.as_retriever(namespace="alice", k=3)
    with pytest.raises(InvalidInputError):
        retriever.invoke("bees", **options)
    refused(InvalidQueryError, "query", lambda: retriever.invoke(LONE))
    assert len(retriever.invoke("bees")) == 3


# -- LightMemStore -----------------------------------------------------------------------------------------------------


@pytest.fixture
def store(memory: LightMem) -> LightMemStore:
    return LightMemStore(memory)


def test_a_memory_over_the_text_limit_is_refused_by_the_store_exactly_as_by_remember(make_memory):
    memory = make_memory(input={"max_message_chars": 1000})
    store = LightMemStore(memory)
    text = "x" * 1001
    with pytest.raises(InvalidMessageError) as by_remember:
        memory.remember("alice", text)
    with pytest.raises(InvalidMessageError) as by_store:
        store.put(("alice", MEMORIES), "big", {"text": text})
    assert str(by_store.value) == str(by_remember.value) and by_store.value.field == "text"
    # nothing of a refused batch is written, also the valid item before it
    with pytest.raises(InvalidMessageError):
        store.batch(
            [
                _put(("alice", "prefs"), "ok", {"v": 1}),
                _put(("alice", MEMORIES), "ok", {"text": "fine"}),
                _put(("alice", MEMORIES), "big", {"text": text}),
            ]
        )
    assert store.get(("alice", "prefs"), "ok") is None and memory.entries("alice") == []


def _put(namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> Any:
    from langgraph.store.base import PutOp

    return PutOp(namespace, key, value)


@pytest.mark.parametrize(
    ("value", "error", "field"),
    [
        ({"text": "x", "speaker": 5}, InvalidMessageError, "speaker"),
        ({"text": "x", "event_time": "0001-01-01"}, InvalidTimeError, "event_time"),
        ({"text": "x", "thread_id": LONE}, InvalidStoreInputError, "value['thread_id']"),
    ],
)
def test_memory_fields_through_the_store_are_refused_like_remember(store, value, error, field):
    refused(error, field, lambda: store.put(("alice", MEMORIES), "k", value))


def test_messages_through_the_store_are_refused_like_add(store):
    refused(
        InvalidMessageError,
        "speaker",
        lambda: store.put(("alice", MESSAGES), "m", {"role": "user", "content": "x", "speaker": 5}),
    )
    refused(
        InvalidStoreInputError,
        "value['when']",
        lambda: store.put(("alice", MESSAGES), "m", {"role": "user", "content": "x", "when": math.nan}),
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda s, ns: s.search(ns, query="bees"),
        lambda s, ns: s.search(ns),
        lambda s, ns: s.put(ns, "k", {"v": 1}),
        lambda s, ns: s.get(ns, "k"),
        lambda s, ns: s.list_namespaces(prefix=ns),
    ],
    ids=["search-query", "search", "put", "get", "list"],
)
def test_a_two_thousand_label_namespace_is_refused_by_the_store(store, call):
    labels = tuple(f"l{i}" for i in range(2000))
    exc = refused(InvalidStoreInputError, "namespace", lambda: call(store, labels))
    assert "2,000 labels" in str(exc)


def test_a_filter_with_two_thousand_fields_still_works_in_the_store(store):
    store.put(("alice", "prefs"), "k", {"f0": "a", "f1": "b"})
    wide = {f"f{i}": "a" if i == 0 else "b" for i in range(2)} | {f"g{i}": "x" for i in range(2000)}
    assert store.search(("alice",), filter=wide) == []  # Chroma is given a bounded part; Python checks the rest
    assert [i.key for i in store.search(("alice",), filter={"f0": "a", "f1": "b"})] == ["k"]


def test_store_nan_filters_and_ttls_are_typed_errors(store):
    refused(InvalidStoreInputError, "filter['n']", lambda: store.search(("alice",), filter={"n": math.nan}))
    refused(InvalidStoreInputError, "ttl", lambda: store.put(("alice", "p"), "k", {"v": 1}, ttl=math.nan))


# -- the CLI -------------------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str]:
    try:
        code = main(["--data-dir", str(data), "--embeddings", "static", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "9999-01-01"],
        ["--until", "0001-01-01"],
        ["--reference-time", "0001-01-02"],
        ["--reference-time", "9999-12-31T00:00:00"],
    ],
)
def test_the_cli_refuses_years_outside_the_range_with_one_line(tmp_path, capsys, args):
    data = tmp_path / "data"
    with LightMem(LightMemConfig(data_dir=data, embeddings={"backend": "static"})) as memory:
        memory.add([{"role": "user", "content": "I keep bees."}], namespace="a")
    code, err = _cli(capsys, data, "search", "bees", "--namespace", "a", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "range" in err, err


# -- property: random names never raise anything but an InvalidInputError ----------------------------------------------

ANY_CHAR = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(categories=["Cc"]),  # control characters
    st.sampled_from("/#p.$ "),
)
NAMES = st.one_of(st.text(ANY_CHAR, max_size=12), st.sampled_from(["", " ", "a#p1", "\ud800", "\x00", "x" * 300]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=NAMES, namespace=NAMES, msg_id=NAMES, thread_id=NAMES, speaker=st.one_of(NAMES, st.integers()))
def test_random_names_only_ever_raise_input_errors(memory, query, namespace, msg_id, thread_id, speaker):
    calls = [
        lambda: memory.add(
            [{"role": "user", "content": f"about {query}", "id": msg_id, "thread_id": thread_id, "speaker": speaker}],
            namespace=namespace,
        ),
        lambda: memory.add([{"role": "user", "content": query or "x"}], namespace="alice", thread_id=thread_id),
        lambda: memory.search(namespace, query),
        lambda: memory.search("alice", query, k=2),
        lambda: memory.context("alice", query, max_tokens=64),
        lambda: memory.remember(namespace, query, key=msg_id, thread_id=thread_id, speaker=speaker),
    ]
    for call in calls:
        try:
            call()
        except InvalidInputError as exc:
            assert exc.field, f"{type(exc).__name__} without a field: {exc}"
