from __future__ import annotations

import pytest

from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.tokens import TokenCounter, ensure_tiktoken_offline


def test_counts_match_known_cl100k_ids():
    counter = TokenCounter()
    assert counter.encode("hello world") == [15339, 1917]
    assert counter.count("") == 0
    assert counter.count_many(["hello world", "", "a b c"]) == [2, 0, 3]


def test_split_keeps_every_word_and_respects_the_limit():
    counter = TokenCounter()
    text = " ".join(f"token{i}" for i in range(3000))
    parts = counter.split(text, 200)
    assert all(counter.count(p) <= 200 for p in parts)
    assert " ".join(parts).split() == text.split()
    assert counter.split("short", 200) == ["short"]


def test_unknown_encoding_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="cl100k_base"):
        TokenCounter("nope")


def test_tiktoken_works_offline_after_ensure(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    import tiktoken

    cache = ensure_tiktoken_offline()
    assert cache == tmp_path and len(list(tmp_path.iterdir())) == 2
    ensure_tiktoken_offline()  # idempotent
    tiktoken.registry.ENCODINGS.pop("cl100k_base", None)
    enc = tiktoken.get_encoding("cl100k_base")  # would need the network without the cache
    assert enc.encode("hello world") == [15339, 1917]
