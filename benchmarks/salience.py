"""What the salience gate keeps away from the chat model, and what that costs in evidence.

Each LoCoMo conversation goes through LightMem with the scripted chat model and the shipped defaults (one add per
session, a thread per conversation, a flush at the end: the batch protocol). The gate sends segments of small talk
to long-term memory as their own messages, with no extraction call. Reported: the share of turns gated, the share
of evidence turns among them (those are still searchable, as the messages themselves), and extraction calls with and
without the gate in the same run.

    python -m benchmarks.salience [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def run(limit: int | None, gate: bool, embeddings: str) -> dict[str, Any]:
    from benchmarks.data import load_dataset
    from langchain_lightmem import LightMem, LightMemConfig
    from langchain_lightmem.testing import ScriptedChatModel

    data = load_dataset("locomo", categories={"1", "2", "3", "4"})
    evidence = {e for q in data.questions for e in q.evidence}
    turns = gated = gated_evidence = calls = 0
    with tempfile.TemporaryDirectory(prefix="lightmem-salience-") as tmp:
        for conv in data.conversations[:limit]:
            model = ScriptedChatModel()
            config = LightMemConfig(
                data_dir=Path(tmp) / conv.id, embeddings={"backend": embeddings}, short_term={"salience_gate": gate}
            )
            with LightMem(config, chat_model=model) as memory:
                for session in conv.sessions:
                    if session.turns:
                        memory.add([t.as_message() for t in session.turns], namespace=conv.id, thread_id=conv.id)
                memory.flush(conv.id)
                gated_ids = memory.journal.batches.message_ids((conv.id,), mode="extractive")
            ids = {i.split("#p")[0] for i in gated_ids}
            turns += len(conv.turns)
            gated += len(ids)
            gated_evidence += len(ids & evidence)
            calls += model.calls
    return {
        "turns": turns,
        "turns gated": gated,
        "share gated": round(gated / max(1, turns), 4),
        "evidence turns gated": f"{gated_evidence} of {len(evidence)}",
        "extraction calls": calls,
        "extraction calls per 1k turns": round(1000 * calls / max(1, turns), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.salience", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, help="only the first N conversations")
    parser.add_argument("--embeddings", default="minilm")
    args = parser.parse_args(argv)
    from benchmarks.data import DataNotFoundError

    try:
        report = {
            "with gate": run(args.limit, True, args.embeddings),
            "without": run(args.limit, False, args.embeddings),
        }
    except DataNotFoundError as exc:
        print(f"error: {exc}: nothing measured", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0 if report["with gate"]["turns"] else 1


if __name__ == "__main__":
    sys.exit(main())
