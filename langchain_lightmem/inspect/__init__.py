"""Look inside memory: ``lightmem inspect`` (one self-contained HTML report of a namespace) and ``lightmem serve``
(the same report on loopback, with live search).

* :func:`build_report` / :func:`write_report`: the page, from :meth:`LightMem.snapshot` and :meth:`LightMem.search`.
* :func:`make_server`: the report served on 127.0.0.1 (``GET /``, ``GET /search?q=``).

See docs/inspect.md.
"""

from langchain_lightmem.inspect.report import (
    SearchExample,
    build_report,
    example_queries,
    render_report,
    write_report,
)
from langchain_lightmem.inspect.server import ReportServer, make_server

__all__ = [
    "ReportServer",
    "SearchExample",
    "build_report",
    "example_queries",
    "make_server",
    "render_report",
    "write_report",
]
