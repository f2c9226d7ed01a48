"""An agent that remembers a user across threads.

    python examples/agent_memory.py                       # offline: a scripted stand-in model, MiniLM embeddings
    OPENAI_API_KEY=... python examples/agent_memory.py    # a real chat model (also extracts the memories)

Thread 1: Maya introduces herself. ``LightMemMiddleware`` feeds the finished turn into LightMem in the background,
and the agent keeps one fact itself with the ``save_memory`` tool. Thread 2 starts empty (a new ``thread_id``), yet
the agent knows her: the middleware puts the memories relevant to her question into the model call. Another user
(thread 3) sees none of it: the namespace comes from ``context={"user_id": ...}``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.integrations import LightMemMiddleware, LightMemStore, create_memory_tools
from langchain_lightmem.models import chat_model_from_env
from langchain_lightmem.testing import ScriptedChatModel


@dataclass
class Context:
    user_id: str


def offline_model() -> BaseChatModel:
    """A stand-in for a chat model: saves one fact on the first turn, then answers with the memories it is shown."""

    def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> str:
        if isinstance(messages[-1], ToolMessage):
            return "Got it, I'll remember that."
        system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
        facts = [line[2:] for line in system.splitlines() if line.startswith("- ")]
        return "From what I remember: " + "; ".join(facts) if facts else "Nice to meet you! Tell me about yourself."

    save = {"name": "save_memory", "args": {"content": "Maya is vegetarian."}, "id": "call-1"}
    return ScriptedChatModel(script=[AIMessage("", tool_calls=[save])], responder=respond)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="where LightMem keeps its data (default: a temporary folder)")
    parser.add_argument("--embeddings", choices=["minilm", "static"], default="minilm")
    args = parser.parse_args(argv)

    real_model = chat_model_from_env()
    model = real_model or offline_model()
    with tempfile.TemporaryDirectory(prefix="lightmem-agent-") as tmp:
        config = LightMemConfig(data_dir=args.data_dir or tmp, embeddings={"backend": args.embeddings})
        with LightMem(config, chat_model=real_model) as memory:
            middleware = LightMemMiddleware(memory, k=5, max_tokens=300)
            agent = create_agent(
                model,
                tools=create_memory_tools(),
                system_prompt="You are a helpful assistant with long-term memory. Save facts worth keeping.",
                middleware=[middleware],
                store=LightMemStore(memory),
                checkpointer=InMemorySaver(),
                context_schema=Context,
            )

            def ask(text: str, thread: str, user: str) -> str:
                state = agent.invoke(
                    {"messages": [{"role": "user", "content": text}]},
                    {"configurable": {"thread_id": thread}},
                    context=Context(user_id=user),
                )
                answer = state["messages"][-1].text
                print(f"[{user} / {thread}] user: {text}\n[{user} / {thread}] agent: {answer}\n")
                return answer

            ask("Hi! I'm Maya. I just moved to Lisbon for a UX job, and I'm vegetarian.", "thread-1", "maya")
            middleware.flush()  # the turn was handed over in the background; wait for it here
            memory.flush("maya")  # and force it through extraction now (normally it waits for a full batch)
            ask("Can you suggest somewhere to eat tonight?", "thread-2", "maya")
            ask("Can you suggest somewhere to eat tonight?", "thread-3", "tom")
            print("Maya's memories:")
            for entry in memory.entries("maya"):
                print(f"  - {entry.text}  ({entry.method})")
            middleware.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
