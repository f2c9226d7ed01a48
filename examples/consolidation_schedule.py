"""Sleep-time consolidation on a schedule, beside ingestion.

    python examples/consolidation_schedule.py                       # offline: scripted stand-in model, MiniLM
    OPENAI_API_KEY=... python examples/consolidation_schedule.py    # a real chat model extracts and decides

The sample conversation shipped with the package arrives one session at a time; a scheduler runs
``memory.consolidate()`` after each session, the way a nightly cron job would (in production:
``lightmem consolidate --all`` from cron, or a LangGraph Platform cron on the ``lightmem_consolidation`` graph;
see docs/consolidation.md). Each run only looks at the memories written since the previous one. At the end, a
search shows the current facts, and the same search with ``include_history=True`` shows what was superseded.

Offline, the stand-in model extracts one memory per message and decides like a careful reader would on these
words only: a newer memory that says "moved", "now" or "update" supersedes the older one it resembles. It shows
the mechanics, not a real model's judgement.
"""

from __future__ import annotations

import argparse
import json
import re
import sched
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.long_term.consolidation import DECISION_PROMPT
from langchain_lightmem.models import chat_model_from_env
from langchain_lightmem.testing import ScriptedChatModel, extraction_responder

CHANGE = re.compile(r"\b(moved|now|update)\b", re.IGNORECASE)


def offline_model() -> ScriptedChatModel:
    def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Any:
        if messages[0].content != DECISION_PROMPT:
            return extraction_responder(messages, tools)
        decisions = []
        for block in str(messages[-1].content).split("\n["):
            number = int(block.lstrip("[").split("]", 1)[0])
            newer = [line for line in block.splitlines() if line.strip().startswith("newer:")]
            action = "supersede" if any(CHANGE.search(line) for line in newer) else "keep"
            decisions.append({"target": number, "action": action})
        return {"decisions": decisions}

    return ScriptedChatModel(responder=respond, model_name="scripted-stand-in")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="where LightMem keeps its data (default: a temporary folder)")
    parser.add_argument("--embeddings", choices=["minilm", "static"], default="minilm")
    parser.add_argument("--threshold", type=float, default=0.55, help="similarity that makes an older memory a target")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between scheduled runs")
    args = parser.parse_args(argv)

    sample = json.loads((files("langchain_lightmem") / "data" / "demo_conversation.json").read_text("utf-8"))
    model = chat_model_from_env() or offline_model()
    with tempfile.TemporaryDirectory(prefix="lightmem-consolidation-") as tmp:
        config = LightMemConfig(
            data_dir=args.data_dir or tmp,
            embeddings={"backend": args.embeddings},
            short_term={"roles": "user_only"},
            consolidation={"threshold": args.threshold},
        )
        with LightMem(config, chat_model=model) as memory:
            scheduler = sched.scheduler(time.monotonic, time.sleep)

            def tick(session: dict[str, Any]) -> None:
                memory.add(session["messages"], namespace="maya", thread_id=session["thread_id"])
                memory.flush("maya")  # the session ended
                for report in memory.consolidate():  # what the nightly job does
                    print(
                        f"after {session['thread_id']}: {report.new_entries} new, {report.targets} targets, "
                        f"{report.calls} calls -> {report.superseded} superseded, {report.updated} updated"
                    )

            for n, session in enumerate(sample["sessions"]):
                scheduler.enter(n * args.interval, 1, tick, (session,))
            scheduler.run()

            question = "Which neighbourhood is Maya's flat in?"
            print(f"\nQ: {question}")
            for hit in memory.search("maya", question, k=3):
                print(f"   now:     {hit.render()}")
            for hit in memory.search("maya", question, k=6, include_history=True):
                if hit.entry.superseded_by:
                    print(f"   history: {hit.render()}  (superseded, valid until {hit.entry.valid_to:%Y-%m-%d})")
            stats = memory.stats("maya")
            print(f"\n{stats.entries} current memories; consolidation calls: {stats.usage['consolidate'].calls}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
