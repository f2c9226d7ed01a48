"""An LCEL RAG chain over LightMem: retrieve a user's memories, answer from them.

    python examples/rag_chain.py                       # offline: LLM-free memory, a stand-in answering model
    OPENAI_API_KEY=... python examples/rag_chain.py    # a real chat model extracts memories and answers

The sample conversation ships with the package: Maya talks to her assistant over four sessions. Every session goes
through LightMem (compression, topic segmentation, one extraction call per batch); the retriever then hands the
memories closest to each question to the prompt, with the date they happened.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.models import chat_model_from_env
from langchain_lightmem.testing import ScriptedChatModel

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question about the user from these memories only. Say so if they do not tell."),
        ("human", "Memories:\n{context}\n\nQuestion: {question}"),
    ]
)


def format_docs(docs: list[Document]) -> str:
    return "\n".join(f"- {doc.metadata['event_time'][:10]}: {doc.page_content}" for doc in docs)


def offline_model() -> BaseChatModel:
    """A stand-in for a chat model: quotes the memory it was given first (the retriever's best match)."""

    def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> str:
        memories = [line[2:] for line in messages[-1].text.splitlines() if line.startswith("- ")]
        return f"According to my memories: {memories[0]}" if memories else "I don't know."

    return ScriptedChatModel(responder=respond)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="where LightMem keeps its data (default: a temporary folder)")
    parser.add_argument("--embeddings", choices=["minilm", "static"], default="minilm")
    parser.add_argument("-k", type=int, default=4, help="memories per question")
    args = parser.parse_args(argv)

    sample = json.loads((files("langchain_lightmem") / "data" / "demo_conversation.json").read_text("utf-8"))
    real_model = chat_model_from_env()
    with tempfile.TemporaryDirectory(prefix="lightmem-rag-") as tmp:
        config = LightMemConfig(data_dir=args.data_dir or tmp, embeddings={"backend": args.embeddings})
        with LightMem(config, chat_model=real_model) as memory:
            for session in sample["sessions"]:
                memory.add(session["messages"], namespace="maya", thread_id=session["thread_id"])
            memory.flush("maya")

            retriever = memory.as_retriever(namespace="maya", k=args.k)
            chain = (
                {"context": retriever | format_docs, "question": RunnablePassthrough()}
                | PROMPT
                | (real_model or offline_model())
                | StrOutputParser()
            )
            for question in sample["questions"]:
                print(f"Q: {question}\nA: {chain.invoke(question)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
