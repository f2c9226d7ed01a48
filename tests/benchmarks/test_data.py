from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.data import (
    DataNotFoundError,
    load_dataset,
    load_locomo,
    load_longmemeval,
    normalize_evidence,
    parse_locomo_date,
    resolve_data_path,
    select,
)


def test_locomo_turns_carry_real_dates_roles_ids_and_captions(data_dir: Path):
    data = load_locomo(data_dir)
    conv = data.conversations[0]
    assert conv.id == "conv-1" and conv.speakers == ("Caroline", "Melanie")
    assert [s.id for s in conv.sessions] == ["D1", "D2"]
    first, third = conv.turns[0], conv.turns[2]
    assert first.id == "D1:1" and first.role == "user" and first.speaker == "Caroline"
    assert conv.turns[1].role == "assistant"
    assert first.timestamp == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert conv.sessions[1].turns[0].timestamp == datetime(2023, 6, 27, 10, 37, tzinfo=UTC)
    assert third.text == "Look at this. [image: a photo of a rainbow flag]"
    message = first.as_message()
    assert message["id"] == "D1:1" and message["speaker"] == "Caroline" and message["content"].startswith("I went")


def test_locomo_evidence_is_normalised_and_category_5_excluded_by_default(data_dir: Path):
    data = load_locomo(data_dir)
    questions = {q.text: q for q in data.questions}
    assert len(questions) == 5  # category 5 left out
    assert questions["What flag did Caroline show?"].evidence == ("D1:3",)  # "D:1:3"
    assert questions["What will Caroline study?"].evidence == ("D2:1", "D1:1")  # "D2:1; D1:1" split
    assert questions["What will Caroline study?"].evidence_sessions == ("D2", "D1")
    assert questions["Where did Melanie camp?"].evidence == ("D2:2",)  # "D2:02"; "D9:9" names no turn
    assert questions["Where did Melanie camp?"].answer == "2023"
    assert data.evidence_fixed == 2 and data.evidence_dropped == 1
    everything = load_locomo(data_dir, categories=None)
    assert {q.category for q in everything.questions} == {"1", "2", "3", "4", "5"}
    assert [q.answer for q in everything.questions if q.category == "5"] == ["x"]


def test_normalize_evidence_rules():
    ids, fixed, dropped = normalize_evidence(
        ["D30:05", "D:11:26", "D8:6; D9:17", "D", "D8:6"], {"D30:5", "D11:26", "D8:6"}
    )
    assert ids == ["D30:5", "D11:26", "D8:6"] and fixed == 2 and dropped == 2


def test_locomo_date_format():
    assert parse_locomo_date("10:37 am on 27 June, 2023") == datetime(2023, 6, 27, 10, 37, tzinfo=UTC)


def test_longmemeval_builds_one_conversation_per_question(data_dir: Path):
    data = load_longmemeval(data_dir)
    assert [c.id for c in data.conversations] == ["q1", "q2_abs"]
    q1 = data.conversations[0]
    assert [t.id for t in q1.turns] == ["s1:0", "s1:1", "s2:0", "s2:1"]
    assert q1.turns[2].role == "user" and q1.turns[2].timestamp == datetime(2023, 5, 25, 9, 0, tzinfo=UTC)
    question = q1.questions[0]
    assert question.evidence == ("s2:0",) and question.evidence_sessions == ("s2",) and question.scorable
    abstention = data.conversations[1].questions[0]
    assert abstention.abstention and not abstention.scorable


def test_select_subsets_by_conversation_session_and_question(data_dir: Path):
    data = load_dataset("locomo", data_dir)
    one_session = select(data, max_sessions=1)
    conv = one_session.conversations[0]
    assert [s.id for s in conv.sessions] == ["D1"]
    assert all(set(q.evidence) <= {t.id for t in conv.turns} for q in conv.questions)
    assert len(conv.questions) == 3
    assert len(select(data, questions=2).questions) == 2
    with pytest.raises(ValueError, match="unknown conversation"):
        select(data, conversations=["conv-404"])


def test_missing_data_says_where_it_looked(tmp_path: Path):
    with pytest.raises(DataNotFoundError, match="ships beside the repository"):
        resolve_data_path("locomo", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve_data_path("squad", tmp_path)
