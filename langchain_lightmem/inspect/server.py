"""``lightmem serve``: the inspection report of one namespace on loopback, with live search.

``GET /`` renders the report afresh (so reloading shows what changed); ``GET /search?q=...&k=5`` answers the
page's search box with :meth:`LightMem.search` as JSON; ``GET /health`` answers ``ok``. The namespace is the
server's: no request can name another one.

It binds loopback addresses only and refuses requests whose ``Host`` header is not a loopback name (a web page
elsewhere cannot reach it through DNS rebinding). There is no authentication: anyone on the machine can read the
namespace, as they could read the data folder. For anything else put an authenticating proxy in front.

Example:
    .. code-block:: python

        import threading
        from langchain_lightmem import LightMem, LightMemConfig
        from langchain_lightmem.inspect import make_server

        memory = LightMem(LightMemConfig(data_dir="./memory"))
        server = make_server(memory, "maya", port=0)  # port 0: any free port
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"http://127.0.0.1:{server.server_port}/")
        server.shutdown()
        memory.close()
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from langchain_lightmem.errors import ConfigurationError, InvalidInputError
from langchain_lightmem.inspect.report import build_report, hit_to_json
from langchain_lightmem.types import Namespace, NamespaceLike, normalize_namespace

if TYPE_CHECKING:
    from langchain_lightmem.memory import LightMem

logger = logging.getLogger(__name__)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
MAX_K = 100


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, IPv6 with or without brackets) is this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ReportServer(HTTPServer):
    """An HTTP server for one namespace's report (one request at a time: the facade is called from one thread)."""

    def __init__(
        self,
        memory: LightMem,
        namespace: Namespace,
        address: tuple[str, int],
        *,
        queries: Sequence[str] | None = None,
        k: int = 5,
    ) -> None:
        self.memory = memory
        self.namespace = namespace
        self.queries = list(queries) if queries else None
        self.k = k
        super().__init__(address, _Handler)


def make_server(
    memory: LightMem,
    namespace: NamespaceLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    queries: Sequence[str] | None = None,
    k: int = 5,
) -> ReportServer:
    """A :class:`ReportServer` bound to ``host:port`` (``port=0``: a free port; see ``server.server_port``).

    Raises:
        ConfigurationError: ``host`` is not a loopback address.
        InvalidNamespaceError: the namespace is empty or malformed.
    """
    if not is_loopback(host):
        raise ConfigurationError(
            f"lightmem serve binds loopback only (127.0.0.1, ::1, localhost), not {host!r}: the report has no "
            "authentication; put an authenticating proxy in front to share it"
        )
    return ReportServer(memory, normalize_namespace(namespace), (host.strip("[]"), port), queries=queries, k=k)


def _host_name(header: str) -> str:
    """The name of a ``Host`` header without its port (``[::1]:8765`` -> ``[::1]``)."""
    if header.startswith("["):
        return header.partition("]")[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Handler(BaseHTTPRequestHandler):
    server: ReportServer
    server_version = "lightmem-serve"

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def do_GET(self) -> None:
        if not is_loopback(_host_name(self.headers.get("Host") or "")):
            self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers loopback host names only"})
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            page = build_report(
                self.server.memory,
                self.server.namespace,
                queries=self.server.queries,
                k=self.server.k,
                live_search=True,
            )
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        elif url.path == "/search":
            self._search(parse_qs(url.query))
        elif url.path == "/health":
            self._send(HTTPStatus.OK, b"ok", "text/plain; charset=utf-8")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})

    def _search(self, params: dict[str, list[str]]) -> None:
        query = (params.get("q") or [""])[0]
        try:
            k = int((params.get("k") or [str(self.server.k)])[0])
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "k must be a whole number"})
            return
        if not 1 <= k <= MAX_K:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"k must be between 1 and {MAX_K}"})
            return
        try:
            hits = self.server.memory.search(self.server.namespace, query, k=k)
        except InvalidInputError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc), "field": exc.field})
            return
        self._json(HTTPStatus.OK, {"query": query, "hits": [hit_to_json(h) for h in hits]})
