"""Token counting that never touches the network.

Counts use ``quicktok`` (bundled cl100k/o200k vocabularies, ids identical to tiktoken's). For libraries that call
tiktoken themselves (llmlingua, ``ChatOpenAI.get_num_tokens``), :func:`ensure_tiktoken_offline` writes tiktoken's
cache files from the bundled vocabularies so tiktoken loads them instead of downloading.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_lightmem.errors import ConfigurationError

_TIKTOKEN_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import quicktok

    try:
        return quicktok.get_encoding(name)
    except Exception as exc:  # quicktok raises RuntimeError/KeyError for unknown names
        raise ConfigurationError(f"unknown token encoding {name!r}; use 'cl100k_base' or 'o200k_base'") from exc


class TokenCounter:
    """Counts tokens with one encoding (``cl100k_base`` by default). Thread-safe; cheap to copy."""

    def __init__(self, encoding: str = "cl100k_base") -> None:
        self.encoding = encoding
        self._enc = _encoding(encoding)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return int(self._enc.count(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        import quicktok

        return [int(n) for n in quicktok.count_batch(self._enc, list(texts))]

    def encode(self, text: str) -> list[int]:
        return list(self._enc.encode_ordinary(text))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._enc.decode(list(ids)))

    def split(self, text: str, max_tokens: int) -> list[str]:
        """Cut ``text`` into pieces of at most ``max_tokens`` tokens, preferring whitespace boundaries."""
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return [text]
        pieces: list[str] = []
        start = 0
        while start < len(ids):
            end = min(start + max_tokens, len(ids))
            piece = self.decode(ids[start:end])
            if end < len(ids):
                # Move the cut back to the last whitespace so words stay whole (bounded to half a window).
                cut = max(piece.rfind(" "), piece.rfind("\n"))
                if cut > len(piece) // 2:
                    keep = len(self.encode(piece[:cut]))
                    if keep > 0:
                        end = start + keep
                        piece = self.decode(ids[start:end])
            pieces.append(piece)
            start = end
        return [p for p in pieces if p.strip()] or [text]


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from (``TIKTOKEN_CACHE_DIR``, else ours under the user cache)."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "langchain-lightmem" / "tiktoken"


def ensure_tiktoken_offline(encodings: Sequence[str] = ("cl100k_base", "o200k_base")) -> Path:
    """Make ``tiktoken.get_encoding`` work without network; idempotent. Returns the cache folder.

    Sets ``TIKTOKEN_CACHE_DIR`` for this process when it was unset, then writes each missing cache file from
    quicktok's bundled vocabulary (the bytes hash to what tiktoken expects, so tiktoken accepts them).
    """
    cache = tiktoken_cache_dir()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    cache.mkdir(parents=True, exist_ok=True)
    for name in encodings:
        url = _TIKTOKEN_URLS[name]
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        enc = _encoding(name)
        lines = []
        for token_id in range(enc.max_token_value + 1):
            if enc.is_special_token(token_id):
                continue
            try:
                token_bytes = enc.decode_single_token_bytes(token_id)
            except Exception:  # ids with no token (gaps before the special tokens)
                continue
            lines.append(f"{base64.b64encode(token_bytes).decode()} {token_id}")
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(("\n".join(lines) + "\n").encode())
        os.replace(tmp, target)  # atomic: concurrent processes never see half a file
    return cache
