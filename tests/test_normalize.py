from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_lightmem.config import InputConfig
from langchain_lightmem.errors import InvalidIdError, InvalidMessageError, InvalidNamespaceError, InvalidTimeError
from langchain_lightmem.normalize import normalize_memory, normalize_messages, parse_timestamp
from langchain_lightmem.tokens import TokenCounter
from langchain_lightmem.types import normalize_namespace

NS = ("alice",)


def norm(messages, **kwargs):
    return normalize_messages(
        messages, NS, thread_id=kwargs.pop("thread_id", None), config=InputConfig(**kwargs), counter=TokenCounter()
    )


def test_langchain_messages_map_to_roles_and_keep_ids_names():
    out = norm(
        [
            SystemMessage("be nice"),
            HumanMessage("hi", id="h1", name="Alice"),
            AIMessage("hello", id="a1"),
            ToolMessage("42", tool_call_id="c1"),
            HumanMessage("again"),
        ]
    )
    assert [m.role for m in out] == ["system", "user", "assistant", "tool", "user"]
    assert out[1].id == "h1" and out[1].speaker == "Alice"
    assert len({m.id for m in out}) == 5


def test_dict_aliases_timestamp_speaker_and_extra_fields():
    (m,) = norm([{"role": "human", "content": "x", "timestamp": "2024-05-08T13:56:00Z", "speaker": "Al", "img": "u"}])
    assert m.role == "user" and m.speaker == "Al"
    assert m.timestamp == datetime(2024, 5, 8, 13, 56, tzinfo=UTC)
    assert m.extra == {"img": "u"}


@pytest.mark.parametrize("content", ["", "   ", "\n\t ", None, []])
def test_empty_content_is_refused_with_index(content):
    with pytest.raises(InvalidMessageError, match=r"message 1: content is empty"):
        norm([{"role": "user", "content": "ok"}, {"role": "user", "content": content}])


def test_missing_content_key_is_refused():
    with pytest.raises(InvalidMessageError, match="needs 'content'"):
        norm([{"role": "user"}])


def test_unknown_role_is_refused_and_lists_valid_roles():
    with pytest.raises(InvalidMessageError, match=r"unknown role 'robot'.*user, assistant, system, tool"):
        norm([{"role": "robot", "content": "beep"}])


@pytest.mark.parametrize(
    "stamp",
    ["yesterday", "2024-13-45", 1e15, -5, True, object()],
)
def test_invalid_timestamps_are_refused(stamp):
    with pytest.raises(InvalidMessageError, match=r"timestamp|epoch"):
        norm([{"role": "user", "content": "x", "timestamp": stamp}])


def test_millisecond_epoch_gets_a_hint():
    with pytest.raises(InvalidMessageError, match="milliseconds"):
        norm([{"role": "user", "content": "x", "timestamp": 1_715_000_000_000}])


def test_naive_timestamp_takes_configured_zone_and_epoch_is_utc():
    (m,) = norm([{"role": "user", "content": "x", "timestamp": "2024-05-08T10:00:00"}], naive_timezone="Europe/Berlin")
    assert m.timestamp.utcoffset() == timedelta(hours=2)
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    aware = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_timestamp(aware) == aware


def test_missing_timestamp_means_now():
    before = datetime.now(UTC)
    (m,) = norm([{"role": "user", "content": "x"}])
    assert before <= m.timestamp <= datetime.now(UTC)


def test_non_text_blocks_become_placeholders_and_tool_calls_are_rendered():
    out = norm(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "look at this"},
                    {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                    {"type": "image", "caption": "a red bike"},
                ]
            ),
            AIMessage(content="", tool_calls=[{"name": "search", "args": {"q": "bikes"}, "id": "c1"}]),
        ]
    )
    assert out[0].content == "look at this\n[image]\n[image: a red bike]"
    assert out[1].content == '[tool call search({"q": "bikes"})]'


