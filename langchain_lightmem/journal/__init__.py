"""The durable journal: the raw message log and the sensory / short-term buffers, in SQLite (a file in the data
folder, the default) or PostgreSQL (one schema shared by every worker); the SQL is the same for both
(:mod:`langchain_lightmem.database`).

A message accepted by ``add`` is committed here before ``add`` returns, and every move between stages
(:class:`~langchain_lightmem.types.Stage`) is one transaction, so a process killed at any point resumes where it
stopped:

    accepted --compress--> sensory --segment--> short_term --batch--> batched --write--> done

Batches (one extraction call each) are rows too: ``pending`` -> ``extracted`` (facts saved here first) ->
``written`` (facts upserted into long-term memory under deterministic ids, so a repeat overwrites instead of
duplicating). The buffers are not separate copies: they are the messages in a stage.

:class:`Journal` owns the database and its transactions; its queries live in one repository per consumer
(``journal.messages``, ``journal.batches``, ... : see :class:`Journal`). ``schema`` holds the tables and their
migrations; ``repository`` the helpers every repository shares (the generation fence, sequence counters).
"""

from langchain_lightmem.journal.batches import Batch, Batches, BatchInfo, BatchStatus
from langchain_lightmem.journal.buffers import StageBuffers
from langchain_lightmem.journal.consolidation import ConsolidationLog, KeptDecision
from langchain_lightmem.journal.core import Journal
from langchain_lightmem.journal.entries import EntryLog
from langchain_lightmem.journal.leases import Leases, consolidation_lease, new_worker_id, worker_alive
from langchain_lightmem.journal.messages import MessageLog
from langchain_lightmem.journal.namespaces import Namespaces
from langchain_lightmem.journal.repository import NamespaceForgottenError, generation_key
from langchain_lightmem.journal.schema import POSTGRES_MIGRATIONS, SCHEMA_VERSION, Table, tables
from langchain_lightmem.journal.usage import UsageLog
from langchain_lightmem.journal.windows import ChatWindows
from langchain_lightmem.types import Stage

__all__ = [
    "POSTGRES_MIGRATIONS",
    "SCHEMA_VERSION",
    "Batch",
    "BatchInfo",
    "BatchStatus",
    "Batches",
    "ChatWindows",
    "ConsolidationLog",
    "EntryLog",
    "Journal",
    "KeptDecision",
    "Leases",
    "MessageLog",
    "NamespaceForgottenError",
    "Namespaces",
    "Stage",
    "StageBuffers",
    "Table",
    "UsageLog",
    "consolidation_lease",
    "generation_key",
    "new_worker_id",
    "tables",
    "worker_alive",
]
