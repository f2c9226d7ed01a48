"""Sentence-to-sentence attention from a transformer encoder: the coarse signal of hybrid segmentation.

The turns of a buffer are read as one token sequence (``[CLS] turn 1 turn 2 ... [SEP]``). Averaging the attention
of some layers over heads, with the first and last few token positions left out (they soak up attention whatever
the text), gives ``M[i, j]``: the mean attention mass a token of turn ``i`` puts on turn ``j``. Rows are normalised
over the other turns, and ``a[k] = M[k + 1, k]`` says how much turn ``k + 1`` looks back at turn ``k``.

A buffer longer than the encoder's window is read in overlapping windows (consecutive windows share one turn, so
every neighbouring pair is seen together once); a turn longer than half a window is cut for this reading only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_lightmem.errors import ConfigurationError


def default_layers(depth: int) -> list[int]:
    """The layers averaged by default: the lower third of the encoder (0-based; at least one layer).

    The LightMem reference averages the upper third (layers 8-11 of a 12-layer BERT). On all-MiniLM-L6-v2 the upper
    layers carry no topic signal in our measurement (benchmarks/sensory/attention_signal.py), the lower ones do.
    """
    return list(range(max(1, round(depth / 3))))


def local_extrema(values: np.ndarray, kind: str) -> list[int]:
    """Indices of the strict local maxima (``kind='maxima'``) or minima of ``values``. An end, or a value next to
    a NaN, is compared with its one real neighbour; NaN entries, and values without a real neighbour, never are."""
    sign = 1.0 if kind == "maxima" else -1.0
    v = sign * np.asarray(values, dtype=np.float64)
    out: list[int] = []
    for k in range(len(v)):
        neighbours = [v[j] for j in (k - 1, k + 1) if 0 <= j < len(v) and not np.isnan(v[j])]
        if not np.isnan(v[k]) and neighbours and all(v[k] > n for n in neighbours):
            out.append(k)
    return out


class AttentionEncoder:
    """Reads neighbour attention between turns from a transformer encoder (BERT, RoBERTa, MiniLM, ...).

    The model must return attention maps, i.e. run with eager attention
    (``attn_implementation="eager"``; transformers 5's default attention returns none). One lock guards the model,
    so an encoder shared with a compressor never runs two passes at once.

    Example:
        .. code-block:: python

            from langchain_lightmem.models import load_attention_encoder

            model, tokenizer, name = load_attention_encoder()  # the packaged all-MiniLM-L6-v2
            encoder = AttentionEncoder(model, tokenizer, name=name)
            a = encoder.neighbour_attention(["I moved to Berlin.", "Nice city!", "Anyway, my cat is ill."])
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, lock: threading.Lock | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.lock = lock or threading.Lock()
        config = model.config
        self.depth = int(config.num_hidden_layers)
        limit = int(getattr(config, "max_position_embeddings", 512) or 512)
        if config.model_type in ("roberta", "xlm-roberta"):
            limit -= int(config.pad_token_id or 0) + 1  # RoBERTa position ids start after the padding index
        self.window = min(limit, 512)
        start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        if start is None or end is None:
            raise ConfigurationError(f"encoder {name!r} has no CLS/SEP (or BOS/EOS) token; use a BERT-like encoder")
        self._start, self._end = int(start), int(end)
        self._pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end)

    def check_layers(self, layers: Sequence[int]) -> list[int]:
        """Validate layer indices against the encoder's depth."""
        chosen = sorted(set(layers))
        if not chosen or chosen[0] < 0 or chosen[-1] >= self.depth:
            raise ConfigurationError(
                f"segmentation.attention_layers={list(layers)} is invalid for {self.name!r}, which has {self.depth} "
                f"layers: use indices 0..{self.depth - 1}"
            )
        return chosen

    def _windows(self, lengths: Sequence[int]) -> list[tuple[int, int]]:
        """Turn ranges ``[a, b)`` read together; consecutive ranges share their edge turn."""
        budget = self.window - 2
        windows: list[tuple[int, int]] = []
        start = 0
        while start < len(lengths) - 1:
            end, used = start, 0
            while end < len(lengths) and used + lengths[end] <= budget:
                used += lengths[end]
                end += 1
            end = max(end, start + 2)  # lengths are capped at half the budget, so two turns always fit
            windows.append((start, end))
            if end >= len(lengths):
                break
            start = end - 1
        return windows

    def neighbour_attention(
        self, texts: Sequence[str], *, layers: Sequence[int] = (), edge_mask: int = 3
    ) -> np.ndarray:
        """``a[k]``: the share of turn ``k + 1``'s attention (over the other turns) that goes to turn ``k``.

        Returns an array of ``len(texts) - 1`` values (NaN where a turn has no token left after masking).
        """
        layers = self.check_layers(layers or default_layers(self.depth))
        if len(texts) < 2:
            return np.zeros(0)
        cap = (self.window - 2) // 2
        ids = [list(x)[:cap] for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
        windows = self._windows([len(x) for x in ids])
        sequences, owners = [], []
        for a, b in windows:
            seq, owner = [self._start], [-1]
            for i in range(a, b):
                seq += ids[i]
                owner += [i - a] * len(ids[i])
            seq.append(self._end)
            owner.append(-1)
            sequences.append(seq)
            owners.append(owner)
        attention = [self._attention(sequences[i : i + 8], layers) for i in range(0, len(sequences), 8)]
        maps = [m for batch in attention for m in batch]
        result = np.full(len(texts) - 1, np.nan)
        for (a, b), owner, attn in zip(windows, owners, maps, strict=True):
            n, length = b - a, len(owner)
            who = np.asarray(owner)
            keep = who >= 0
            keep[:edge_mask] = False
            keep[max(0, length - edge_mask) :] = False
            onehot = np.zeros((length, n))
            onehot[np.flatnonzero(keep), who[keep]] = 1.0
            mass = onehot.T @ attn[:length, :length] @ onehot  # summed over the tokens of each turn pair
            counts = onehot.sum(axis=0)
            matrix = mass / np.where(counts == 0, 1.0, counts)[:, None]
            np.fill_diagonal(matrix, 0.0)
            totals = matrix.sum(axis=1, keepdims=True)
            matrix = np.divide(matrix, totals, out=np.full_like(matrix, np.nan), where=totals > 0)
            for k in range(n - 1):
                if counts[k] and counts[k + 1]:
                    result[a + k] = matrix[k + 1, k]
        return result

    def _attention(self, sequences: Sequence[list[int]], layers: Sequence[int]) -> list[np.ndarray]:
        """One padded forward pass; the token-to-token attention of each sequence, averaged over layers and heads."""
        import torch

        longest = max(len(s) for s in sequences)
        input_ids = torch.full((len(sequences), longest), self._pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        device = next(self.model.parameters()).device
        with self.lock, torch.inference_mode():
            out = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device), output_attentions=True)
        if not getattr(out, "attentions", None):
            raise ConfigurationError(
                f"encoder {self.name!r} returned no attention maps: load it with attn_implementation='eager'"
            )
        mean = torch.stack([out.attentions[layer] for layer in layers]).float().mean(dim=(0, 2)).cpu().numpy()
        return list(mean)
