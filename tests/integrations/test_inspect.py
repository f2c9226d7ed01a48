"""``lightmem inspect`` and ``lightmem serve``: the HTML report of a namespace.

The fast tests read the HTML as text; the integration tests open the report of the demo conversation in headless
Chromium (Debian's ``chromium``, driven by Playwright) and check the rendered page: counts, provenance links,
escaping, search. ``LIGHTMEM_UPDATE_SCREENSHOTS=1`` also writes the screenshots of docs/inspect.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem.cli import main
from langchain_lightmem.conversations import load_conversations
from langchain_lightmem.errors import ConfigurationError
from langchain_lightmem.inspect import build_report, example_queries, make_server, write_report
from langchain_lightmem.testing import ScriptedChatModel, default_responder

ROOT = Path(__file__).resolve().parents[2]
DOCS_ASSETS = ROOT / "docs" / "assets"
CHROMIUM = os.environ.get("LIGHTMEM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",  # otherwise it keeps trying hosts it cannot reach
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & </script><!--'
BOB_SECRET = "Bob's vault code is 4711"


def consolidating_responder(messages: list[Any], tools: list[dict[str, Any]]) -> Any:
    """The scripted model, deciding consolidation so that the report has history: the first target of each call is
    updated (its text merged with the first newer memory's), the second superseded."""
    if not any(t.get("function", {}).get("name") == "ConsolidationDecisions" for t in tools):
        return default_responder(messages, tools)
    prompt = str(messages[-1].content)
    target = re.search(r"^\[1\] \S+ (.*)$", prompt, re.M)
    newer = re.search(r"^\[1\] .*\n    newer: \S+ (.*)$", prompt, re.M)
    merged = f"{target.group(1)} / {newer.group(1)}" if target and newer else "merged"
    return {"decisions": [{"target": 1, "action": "update", "text": merged}, {"target": 2, "action": "supersede"}]}


def build_demo(data_dir: Path, embeddings: Any) -> LightMem:
    """The demo conversation as ``lightmem demo`` ingests it (chunks of 4), sessions 1-3 flushed and consolidated,
    session 4 left in the buffers (pending); one hostile memory; another namespace (bob) beside it."""
    sample = files("langchain_lightmem") / "data" / "demo_conversation.json"
    path = data_dir.parent / "demo_conversation.json"
    path.write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
    config = LightMemConfig(data_dir=data_dir)
    memory = LightMem(config, chat_model=ScriptedChatModel(responder=consolidating_responder), embeddings=embeddings)
    conversations = load_conversations(path)
    for number, conversation in enumerate(conversations, start=1):
        for start in range(0, len(conversation.messages), 4):
            memory.add(conversation.messages[start : start + 4], namespace="maya", thread_id=conversation.thread_id)
        if number < len(conversations):
            memory.flush("maya")
    memory.remember("maya", HOSTILE, key="hostile")
    memory.consolidate("maya")
    memory.add([{"role": "user", "content": BOB_SECRET}], namespace="bob", thread_id="bob-thread")
    memory.flush("bob")
    return memory


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, static_embeddings: Any) -> Iterator[LightMem]:
    memory = build_demo(tmp_path_factory.mktemp("demo") / "data", static_embeddings)
    yield memory
    memory.close()


