"""The protocols long-term memory and consolidation sit behind (long_term/base.py, ConsolidationDecider): the
current implementations satisfy them, and a decider passed in is used through the protocol alone."""

from __future__ import annotations

from langchain_lightmem.accounting import Usage
from langchain_lightmem.graphs.consolidate import build_consolidation_graph
from langchain_lightmem.llm import CallStats
from langchain_lightmem.long_term.base import LongTermMemory, MemoryIndex, SimilarMemories
from langchain_lightmem.long_term.consolidation import ConsolidationDecider, DuplicateDecider, LLMDecider
from langchain_lightmem.testing import ScriptedChatModel
from langchain_lightmem.tokens import TokenCounter
from tests.long_term.test_consolidation import HISTORY_JULY, HISTORY_MAY, active_texts, say, topic_embeddings


def test_chroma_store_is_long_term_memory_for_every_consumer(make_memory):
    store = make_memory().store
    for protocol in (LongTermMemory, SimilarMemories, MemoryIndex):
        assert isinstance(store, protocol), protocol.__name__


def test_both_deciders_are_consolidation_deciders(make_memory):
    config = make_memory().config
    llm = LLMDecider(ScriptedChatModel(), config.extraction, TokenCounter())
    for decider in (llm, DuplicateDecider(0.9)):
        assert isinstance(decider, ConsolidationDecider)
    assert llm.model_name and DuplicateDecider(0.9).model_name is None


def test_a_decider_given_to_the_graph_decides_through_the_protocol(make_memory, tmp_path):
    """The LLM-free rule as an injected decider decides what the built-in one does (in ``prepare``: no model)."""
    results = []
    for name, injected in (("default", False), ("injected", True)):
        memory = make_memory(data_dir=tmp_path / name)
        for history, thread in ((HISTORY_MAY, "may"), (HISTORY_JULY, "july")):
            memory.add(history, namespace="maya", thread_id=thread)
            memory.flush("maya")
        if injected:
            report = consolidate_with(memory, DuplicateDecider(memory.config.consolidation.duplicate_threshold))
        else:
            (report,) = memory.consolidate("maya")
        results.append(((report.calls, report.superseded, report.updated), sorted(active_texts(memory))))
    assert results[0] == results[1]
    assert results[0][0] == (0, 1, 0)


class Answerless:
    """A model decider whose answer holds no decision; its call cost ``usage``."""

    model_name = "answerless"

    def __init__(self, usage: Usage) -> None:
        self.usage = usage

    def decide(self, targets, config=None):
        return [], CallStats(self.usage.copy())


def consolidate_with(memory, decider):
    """One consolidation run of "maya" through the graph, with ``decider`` injected. Returns its report."""
    graph = build_consolidation_graph(
        journal=memory.journal,
        store=memory.store,
        config=memory.config.consolidation,
        decider=decider,
        ledger=memory.pipeline.ledger,
        owner=memory.pipeline.worker_id,
    )
    return graph.invoke({"namespace": ("maya",)})["report"]


def maya_with_a_new_entry(make_memory):
    """Maya's history consolidated by the built-in LLM-free run, then one new entry for an injected decider."""
    memory = make_memory(embeddings=topic_embeddings())
    for history, thread in ((HISTORY_MAY, "may"), (HISTORY_JULY, "july")):
        memory.add(history, namespace="maya", thread_id=thread)
        memory.flush("maya")
    memory.consolidate("maya")
    memory.add([say(8, "I work as a nurse in a Berlin hospital now.", 90)], namespace="maya")
    memory.flush("maya")
    return memory


def test_a_model_decider_that_decides_nothing_leaves_every_target_and_empties_the_queue(make_memory):
    """Failure is ``LLMCallError`` (the targets stay queued); a decider that answers with no decision for a
    target keeps it as it is, and its entries are done."""
    memory = maya_with_a_new_entry(make_memory)
    entries = active_texts(memory)
    report = consolidate_with(memory, Answerless(Usage(calls=1, input_tokens=10, output_tokens=2)))
    assert (report.targets, report.failed, report.calls, report.input_tokens) == (1, 0, 1, 10)
    assert active_texts(memory) == entries and memory.journal.consolidation.queue(("maya",)) == []


def test_a_runs_seconds_are_its_wall_time_not_wall_time_plus_the_calls_seconds(make_memory):
    """Consolidation records its wall time (decisions may run in parallel); a decider's call seconds are inside
    it, so adding them too counted them twice (the real-model run of conv-30: 2,085 s recorded for 1,042 s)."""
    memory = maya_with_a_new_entry(make_memory)
    before = memory.stats("maya").usage["consolidate"].seconds
    report = consolidate_with(memory, Answerless(Usage(calls=1, input_tokens=10, output_tokens=2, seconds=50.0)))
    assert report.calls == 1 and report.seconds < 50
    assert report.usage.seconds == report.seconds
    assert memory.stats("maya").usage["consolidate"].seconds - before < 50
