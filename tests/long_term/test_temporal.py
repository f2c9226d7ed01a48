"""Time expressions: month names used as names ("Jun's husband", "a novel of May Sarton") are not dates, real
dates still are, and retrieval does not drop or boost memories because of a name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from langchain_lightmem.long_term.temporal import parse_time_window

ASKED = datetime(2023, 5, 30, 14, 0, tzinfo=UTC)  # a Tuesday in late May


@pytest.mark.parametrize(
    "query",
    [
        # possessives are people
        "What is the name of Jun's husband?",
        "What was the title of May's first book?",
        "Where did I meet the parents of June\u2019s fiance?",
        # a capitalised month-like word followed by a capitalised word is a full name
        "I am reading a novel of May Sarton",
        "What did I lend to the family of April Smith?",
        "Did I like the ending in August Wilson's play?",
        # abbreviations that are also names or words need a day or a year to be a month
        "What did I tell you about the wedding of Jun?",
        "Ever since Jan moved out the flat is quiet",
        "Did the rain mar the garden party of Mar?",
        # "may" the verb
        "May I ask about cooking?",
        "Which recipes may I try?",
        "Since I may move, what did I say about flats?",
    ],
)
def test_month_words_used_as_names_or_verbs_are_not_dates(query):
    assert parse_time_window(query, ASKED) is None


@pytest.mark.parametrize(
    ("query", "expression", "start", "end"),
    [
        ("What did I do in May?", "in May", "2023-05-01", "2023-05-31"),
        ("What did I do in may?", "in may", "2023-05-01", "2023-05-31"),  # typed in lower case
        ("What did I do last May?", "last May", "2022-05-01", "2022-05-31"),  # asked in May: the one before
        ("Who visited last April?", "last April", "2023-04-01", "2023-04-30"),
        ("How was last May's trip?", "last May", "2022-05-01", "2022-05-31"),
        ("Where was I in May 2023?", "May 2023", "2023-05-01", "2023-05-31"),
        ("Who did I meet on 8 May?", "8 May", "2023-05-08", "2023-05-08"),
        ("What did I cook in June last year?", "in June last year", "2022-06-01", "2022-06-30"),
        ("What did I plant in April this year?", "in April this year", "2023-04-01", "2023-04-30"),
        ("What happened on May 7th?", "May 7th", "2023-05-07", "2023-05-07"),
        ("In May I went to Rome; where did I stay?", "In May", "2023-05-01", "2023-05-31"),
        ("What did I read at the end of May?", "of May", "2023-05-01", "2023-05-31"),
        ("What did I buy in Jun 2022?", "Jun 2022", "2022-06-01", "2022-06-30"),
        ("dinner on Jun 5", "Jun 5", "2022-06-05", "2022-06-05"),
        ("the concert on 3 Mar", "3 Mar", "2023-03-03", "2023-03-03"),
        ("What did I do in Sept?", "in Sept", "2022-09-01", "2022-09-30"),
        ("IN MAY LAST YEAR, WHERE DID I GO?", "IN MAY LAST YEAR", "2022-05-01", "2022-05-31"),
        # a name beside a real date: the date still counts
        ("What did Jun's husband say in March?", "in March", "2023-03-01", "2023-03-31"),
    ],
)
def test_real_dates_still_parse(query, expression, start, end):
    window = parse_time_window(query, ASKED)
    assert window is not None
    assert (window.expression, f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}") == (expression, start, end)


@pytest.fixture
def demo_memory(make_memory):
    """The demo's situation: Maya's sister is named Jun; one memory is from June, the one asked about is not."""
    memory = make_memory()
    turns = [
        ("s2-05", "My sister Jun is getting married to Daniel in Vancouver.", "2024-04-16T18:43:00Z"),
        ("s2-07", "Pixel learned to catch a frisbee in the park.", "2024-04-18T09:00:00Z"),
        ("s3-01", "I repainted the kitchen a pale green this weekend.", "2024-06-09T10:00:00Z"),
        ("s3-02", "The half marathon training is going well, 18 km on Sunday.", "2024-06-10T08:00:00Z"),
    ]
    memory.add(
        [{"id": i, "role": "user", "content": c, "timestamp": t} for i, c, t in turns],
        namespace="maya",
        thread_id="t",
    )
    memory.flush("maya")
    return memory


def test_a_sister_named_jun_is_not_june(demo_memory):
    question = "What is the name of Jun's husband?"
    asked = "2024-07-01T12:00:00Z"  # a window of "June" would hold only the kitchen and the training
    filtered = demo_memory.search("maya", question, k=4, reference_time=asked, time_mode="filter")
    assert "s2-05" in {sid for hit in filtered for sid in hit.entry.source_ids}
    boosted = demo_memory.search("maya", question, k=4, reference_time=asked, time_mode="boost")
    plain = demo_memory.search("maya", question, k=4, reference_time=asked, time_mode="off")
    # no window, so the default boost changes nothing: no June memory rises because of a name
    assert [(h.entry.id, round(h.score, 6)) for h in boosted] == [(h.entry.id, round(h.score, 6)) for h in plain]