class _Page(HTMLParser):
    """Ids, local links and script blocks of a page, as a browser's parser would see the markup."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.links: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.csp = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = (tag, attributes)
        if tag == "a" and str(attributes.get("href", "")).startswith("#"):
            self.links.append((str(attributes["href"])[1:], attributes))
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "meta" and attributes.get("http-equiv") == "Content-Security-Policy":
            self.csp = str(attributes.get("content"))


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


# -- the page, as text -----------------------------------------------------------------------------------------


def test_hostile_text_is_escaped_and_only_the_reports_scripts_exist(demo: LightMem) -> None:
    html = build_report(demo, "maya", queries=["window pwned script"], k=50)  # every memory is a hit
    page = parse(html)
    assert [s.get("type") for s in page.scripts] == ["application/json", None]  # the data, then the code
    assert "window.__pwned" in html  # the text is there ...
    assert "<script>window.__pwned" not in html and "<img src=x" not in html  # ... but never as markup
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    data = html.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    hits = json.loads(data)["queries"]["window pwned script"]["hits"]
    assert "<" not in data and HOSTILE in [hit["text"] for hit in hits]  # escaped as \u003c, parsed back intact
    nonce = page.scripts[1]["nonce"]
    assert nonce and f"script-src 'nonce-{nonce}'" in page.csp  # only the report's own script may run


def test_nothing_of_another_namespace_is_in_the_report(demo: LightMem) -> None:
    html = build_report(demo, "maya", queries=["vault code", "Bob"])
    bob = demo.snapshot("bob")
    assert bob.messages and bob.entries
    for text in [BOB_SECRET, "4711", "bob-thread", *(m.id for m in bob.messages), *(e.id for e in bob.entries)]:
        assert text not in html


def test_every_local_link_lands_on_an_element_and_provenance_on_its_source_message(demo: LightMem) -> None:
    snapshot = demo.snapshot("maya")
    page = parse(build_report(demo, "maya"))
    assert page.links
    for target, _ in page.links:
        assert target in page.ids, target
    by_anchor = {attrs.get("data-entry-id"): anchor for anchor, (_, attrs) in page.ids.items()}
    provenance = [(attrs, target) for target, attrs in page.links if attrs.get("class") == "prov"]
    assert len(provenance) >= sum(len(e.source_ids) for e in snapshot.entries if e.id in by_anchor) > 0
    messages = {attrs.get("data-message-id"): anchor for anchor, (tag, attrs) in page.ids.items() if tag == "li"}
    assert len(messages) == len(snapshot.messages)
    for entry in snapshot.entries:
        for source in entry.source_ids:
            assert source in messages  # every source message of every memory has its anchor


def test_counts_match_the_snapshot(demo: LightMem) -> None:
    snapshot = demo.snapshot("maya")
    page = parse(build_report(demo, "maya"))
    tags = [(tag, attrs.get("class") or "") for tag, attrs in page.ids.values()]
    assert sum(1 for tag, cls in tags if tag == "article" and "memory" in cls) == len(snapshot.entries)
    assert sum(1 for tag, cls in tags if tag == "li" and "msg" in cls) == len(snapshot.messages)
    segments = {m.segment_id for m in snapshot.messages if m.segment_id}
    assert sum(1 for tag, cls in tags if tag == "section" and "segment" in cls) == len(segments)
    assert sum(1 for anchor in page.ids if anchor.startswith("batch-")) == len(snapshot.batches)


def test_example_queries_are_content_words_not_speakers_or_filler(demo: LightMem) -> None:
    queries = example_queries(demo.snapshot("maya"), n=6)
    assert len(queries) == 6
    assert "maya" not in queries and "assistant" not in queries and "that" not in queries
    assert all(len(q) >= 4 and q.isalpha() for q in queries)


def test_write_report_writes_utf8(demo: LightMem, tmp_path: Path) -> None:
    path = write_report(demo, "maya", tmp_path / "r.html", queries=["Parabéns"])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Parabéns" in text


def test_an_empty_namespace_renders(demo: LightMem) -> None:
    html = build_report(demo, "nobody-here")
    assert "No messages." in html and "No memories." in html


# -- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def demo_folder(tmp_path: Path, static_embeddings: Any) -> Path:
    """A closed data folder holding the demo (a command opens it in its own LightMem)."""
    build_demo(tmp_path / "data", static_embeddings).close()
    return tmp_path / "data"


def test_cli_inspect_writes_the_report(demo_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    args = ["--embeddings", "static", "--data-dir", str(demo_folder), "--json"]
    assert main([*args, "inspect", "--namespace", "maya", "--out", str(out), "--query", "dog", "-k", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == str(out)
    html = out.read_text(encoding="utf-8")
    assert '<button type="button" class="example" data-query="dog">' in html
    assert BOB_SECRET not in html


def test_cli_inspect_refuses_a_namespace_without_data(
    demo_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    code = main(
        ["--embeddings", "static", "--data-dir", str(demo_folder), "inspect", "--namespace", "may", "--out", str(out)]
    )
    assert code == 2 and "holds no messages or memories" in capsys.readouterr().err
    assert not out.exists()


# -- lightmem serve --------------------------------------------------------------------------------------------


@pytest.fixture
def served(demo: LightMem) -> Iterator[str]:
    server = make_server(demo, "maya", port=0, queries=["dog"], k=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_searches_the_configured_namespace_only(served: str) -> None:
    status, body = get(f"{served}/search?q=vault%20code%20bob&k=10")
    assert status == 200
    hits = json.loads(body)["hits"]
    assert hits and BOB_SECRET not in body
    status, page = get(f"{served}/")
    assert status == 200 and '"live": true' in page and BOB_SECRET not in page


def test_serve_refuses_bad_input_and_foreign_hosts(served: str) -> None:
    assert get(f"{served}/search?q=dog&k=0")[0] == 400
    assert get(f"{served}/search?q=dog&k=lots")[0] == 400
    status, body = get(f"{served}/search?q=" + "x" * 200_000)
    assert status in (400, 414) or "error" in body
    assert get(f"{served}/nothing")[0] == 404
    assert get(f"{served}/", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding
    assert get(f"{served}/health") == (200, "ok")


def test_serve_binds_loopback_only(demo: LightMem) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        make_server(demo, "maya", host="0.0.0.0", port=0)


# -- in Chromium -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (CI installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)  # never a download
        yield launched
        launched.close()


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # a CSP violation or a failed load is a console error too
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    return page, problems


def save_screenshot(page: Any, tmp_path: Path, name: str, **options: Any) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), **options)
    if os.environ.get("LIGHTMEM_UPDATE_SCREENSHOTS") == "1":
        DOCS_ASSETS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_ASSETS / name)
    return path


@pytest.mark.integration
def test_the_demo_report_in_chromium(demo: LightMem, browser: Any, tmp_path: Path) -> None:
    snapshot = demo.snapshot("maya")
    report = write_report(demo, "maya", tmp_path / "report.html", k=5)
    page, problems = open_page(browser, report.as_uri())

    # counts
    segments = {m.segment_id for m in snapshot.messages if m.segment_id}
    assert page.locator("li.msg").count() == len(snapshot.messages) == 38
    assert page.locator("article.memory").count() == len(snapshot.entries)
    assert page.locator("section.segment[id^='seg-']").count() == len(segments) > 0
    assert page.locator("article.thread").count() == 4
    pending = [e for e in snapshot.entries if e.pending]
    assert len(pending) == 8  # session 4 is still in the buffers
    assert any(not e.active and not e.pending for e in snapshot.entries)  # consolidation made history

    # provenance: every link lands on a message, and a memory's links on the messages it names as sources
    links = page.evaluate(
        """() => Array.from(document.querySelectorAll("a.prov")).map(a => {
            const target = document.getElementById(a.getAttribute("href").slice(1));
            const card = a.closest("article.memory");
            return {target: target && target.tagName, message: target && target.dataset.messageId,
                    entry: card && card.dataset.entryId};
        })"""
    )
    sources = {e.id: e.source_ids for e in snapshot.entries}
    assert len([x for x in links if x["entry"]]) == sum(len(s) for s in sources.values()) > 30
    for link in links:
        assert link["target"] == "LI", link
        assert link["entry"] is None or link["message"] in sources[link["entry"]], link
    first = page.locator("article.memory a.prov").first
    first.click()
    assert page.evaluate("location.hash") == first.get_attribute("href")
    assert page.locator(":target").get_attribute("data-message-id") == first.inner_text()

    # escaping: the hostile memory is text, and ran nothing
    assert page.evaluate("typeof window.__pwned") == "undefined"
    hostile = page.locator("article.memory[data-entry-id='saved:maya:hostile'] .text")
    assert hostile.inner_text().strip() == HOSTILE.strip()
    assert page.locator("script").count() == 2 and page.locator("img").count() == 0

    # search: a precomputed example ranks memories with scores; anything else says how to get it
    example = page.locator("button.example").first
    example.click()
    hits = page.locator("#search-results li")
    assert 1 <= hits.count() <= 5
    scores = [float(s) for s in page.locator("#search-results .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    page.fill("#query", "something never precomputed")
    page.press("#query", "Enter")
    assert "lightmem serve" in page.locator("#search-note").inner_text()

    # filters
    page.click("button.filter[data-status='pending']")
    assert page.locator("article.memory:visible").count() == len(pending)
    page.click("button.filter[data-status='all']")

    # the next idle flush and the cost chart
    assert re.search(r"in \d+ (s|min)", page.locator("#pending .relative").inner_text())
    assert page.locator("#cost svg.chart").count() == 3
    assert BOB_SECRET not in page.content()
    assert problems == []

    page.evaluate("window.scrollTo(0, 0)")
    example.click()
    shot = save_screenshot(page, tmp_path, "inspect-report.png")
    assert shot.stat().st_size > 10_000
    merged = page.locator("article.memory.status-current:has(.badge.method-consolidated)").first
    merged.scroll_into_view_if_needed()
    merged.locator("details.sources summary").click()
    path = tmp_path / "inspect-memory.png"
    merged.screenshot(path=str(path))
    if os.environ.get("LIGHTMEM_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOCS_ASSETS / "inspect-memory.png")
    page.close()


@pytest.mark.integration
def test_lightmem_serve_searches_live_in_chromium(demo_folder: Path, browser: Any) -> None:
    from tests.integration.servers import free_port, serve

    port = free_port()
    command = [sys.executable, "-m", "langchain_lightmem.cli", "--embeddings", "static", "--data-dir", str(demo_folder)]
    command += ["serve", "--namespace", "maya", "--port", str(port), "-k", "4"]
    with serve(command, f"http://127.0.0.1:{port}/health", timeout=120):
        page, problems = open_page(browser, f"http://127.0.0.1:{port}/")
        page.fill("#query", "Where does Maya live now?")
        page.press("#query", "Enter")
        page.wait_for_selector("#search-results li")
        assert "(live)" in page.locator("#search-note").inner_text()
        assert 1 <= page.locator("#search-results li").count() <= 4
        assert BOB_SECRET not in page.content()
        assert problems == []
        page.close()
