"""Loaders for the benchmark data sets: LoCoMo and LongMemEval, in one shape.

Both become :class:`Conversation` objects (sessions of turns, each turn with a stable id, a speaker, a role and a
real timestamp) carrying the :class:`Question` objects asked about them. Evidence is a set of turn ids, so any
system that records which turns a memory came from (provenance) can be scored without an LLM.

* **LoCoMo** (``locomo_dev8.json``): one conversation per sample; turn ids are the ``dia_id`` (``"D3:13"``), the
  session is the id's prefix (``"D3"``). Session dates such as ``"1:56 pm on 8 May, 2023"`` are parsed; BLIP
  captions are folded into the text as ``[image: caption]``. Evidence ids are normalised (``"D8:6; D9:17"``
  split, ``"D:11:26"`` → ``"D11:26"``, ``"D30:05"`` → ``"D30:5"``) and ids naming no turn are dropped.
* **LongMemEval** (``longmemeval_s_dev38.json``): the paper protocol builds a fresh memory per question, so each
  question is its own conversation (its haystack). Turn ids are ``"<session id>:<index>"``; evidence turns are
  those with ``has_answer``, evidence sessions are ``answer_session_ids``.

Example:
    .. code-block:: python

        from benchmarks.data import load_locomo

        data = load_locomo("../shared/data/locomo_dev8.json", categories={"1", "2", "3", "4"})
        conv = data.conversations[0]
        conv.id, len(conv.turns), conv.questions[0].evidence
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DATA_FILES = {"locomo": "locomo_dev8.json", "longmemeval": "longmemeval_s_dev38.json"}
LOCOMO_CATEGORIES = {"1": "multi-hop", "2": "temporal", "3": "open-domain", "4": "single-hop", "5": "adversarial"}
DEFAULT_LOCOMO_CATEGORIES = frozenset({"1", "2", "3", "4"})

_LOCOMO_DATE = "%I:%M %p on %d %B, %Y"
_LME_DATE = "%Y/%m/%d (%a) %H:%M"
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


class DataNotFoundError(FileNotFoundError):
    """A benchmark data file is missing. The data sets ship beside the repository, never inside it."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation."""

    id: str
    session: str
    speaker: str
    role: str
    text: str
    timestamp: datetime

    def as_message(self, *, with_speaker_prefix: bool = False) -> dict[str, Any]:
        """The dict ``LightMem.add`` accepts (``id`` is the turn id, so provenance equals evidence ids)."""
        content = f"{self.speaker}: {self.text}" if with_speaker_prefix else self.text
        return {
            "role": self.role,
            "content": content,
            "speaker": self.speaker,
            "id": self.id,
            "timestamp": self.timestamp,
        }


@dataclass(slots=True)
class Session:
    id: str
    date: datetime
    date_text: str
    turns: list[Turn]


@dataclass(slots=True)
class Question:
    """A question about one conversation, with the ids of the turns that answer it."""

    id: str
    conversation_id: str
    text: str
    answer: str
    category: str
    evidence: tuple[str, ...]
    evidence_sessions: tuple[str, ...]
    abstention: bool = False
    date: datetime | None = None

    @property
    def scorable(self) -> bool:
        """Retrieval can be scored: it has evidence and is not an abstention question."""
        return bool(self.evidence) and not self.abstention


@dataclass(slots=True)
class Conversation:
    id: str
    speakers: tuple[str, ...]
    sessions: list[Session]
    questions: list[Question] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]


@dataclass(slots=True)
class Dataset:
    """A loaded data set and what loading it had to fix."""

    name: str
    path: Path
    conversations: list[Conversation]
    evidence_fixed: int = 0
    evidence_dropped: int = 0

    @property
    def turns(self) -> int:
        return sum(len(c.turns) for c in self.conversations)

    @property
    def questions(self) -> list[Question]:
        return [q for c in self.conversations for q in c.questions]


