"""The coverage guarantee: no message becomes unsearchable because a model's answer left it out.

After a batch is extracted, each counted message is *covered* when the facts that cite it precisely (the message's
own text supports the fact: :func:`~langchain_lightmem.short_term.citations.citation_support` of the fact against
that one line reaches :data:`~langchain_lightmem.short_term.citations.LINE_SUPPORT_THRESHOLD`) also hold most of
what it said (:data:`MESSAGE_COVERAGE_THRESHOLD` of its content words). A fact citing line 1 for what line 4 said
covers neither; "Melanie told her cousin" covers little of "I told my cousin about the zebra exhibit".

Every message left uncovered is kept as itself, an LLM-free entry of the same batch (``method="uncovered"``), so it
stays searchable whatever the model answered: a weak model that returns one fact for nineteen lines costs recall
nothing against LLM-free mode. ``ExtractionConfig.coverage`` turns this off. The per-batch figures
(:class:`Coverage`) are saved with the batch and summed in ``LightMem.stats()`` (``lightmem stats --batches``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

from langchain_lightmem.citations import LINE_SUPPORT_THRESHOLD, citation_support, content_words
from langchain_lightmem.short_term.extraction import message_entry
from langchain_lightmem.types import MemoryEntry, Message, Namespace, utcnow

MESSAGE_COVERAGE_THRESHOLD = 0.4
"""A message is covered when the facts that precisely cite it hold at least this share of its content words."""


def share_kept(wanted: set[str], kept: set[str]) -> float:
    """Share of ``wanted`` found in ``kept`` (1.0 when nothing is wanted: a message with no content word)."""
    return len(wanted & kept) / len(wanted) if wanted else 1.0


@dataclass(slots=True)
class Coverage:
    """What one batch's facts covered.

    ``messages``: counted messages; ``covered``: those a fact really came from; ``kept``: uncovered messages kept as
    themselves; ``facts``: the model's facts; ``citations`` / ``precise``: (fact, cited message) pairs, and those
    where the message alone supports the fact (citation precision = ``precise / citations``).
    """

    messages: int = 0
    covered: int = 0
    kept: int = 0
    facts: int = 0
    citations: int = 0
    precise: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: Coverage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def ensure_coverage(
    namespace: Namespace,
    batch_id: str,
    messages: Sequence[Message],
    facts: Sequence[MemoryEntry],
    *,
    counted_roles: Collection[str],
    keep_uncovered: bool = True,
) -> tuple[list[MemoryEntry], Coverage]:
    """The batch's entries: ``facts``, then (with ``keep_uncovered``) each counted message no fact covers, as itself.

    Entry ids continue the facts' numbering (``entry_id(namespace, batch_id, len(facts) + j)``), so a retry of the
    same answer makes the same ids.
    """
    counted = [m for m in messages if m.role in counted_roles]
    by_id = {m.id: m for m in counted}
    coverage = Coverage(messages=len(counted), facts=len(facts))
    said: dict[str, set[str]] = {}  # message id -> content words of the facts that precisely cite it
    for fact in facts:
        for source_id in fact.source_ids:
            message = by_id.get(source_id)
            if message is None:
                continue
            coverage.citations += 1
            if citation_support(fact.text, [f"{message.display_speaker}: {message.text}"]) >= LINE_SUPPORT_THRESHOLD:
                coverage.precise += 1
                said.setdefault(source_id, set()).update(content_words(fact.text))
    covered = {
        m.id
        for m in counted
        if m.id in said and share_kept(content_words(m.text), said[m.id]) >= MESSAGE_COVERAGE_THRESHOLD
    }
    coverage.covered = len(covered)
    entries = list(facts)
    if keep_uncovered:
        now = utcnow()
        uncovered = [m for m in counted if m.id not in covered]
        entries += [
            message_entry(namespace, batch_id, len(facts) + j, m, "uncovered", now) for j, m in enumerate(uncovered)
        ]
        coverage.kept = len(uncovered)
    return entries, coverage
