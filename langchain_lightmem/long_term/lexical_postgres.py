"""The lexical index on PostgreSQL: BM25 over each namespace's entries, in one table for every namespace.

The same contract as the SQLite FTS5 index (:class:`~langchain_lightmem.long_term.lexical.LexicalBackend`), on
the journal's server, so workers on several hosts share it:

- ``lexical_rows``: one row per entry, keyed by ``(collection, id)``; ``position`` (insertion order), the history
  flag, event time, topic segment, text, the Chroma metadata (``record``), the text's token count (``doclen``) and
  a ``tsvector`` of it (PostgreSQL's ``english`` configuration: Snowball stemmer, stop words dropped) with a GIN
  index; ``lexical_namespaces``: the pending / built marks that keep it consistent with Chroma, as in SQLite.
- Ranking is BM25 computed in SQL the way FTS5's ``bm25()`` does it (k1 1.2, b 0.75, ``idf = ln((N - n + 0.5) /
  (n + 0.5))`` floored at 1e-6, N and the average length over the namespace's rows): scores mean the same on both
  backends, so hybrid fusion and the relevance calibration carry over. ``ts_rank_cd`` is not used: it has no idf.
- A namespace is a value of the ``collection`` column (its Chroma collection name, a digest of the namespace);
  every query is restricted to it, and ``drop`` deletes its rows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_lightmem.database import PostgresDatabase
from langchain_lightmem.long_term.lexical import ENGLISH_STOP_WORDS, LexicalHit, LexicalRow, query_terms

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # FTS5's unicode61 tokens: runs of letters and digits
_K1, _B = 1.2, 0.75

# The lexical tables' history (setup() applies what a server lacks; append, never edit).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS lexical_namespaces (collection TEXT PRIMARY KEY,"
        " pending BIGINT NOT NULL DEFAULT 0, built BIGINT NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS lexical_rows ("
        " collection TEXT NOT NULL, id TEXT NOT NULL, position BIGINT GENERATED ALWAYS AS IDENTITY,"
        " history SMALLINT NOT NULL DEFAULT 0, event_ts DOUBLE PRECISION NOT NULL, segment_id TEXT,"
        " text TEXT NOT NULL, record TEXT NOT NULL, doclen INTEGER NOT NULL,"
        " tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,"
        " PRIMARY KEY (collection, id))",
        "CREATE INDEX IF NOT EXISTS lexical_rows_tsv ON lexical_rows USING GIN (tsv)",
        "CREATE INDEX IF NOT EXISTS lexical_rows_segment ON lexical_rows (collection, segment_id, position)",
    ),
)

# BM25 over the rows matching any query lexeme; df and the average length are over all of the namespace's rows.
# MATERIALIZED: computed once, not once per matching row (the planner would inline a CTE used once).
_SEARCH = f"""
WITH q AS (SELECT to_tsquery('simple', ?) AS query),
matched AS MATERIALIZED (
    SELECT r.id, r.position, r.doclen, r.history, r.event_ts, u.lexeme,
           coalesce(array_length(u.positions, 1), 1)::float8 AS tf
    FROM lexical_rows r CROSS JOIN q CROSS JOIN LATERAL unnest(r.tsv) AS u
    WHERE r.collection = ? AND r.tsv @@ q.query AND u.lexeme = ANY(?)
),
df AS MATERIALIZED (SELECT lexeme, count(*)::float8 AS n FROM matched GROUP BY lexeme),
stats AS MATERIALIZED (
    SELECT count(*)::float8 AS total, greatest(coalesce(avg(doclen), 0), 1)::float8 AS avgdl
    FROM lexical_rows WHERE collection = ?
)
SELECT m.id, sum(
    greatest(ln((s.total - d.n + 0.5) / (d.n + 0.5)), 1e-6)
    * m.tf * {_K1 + 1} / (m.tf + {_K1} * ({1 - _B} + {_B} * m.doclen / s.avgdl))
) AS score, min(m.position) AS position
FROM matched m JOIN df d ON d.lexeme = m.lexeme CROSS JOIN stats s
WHERE TRUE{{where}}
GROUP BY m.id ORDER BY score DESC, position LIMIT ?
"""


def _length(text: str) -> int:
    """The text's length in tokens, as FTS5 counts it for BM25 (stop words included)."""
    return len(_TOKEN.findall(text))


