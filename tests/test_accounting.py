"""One cost record (accounting.Usage): every record that says what model work cost carries one, and reads its
fields as its own."""

from __future__ import annotations

from langchain_lightmem.accounting import StageUsage, Usage, UsageLedger
from langchain_lightmem.consolidator import ConsolidationReport
from langchain_lightmem.llm import CallStats
from langchain_lightmem.short_term.extraction import ExtractionOutcome
from langchain_lightmem.testing import PhaseUsage, ScriptedChatModel


def test_usage_adds_in_place_and_with_plus():
    a, b = Usage(1, 10, 2, 0.5), Usage(2, 5, 1, 0.25)
    assert a + b == Usage(3, 15, 3, 0.75) and a == Usage(1, 10, 2, 0.5)  # + makes a new record
    a.add(b)
    assert a == Usage(3, 15, 3, 0.75) and a.as_dict() == {
        "calls": 3,
        "input_tokens": 15,
        "output_tokens": 3,
        "seconds": 0.75,
    }


def test_every_cost_record_reads_its_usage():
    usage = Usage(2, 30, 4, 1.5)
    records = [
        StageUsage("extract", items=3, usage=usage),
        CallStats(usage),
        ExtractionOutcome(entries=[], usage=usage),
    ]
    report = ConsolidationReport(("maya",))
    report.usage = usage  # a report keeps flat fields (its wire format) and reads and writes them as one Usage
    records.append(report)
    assert report.as_dict()["calls"] == 2 and report.usage == usage
    for record in records:
        assert (record.calls, record.input_tokens, record.output_tokens, record.seconds) == (2, 30, 4, 1.5)
    assert PhaseUsage is Usage


def test_stage_usage_keeps_the_journal_row_form_and_its_flat_dict():
    row = StageUsage("extract", 2, 30, 4, 1.5, 3)
    assert row.usage == Usage(2, 30, 4, 1.5) and row.items == 3
    assert row.as_dict() == {
        "stage": "extract",
        "calls": 2,
        "input_tokens": 30,
        "output_tokens": 4,
        "seconds": 1.5,
        "items": 3,
    }


def test_the_ledger_sums_usage_per_stage_and_snapshots_copies():
    ledger, ns = UsageLedger(), ("maya",)
    ledger.record(ns, "extract", Usage(1, 10, 2, 0.5), items=2)
    ledger.record(ns, "extract", Usage(1, 5, 1), seconds=0.25, items=1)
    snapshot = ledger.snapshot(ns)[(ns, "extract")]
    assert snapshot.usage == Usage(2, 15, 3, 0.75) and snapshot.items == 3
    snapshot.usage.add(Usage(calls=9))
    assert ledger.drain(ns)[(ns, "extract")].calls == 2 and ledger.snapshot(ns) == {}


def test_the_scripted_model_counts_into_one_record_and_one_per_phase():
    model = ScriptedChatModel(script=["one", "two"])
    model.invoke("hello")
    with model.in_phase("query"):
        model.invoke("hello again")
    assert model.calls == 2 == sum(u.calls for u in model.usage_by_phase.values())
    assert model.usage == model.usage_by_phase["ingest"] + model.usage_by_phase["query"]
    model.reset_usage()
    assert model.usage == Usage() and model.usage_by_phase == {}
