"""The cheap citation check shared by extraction, consolidation, the coverage check and the benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_lightmem.citations import (
    SUPPORT_THRESHOLD,
    citation_support,
    content_words,
    copied_from,
    is_placeholder,
    is_supported,
)

LINES = [
    "Caroline: I went to a LGBTQ support group yesterday, it was so powerful.",
    "Melanie: Wow! I'm painting a sunset with my kids this weekend.",
    "Caroline: Thanks! I'm also looking into counseling jobs.",
]


def test_a_fact_is_supported_by_the_line_it_came_from_not_by_another():
    fact = "Caroline attended an LGBTQ support group on 7 May 2023."
    assert citation_support(fact, [LINES[0]]) >= 0.75  # "attended" is a paraphrase of "went"
    assert citation_support(fact, [LINES[1]]) < SUPPORT_THRESHOLD
    assert is_supported("Melanie is painting a sunset with her kids.", [LINES[1]])
    assert not is_supported("Melanie is painting a sunset with her kids.", [LINES[2]])


def test_calendar_words_do_not_count_because_dates_come_from_timestamps():
    assert content_words("on Monday 7 May 2023, last week") == set()
    assert citation_support("Caroline looks into counseling jobs in June 2023.", [LINES[2]]) == 1.0


def test_no_source_or_no_content_is_no_support():
    assert citation_support("Caroline went to a group.", []) == 0.0
    assert citation_support("...", LINES) == 0.0


def test_vectors_let_a_paraphrase_count():
    fact, line = "Mel paints", "Melanie: I draw pictures"
    lexical = citation_support(fact, [line])
    with_vectors = citation_support(
        fact, [line], fact_vector=np.array([1.0, 0.0]), source_vectors=[np.array([0.8, 0.6])]
    )
    assert lexical == 0.0 and with_vectors == pytest.approx(0.8)


@pytest.mark.parametrize(
    "text",
    ["...", "…", "  ", "text", "Fact", "memory", "<fact>", "{text}", "?!", "YYYY-MM-DD or null", "2023-05-18 or null"],
)
def test_placeholders(text):
    assert is_placeholder(text)


@pytest.mark.parametrize("text", ["Caroline is 25.", "Melanie paints.", "Jon lost his job as a banker."])
def test_real_facts_are_not_placeholders(text):
    assert not is_placeholder(text)


def test_copied_from_the_example_rather_than_the_batch():
    example = ["Priya adopted a Siamese cat named Miso in late February 2021."]
    assert copied_from("Priya adopted a Siamese cat named Miso.", example, LINES)
    assert not copied_from("Caroline went to an LGBTQ support group.", example, LINES)
    assert not copied_from("Caroline adopted a cat.", example, ["Caroline: I adopted a cat!"])
