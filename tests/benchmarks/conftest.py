"""Small synthetic LoCoMo and LongMemEval files (same schemas as the real ones) for fast, data-free tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def locomo_sample() -> list[dict[str, Any]]:
    conversation: dict[str, Any] = {
        "speaker_a": "Caroline",
        "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to a LGBTQ support group yesterday."},
            {"speaker": "Melanie", "dia_id": "D1:2", "text": "That sounds powerful! How was it?"},
            {
                "speaker": "Caroline",
                "dia_id": "D1:3",
                "text": "Look at this.",
                "img_url": ["https://example.invalid/x.jpg"],
                "blip_caption": "a photo of a rainbow flag",
            },
            {"speaker": "Melanie", "dia_id": "D1:4", "text": "I painted a sunrise over the lake last week."},
        ],
        "session_2_date_time": "10:37 am on 27 June, 2023",
        "session_2": [
            {"speaker": "Caroline", "dia_id": "D2:1", "text": "I am applying to counseling programs in psychology."},
            {"speaker": "Melanie", "dia_id": "D2:2", "text": "My kids and I went camping at the beach."},
            {"speaker": "Caroline", "dia_id": "D2:3", "text": "Camping sounds fun, where did you go?"},
        ],
    }
    qa = [
        {
            "question": "When did Caroline go to the support group?",
            "answer": "7 May 2023",
            "evidence": ["D1:1"],
            "category": 2,
        },
        {"question": "What did Melanie paint?", "answer": "a sunrise", "evidence": ["D1:4"], "category": 4},
        {"question": "What flag did Caroline show?", "answer": "rainbow flag", "evidence": ["D:1:3"], "category": 4},
        {"question": "What will Caroline study?", "answer": "psychology", "evidence": ["D2:1; D1:1"], "category": 1},
        {"question": "Where did Melanie camp?", "answer": 2023, "evidence": ["D2:02", "D9:9"], "category": 3},
        {"question": "What did Caroline realise?", "evidence": ["D1:1"], "category": 5, "adversarial_answer": "x"},
    ]
    return [{"sample_id": "conv-1", "conversation": conversation, "qa": qa}]


def longmemeval_sample() -> list[dict[str, Any]]:
    return [
        {
            "question_id": "q1",
            "question_type": "single-session-user",
            "question": "Which city did I move to?",
            "question_date": "2023/06/01 (Thu) 10:00",
            "answer": "Lisbon",
            "answer_session_ids": ["s2"],
            "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/25 (Thu) 09:00"],
            "haystack_session_ids": ["s1", "s2"],
            "haystack_sessions": [
                [
                    {"role": "user", "content": "Recommend a pasta recipe.", "has_answer": False},
                    {"role": "assistant", "content": "Try carbonara.", "has_answer": False},
                ],
                [
                    {"role": "user", "content": "I just moved to Lisbon!", "has_answer": True},
                    {"role": "assistant", "content": "Welcome to Lisbon."},
                ],
            ],
        },
        {
            "question_id": "q2_abs",
            "question_type": "single-session-user",
            "question": "What is my dog's name?",
            "question_date": "2023/06/01 (Thu) 10:00",
            "answer": "You did not mention a dog.",
            "answer_session_ids": [],
            "haystack_dates": ["2023/05/20 (Sat) 02:21"],
            "haystack_session_ids": ["s9"],
            "haystack_sessions": [[{"role": "user", "content": "Hello there."}]],
        },
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "locomo_dev8.json").write_text(json.dumps(locomo_sample()))
    (folder / "longmemeval_s_dev38.json").write_text(json.dumps(longmemeval_sample()))
    return folder


@pytest.fixture
def fake_server():
    """A fake OpenAI-compatible server on loopback (tests/benchmarks/fake_openai.py)."""
    from tests.benchmarks.fake_openai import fake_openai_server

    with fake_openai_server() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