def _tsquery_literal(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


class PostgresLexicalIndex:
    """BM25 per namespace in PostgreSQL tables shared by every namespace (and every worker).

    Args:
        database: the journal's :class:`~langchain_lightmem.database.PostgresDatabase` (its tables live in the
            same schema); ``setup()`` runs here, idempotently.

    Example:
        .. code-block:: python

            db = PostgresDatabase.from_conn_string("postgresql://app@db:5432/app")
            index = PostgresLexicalIndex(db)
            index.upsert("mem_ab12", [LexicalRow("e1", "Caroline: I went to the support group", 1.7e9)])
            index.search("mem_ab12", "support group")   # [LexicalHit(id='e1', score=...)]
    """

    read_only = False

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        self.path = database.location
        self._lock = threading.Lock()
        self._checked: set[str] = set()
        self.setup()

    def setup(self) -> None:
        """Create the tables and indexes if missing (idempotent; safe when several workers start at once)."""
        self.database.migrate("lexical_migrations", MIGRATIONS)

    def close(self) -> None:
        self.database.close()

    def vacuum(self) -> bool:
        """Nothing of its own: the journal's ``vacuum()`` covers the whole schema, these tables included."""
        return False

    # -- consistency with Chroma ----------------------------------------------------------------------------

    def begin_write(self, collection: str) -> None:
        with self.database.transaction(collection) as cur:
            cur.execute(
                "INSERT INTO lexical_namespaces (collection, pending) VALUES (?, 1) ON CONFLICT (collection)"
                " DO UPDATE SET pending = lexical_namespaces.pending + 1",
                (collection,),
            )

    def invalidate(self, collection: str) -> None:
        with self._lock:
            self._checked.discard(collection)

    def checked(self, collection: str) -> bool:
        with self._lock:
            return collection in self._checked

    def needs_rebuild(self, collection: str, stored: int) -> bool:
        rows = self.database.query(
            "SELECT n.pending, n.built, (SELECT count(*) FROM lexical_rows r WHERE r.collection = n.collection)"
            " FROM lexical_namespaces n WHERE n.collection = ?",
            (collection,),
        )
        if not rows:
            return stored > 0
        pending, built, count = rows[0]
        if pending or not built or count != stored:
            return True
        with self._lock:
            self._checked.add(collection)
        return False

    def rebuild(self, collection: str, current: Iterable[LexicalRow], history: Iterable[LexicalRow]) -> None:
        with self.database.transaction(collection) as cur:
            cur.execute("DELETE FROM lexical_rows WHERE collection = ?", (collection,))
            self._insert(cur, collection, list(current), history=False)
            self._insert(cur, collection, list(history), history=True)
            cur.execute(
                "INSERT INTO lexical_namespaces (collection, pending, built) VALUES (?, 0, 1) ON CONFLICT (collection)"
                " DO UPDATE SET pending = 0, built = 1",
                (collection,),
            )
        with self._lock:
            self._checked.add(collection)

    # -- writes ---------------------------------------------------------------------------------------------

    @staticmethod
    def _insert(cur: Any, collection: str, rows: Sequence[LexicalRow], *, history: bool) -> None:
        cur.executemany(
            "INSERT INTO lexical_rows (collection, id, history, event_ts, segment_id, text, record, doclen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET history = excluded.history,"
            " event_ts = excluded.event_ts, segment_id = excluded.segment_id, text = excluded.text,"
            " record = excluded.record, doclen = excluded.doclen",
            [
                (collection, r.id, int(history), r.event_ts, r.segment_id, r.text, r.record, _length(r.text))
                for r in rows
            ],
        )

    @staticmethod
    def _finish(cur: Any, collection: str) -> None:
        cur.execute(
            "UPDATE lexical_namespaces SET pending = greatest(pending - 1, 0), built = 1 WHERE collection = ?",
            (collection,),
        )

    def upsert(self, collection: str, rows: Sequence[LexicalRow], *, history: bool = False) -> None:
        """Insert or replace rows; a replaced row keeps its position (neighbours stay neighbours)."""
        with self.database.transaction(collection) as cur:
            self._insert(cur, collection, rows, history=history)
            self._finish(cur, collection)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        with self.database.transaction(collection) as cur:
            cur.execute("DELETE FROM lexical_rows WHERE collection = ? AND id = ANY(?)", (collection, list(ids)))
            self._finish(cur, collection)

    def drop(self, collection: str) -> None:
        """Delete every row of the namespace (its collections were deleted)."""
        with self._lock:
            self._checked.discard(collection)
        with self.database.transaction(collection) as cur:
            cur.execute("DELETE FROM lexical_rows WHERE collection = ?", (collection,))
            cur.execute("DELETE FROM lexical_namespaces WHERE collection = ?", (collection,))

    # -- reads ----------------------------------------------------------------------------------------------

    def search(
        self,
        collection: str,
        query: str,
        *,
        limit: int = 100,
        include_history: bool = False,
        time_range: tuple[float | None, float | None] | None = None,
        stop_words: frozenset[str] = ENGLISH_STOP_WORDS,
    ) -> list[LexicalHit]:
        """The ``limit`` best entries for ``query`` by BM25, best first (event-time bounds in epoch seconds)."""
        terms = query_terms(query, stop_words=stop_words)
        if not terms:
            return []
        found = self.database.query("SELECT tsvector_to_array(to_tsvector('english', ?))", (" ".join(terms),))
        lexemes = list(found[0][0] or []) if found else []
        if not lexemes:
            return []
        clauses: list[str] = []
        params: list[Any] = []
        if not include_history:
            clauses.append("m.history = 0")
        if time_range is not None:
            if time_range[0] is not None:
                clauses.append("m.event_ts >= ?")
                params.append(time_range[0])
            if time_range[1] is not None:
                clauses.append("m.event_ts <= ?")
                params.append(time_range[1])
        sql = _SEARCH.replace("{where}", "".join(f" AND {c}" for c in clauses))
        tsquery = " | ".join(_tsquery_literal(lexeme) for lexeme in lexemes)
        rows = self.database.query(sql, (tsquery, collection, lexemes, collection, *params, limit))
        return [LexicalHit(str(r[0]), float(r[1])) for r in rows]

    def neighbours(self, collection: str, ids: Sequence[str], *, window: int = 1) -> dict[str, list[str]]:
        """For each id, the ids of up to ``window`` entries on each side of it in its topic segment, in order."""
        if window < 1 or not ids:
            return {}
        anchors = self.database.query(
            "SELECT id, segment_id, history FROM lexical_rows"
            " WHERE collection = ? AND id = ANY(?) AND segment_id IS NOT NULL",
            (collection, list(ids)),
        )
        segments = list({r[1] for r in anchors})
        order: dict[tuple[str, int], list[str]] = {}
        place: dict[str, int] = {}
        if segments:
            for entry_id, segment, history in self.database.query(
                "SELECT id, segment_id, history FROM lexical_rows WHERE collection = ? AND segment_id = ANY(?)"
                " ORDER BY position",
                (collection, segments),
            ):
                members = order.setdefault((segment, history), [])
                place[entry_id] = len(members)
                members.append(entry_id)
        out: dict[str, list[str]] = {}
        for anchor, segment, history in anchors:
            members, at = order[(segment, history)], place[anchor]
            out[anchor] = members[max(0, at - window) : at] + members[at + 1 : at + 1 + window]
        return out

    def records(
        self, collection: str, ids: Sequence[str], *, include_history: bool = False
    ) -> dict[str, tuple[str, str]]:
        """``id -> (text, record)`` of the given entries (current ones only unless ``include_history``)."""
        history = "" if include_history else " AND history = 0"
        rows = self.database.query(
            f"SELECT id, text, record FROM lexical_rows WHERE collection = ? AND id = ANY(?){history}",
            (collection, list(ids)),
        )
        return {str(i): (str(t), str(r)) for i, t, r in rows}

    def positions(self, collection: str, ids: Sequence[str]) -> dict[str, int]:
        return {i: int(v) for i, v in self._column(collection, "position", ids).items()}

    def event_times(self, collection: str, ids: Sequence[str]) -> dict[str, float]:
        return {i: float(v) for i, v in self._column(collection, "event_ts", ids).items()}

    def _column(self, collection: str, column: str, ids: Sequence[str]) -> dict[str, Any]:
        if not ids:
            return {}
        rows = self.database.query(
            f"SELECT id, {column} FROM lexical_rows WHERE collection = ? AND id = ANY(?)", (collection, list(ids))
        )
        return {str(r[0]): r[1] for r in rows}

    def ids_with_prefix(self, collection: str, prefix: str) -> list[str]:
        rows = self.database.query(
            "SELECT id FROM lexical_rows WHERE collection = ? AND starts_with(id, ?)", (collection, prefix)
        )
        return [str(r[0]) for r in rows]

    def count(self, collection: str) -> int:
        rows = self.database.query("SELECT count(*) FROM lexical_rows WHERE collection = ?", (collection,))
        return int(rows[0][0])