def test_image_only_message_is_kept_as_placeholder():
    (m,) = norm([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert m.content == "[image]"


def test_lone_surrogates_and_control_characters_are_cleaned():
    (m,) = norm([{"role": "user", "content": "bad \ud800 char\x00\x07 here\r\nnext"}])
    assert m.content == "bad \ufffd char here\nnext"
    m.content.encode("utf-8")  # storable


def test_huge_message_is_split_into_parts_and_oversized_refused():
    text = " ".join(f"word{i}" for i in range(5000))
    out = norm([{"role": "user", "content": text, "id": "big"}], part_tokens=1000)
    assert len(out) > 5
    assert [m.id for m in out[:2]] == ["big#p1", "big#p2"]
    assert all(m.part_of == "big" and m.tokens <= 1000 for m in out)
    assert " ".join(m.content for m in out).split() == text.split()
    with pytest.raises(InvalidMessageError, match="max_message_chars"):
        norm([{"role": "user", "content": "x" * 101}], max_message_chars=100)


def test_one_megabyte_message_is_accepted_in_parts():
    text = ("The quick brown fox jumps over the lazy dog. " * 24000)[: 1 << 20]
    out = norm([{"role": "user", "content": text}])
    assert sum(len(m.content) for m in out) >= len(text) - len(out) * 2
    assert all(m.tokens <= InputConfig().part_tokens for m in out)


def test_bad_ids_and_single_message_calls_are_refused():
    with pytest.raises(InvalidMessageError, match="id"):
        norm([{"role": "user", "content": "x", "id": "a\x00b"}])
    with pytest.raises(InvalidMessageError, match="id must be a string"):
        norm([{"role": "user", "content": "x", "id": 1.5}])
    with pytest.raises(InvalidMessageError, match="list of messages"):
        norm({"role": "user", "content": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match="BaseMessage or a dict"):
        norm(["just a string"])


@pytest.mark.parametrize("bad", ["", (), ("a", ""), ("a/b",), ("tab\there",), (1,), ("x" * 300,)])
def test_bad_namespaces_are_refused(bad):
    with pytest.raises(InvalidNamespaceError):
        normalize_namespace(bad)


def test_namespaces_normalise():
    assert normalize_namespace("alice") == ("alice",)
    assert normalize_namespace(["org", "alice@example.com"]) == ("org", "alice@example.com")


# -- the validation layer's rules at the write path's first node (issue 12, item 6) ----------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"id": "a\ud800"}, "id", InvalidMessageError),
        ({"thread_id": "t\udcff"}, "thread_id", InvalidMessageError),
        ({"thread_id": ["t1"]}, "thread_id", InvalidMessageError),
        ({"speaker": 5}, "speaker", InvalidMessageError),
        ({"tags": {1, 2}}, "extra['tags']", InvalidMessageError),
        ({"score": float("nan")}, "extra['score']", InvalidMessageError),
        ({"timestamp": "9999-01-01T00:00:00"}, "timestamp", InvalidTimeError),
        ({"timestamp": datetime(1, 1, 1)}, "timestamp", InvalidTimeError),
    ],
)
def test_invalid_fields_are_refused_naming_index_and_field(fields, field, error):
    with pytest.raises(error) as info:
        norm([{"role": "user", "content": "ok"}, {"role": "user", "content": "x", **fields}])
    assert info.value.index == 1 and info.value.field == field and str(info.value).startswith("message 1: ")


def test_a_call_level_thread_id_is_checked_like_a_messages():
    with pytest.raises(InvalidMessageError) as info:
        norm([{"role": "user", "content": "x"}], thread_id="t\x00")
    assert info.value.field == "thread_id" and info.value.index is None


def test_repair_mode_repairs_and_marks_every_field_instead_of_refusing():
    (m,) = normalize_messages(
        [
            {
                "role": "user",
                "content": "x",
                "id": "a\ud800",
                "speaker": 5,
                "tags": {1},
                "ok": [1],
                "timestamp": "0001-01-01",
            }
        ],
        NS,
        thread_id="t\ud800\x00",
        config=InputConfig(),
        counter=TokenCounter(),
        repair=True,
    )
    assert m.id != "a\ud800" and m.thread_id == "t\ufffd" and m.speaker is None
    assert m.extra["ok"] == [1] and "tags" not in m.extra and m.timestamp.year > 2000
    for field in ("thread_id", "id", "speaker", "extra['tags']", "timestamp"):
        assert field in m.extra["repaired"]
    m.extra["repaired"].encode("utf-8")  # storable: values are shown with repr


def test_a_memory_is_checked_with_the_same_rules_as_a_message():
    given = normalize_memory(" Alice moved \ud800 ", event_time="2024-05-01", speaker=" Alice ", key=7)
    assert given.text == "Alice moved \ufffd" and given.speaker == "Alice" and given.key == "7"
    assert given.event_time == datetime(2024, 5, 1, tzinfo=UTC)
    for kwargs, error, field in [
        ({"text": ""}, InvalidMessageError, "text"),
        ({"text": "x" * 11}, InvalidMessageError, "text"),
        ({"event_time": "3001-01-01"}, InvalidTimeError, "event_time"),
        ({"key": "k\ud800"}, InvalidIdError, "key"),
        ({"speaker": 5}, InvalidMessageError, "speaker"),
    ]:
        with pytest.raises(error) as info:
            normalize_memory(**{"text": "x", "max_chars": 10, **kwargs})
        assert info.value.field == field


def test_namespaces_refuse_surrogates_depth_and_non_sequences():
    for bad in [("a\udcff",), tuple(str(i) for i in range(65)), 5, b"alice"]:
        with pytest.raises(InvalidNamespaceError) as info:
            normalize_namespace(bad)
        assert info.value.field == "namespace"