def resolve_data_path(dataset: str, path: str | Path | None = None) -> Path:
    """The file to read: ``path`` (a file, or a folder holding the default file name), else ``../shared/data``.

    Raises:
        DataNotFoundError: the file does not exist (with where it was looked for).
    """
    if dataset not in DATA_FILES:
        raise ValueError(f"unknown dataset {dataset!r}; use one of {', '.join(DATA_FILES)}")
    candidate = Path(path) if path is not None else DEFAULT_DATA_DIR
    if candidate.is_dir() or path is None:
        candidate = candidate / DATA_FILES[dataset]
    if not candidate.is_file():
        raise DataNotFoundError(
            f"{dataset} data not found at {candidate}: the benchmark data ships beside the repository "
            f"(../shared/data/{DATA_FILES[dataset]}), not in it; pass --data PATH"
        )
    return candidate


def parse_locomo_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` → an aware datetime (UTC: the data set names no timezone)."""
    return datetime.strptime(" ".join(text.split()), _LOCOMO_DATE).replace(tzinfo=UTC)


def parse_longmemeval_date(text: str) -> datetime:
    """``"2023/05/20 (Sat) 02:21"`` → an aware datetime (UTC)."""
    return datetime.strptime(text.strip(), _LME_DATE).replace(tzinfo=UTC)


def normalize_evidence(raw: Iterable[Any], known: Collection[str]) -> tuple[list[str], int, int]:
    """LoCoMo evidence ids in canonical form: ``(ids, fixed, dropped)``.

    ``"D8:6; D9:17"`` is split, ``"D:11:26"`` becomes ``"D11:26"``, ``"D30:05"`` becomes ``"D30:5"``; ids that
    name no turn in ``known`` are dropped. ``fixed`` counts ids rewritten, ``dropped`` ids discarded.
    """
    ids: list[str] = []
    fixed = dropped = 0
    for entry in raw:
        for piece in re.split(r"[;,\s]+", str(entry)):
            if not piece:
                continue
            match = _EVIDENCE.fullmatch(piece)
            canonical = f"D{int(match[1])}:{int(match[2])}" if match else piece
            if canonical not in known:
                dropped += 1
                continue
            fixed += canonical != piece
            if canonical not in ids:
                ids.append(canonical)
    return ids, fixed, dropped


def _locomo_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", "")).strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [image: {str(caption).strip()}]".strip()
    return text


def load_locomo(
    path: str | Path | None = None, *, categories: Collection[str] | None = DEFAULT_LOCOMO_CATEGORIES
) -> Dataset:
    """Read LoCoMo (``locomo10.json`` schema). ``categories`` keeps those question categories (``None``: all).

    Speaker A's turns get role ``user`` and speaker B's ``assistant`` (both are people; the roles only tell
    role-aware systems which side is which). Every turn of a session carries the session's date.
    """
    file = resolve_data_path("locomo", path)
    samples = json.loads(file.read_text())
    conversations: list[Conversation] = []
    fixed_total = dropped_total = 0
    for sample in samples:
        conv = sample["conversation"]
        speakers = (conv["speaker_a"], conv["speaker_b"])
        sessions: list[Session] = []
        number = 1
        while f"session_{number}" in conv:
            date_text = conv[f"session_{number}_date_time"]
            date = parse_locomo_date(date_text)
            turns = [
                Turn(
                    id=t["dia_id"],
                    session=f"D{number}",
                    speaker=t["speaker"],
                    role="user" if t["speaker"] == speakers[0] else "assistant",
                    text=_locomo_text(t),
                    timestamp=date,
                )
                for t in conv[f"session_{number}"]
                if _locomo_text(t)
            ]
            sessions.append(Session(id=f"D{number}", date=date, date_text=date_text, turns=turns))
            number += 1
        known = {t.id for s in sessions for t in s.turns}
        questions: list[Question] = []
        for index, qa in enumerate(sample["qa"]):
            category = str(qa.get("category"))
            if categories is not None and category not in categories:
                continue
            evidence, fixed, dropped = normalize_evidence(qa.get("evidence", []), known)
            fixed_total += fixed
            dropped_total += dropped
            answer = qa.get("answer", qa.get("adversarial_answer", ""))
            questions.append(
                Question(
                    id=f"{sample['sample_id']}/q{index}",
                    conversation_id=sample["sample_id"],
                    text=qa["question"],
                    answer="" if answer is None else str(answer),
                    category=category,
                    evidence=tuple(evidence),
                    evidence_sessions=tuple(dict.fromkeys(e.split(":")[0] for e in evidence)),
                )
            )
        conversations.append(Conversation(sample["sample_id"], speakers, sessions, questions))
    return Dataset("locomo", file, conversations, evidence_fixed=fixed_total, evidence_dropped=dropped_total)


def load_longmemeval(path: str | Path | None = None) -> Dataset:
    """Read LongMemEval (official schema); each question becomes a conversation over its own haystack."""
    file = resolve_data_path("longmemeval", path)
    items = json.loads(file.read_text())
    conversations: list[Conversation] = []
    for item in items:
        qid = str(item["question_id"])
        sessions: list[Session] = []
        evidence: list[str] = []
        for sid, date_text, turns in zip(
            item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"], strict=True
        ):
            date = parse_longmemeval_date(date_text)
            kept: list[Turn] = []
            for index, turn in enumerate(turns):
                text = str(turn.get("content", "")).strip()
                if not text:
                    continue
                role = "user" if turn["role"] == "user" else "assistant"
                kept.append(Turn(f"{sid}:{index}", str(sid), role, role, text, date))
                if turn.get("has_answer"):
                    evidence.append(f"{sid}:{index}")
            sessions.append(Session(id=str(sid), date=date, date_text=date_text, turns=kept))
        question = Question(
            id=qid,
            conversation_id=qid,
            text=item["question"],
            answer=str(item["answer"]),
            category=item["question_type"],
            evidence=tuple(evidence),
            evidence_sessions=tuple(str(s) for s in item.get("answer_session_ids", [])),
            abstention=qid.endswith("_abs"),
            date=parse_longmemeval_date(item["question_date"]) if item.get("question_date") else None,
        )
        conversations.append(Conversation(qid, ("user", "assistant"), sessions, [question]))
    return Dataset("longmemeval", file, conversations)


def load_dataset(name: str, path: str | Path | None = None, *, categories: Collection[str] | None = None) -> Dataset:
    """``load_locomo`` or ``load_longmemeval`` by name (``categories`` applies to LoCoMo)."""
    if name == "locomo":
        return load_locomo(path, categories=DEFAULT_LOCOMO_CATEGORIES if categories is None else categories)
    if name == "longmemeval":
        data = load_longmemeval(path)
        if categories:
            for conv in data.conversations:
                conv.questions = [q for q in conv.questions if q.category in categories]
            data.conversations = [c for c in data.conversations if c.questions]
        return data
    raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(DATA_FILES)}")


def select(
    data: Dataset,
    *,
    conversations: Collection[str] | None = None,
    limit: int | None = None,
    max_sessions: int | None = None,
    questions: int | None = None,
) -> Dataset:
    """A subset: some conversations (by id, or the first ``limit``), their first ``max_sessions`` sessions, and
    at most ``questions`` questions per conversation.

    With ``max_sessions`` a question is kept only if all its evidence lies in the kept sessions (questions
    without evidence, e.g. abstention, are kept).

    Raises:
        ValueError: a requested conversation id does not exist.
    """
    chosen = data.conversations
    if conversations:
        known = {c.id for c in chosen}
        missing = [c for c in conversations if c not in known]
        if missing:
            raise ValueError(f"unknown conversation(s) {', '.join(missing)}; known: {', '.join(sorted(known))}")
        chosen = [c for c in chosen if c.id in set(conversations)]
    if limit is not None:
        chosen = chosen[:limit]
    out: list[Conversation] = []
    for conv in chosen:
        sessions = conv.sessions[:max_sessions] if max_sessions else conv.sessions
        kept_ids = {t.id for s in sessions for t in s.turns}
        qs = [q for q in conv.questions if set(q.evidence) <= kept_ids]
        if questions is not None:
            qs = qs[:questions]
        out.append(replace(conv, sessions=sessions, questions=qs))
    return replace(data, conversations=out)
