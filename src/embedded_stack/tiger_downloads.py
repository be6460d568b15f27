"""A local stand-in for the Census Bureau's TIGER/Line download site.

Serves a directory laid out as the Bureau's (`TIGER2024/ADDRFEAT/tl_2024_36061_addrfeat.zip`)
under `/geo/tiger/`, so the source URL is `http://127.0.0.1:PORT/geo/tiger`, as the real
one is `https://www2.census.gov/geo/tiger`; a directory answers with an HTML index, as
the real site does. Tests turn `app.faults` at runtime (a file that is not there, failing
requests, a download cut short) and read `app.received`. Run it with
`LocalHttpService(TigerDownloadsApp(directory)).start()`.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path, PurePosixPath

from werkzeug.wrappers import Request, Response

TIGER_PATH = "/geo/tiger"


@dataclass
class TigerFaults:
    """Knobs tests turn while the server runs; counters of "next N" count down."""

    # Files answered with 404, by name ("tl_2024_36061_faces.zip") or by path under
    # /geo/tiger/ ("TIGER2024/FACES/tl_2024_36061_faces.zip").
    missing: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer the next N file downloads (GET) with fail_status
    fail_status: int = 503
    # The next N files are cut to half their bytes, with a Content-Length that says so:
    # the response looks complete, and only reading the zip shows it is not.
    truncate_next: int = 0


@dataclass(frozen=True)
class ServedRequest:
    path: str  # as requested, e.g. "/geo/tiger/TIGER2024/FACES/tl_2024_36061_faces.zip"
    status: int
    bytes_sent: int


class TigerDownloadsApp:
    """The WSGI app. `faults` may be changed at any time; `received` logs each request."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to a healthy server with an empty request log."""
        with self._lock:
            self.faults = TigerFaults()
            self.received: list[ServedRequest] = []

    @property
    def requested_paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.received]

    @Request.application
    def __call__(self, request: Request) -> Response:
        response = self._answer(request)
        sent = 0 if request.method == "HEAD" else len(response.get_data())
        with self._lock:
            self.received.append(ServedRequest(request.path, response.status_code, sent))
        return response

    def _answer(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed", status=405)
        relative = _relative_path(request.path)
        if relative is None:
            return Response("not found", status=404)
        target = self.root.joinpath(*relative.parts)
        if target.is_dir():
            if not request.path.endswith("/"):  # as Apache does: the index has a slash
                return Response(status=301, headers={"Location": request.path + "/"})
            return Response(_index_page(request.path, target), mimetype="text/html")
        with self._lock:
            faults = self.faults
            if not target.is_file() or {relative.name, str(relative)} & faults.missing:
                return Response("not found", status=404)
            # A HEAD (to learn a file's size or date) uses up no fault meant for a download.
            downloading = request.method == "GET"
            if downloading and faults.fail_next > 0:
                faults.fail_next -= 1
                return Response("service unavailable", status=faults.fail_status)
            truncate = downloading and faults.truncate_next > 0
            if truncate:
                faults.truncate_next -= 1
        body = target.read_bytes()
        if truncate:
            body = body[: len(body) // 2]
        mimetype = "application/zip" if target.suffix == ".zip" else "application/octet-stream"
        return Response(
            body,
            mimetype=mimetype,
            headers={"Last-Modified": formatdate(target.stat().st_mtime, usegmt=True)},
        )


def _relative_path(path: str) -> PurePosixPath | None:
    """The path under /geo/tiger/, or None if it is elsewhere or climbs out."""
    if path != TIGER_PATH and not path.startswith(TIGER_PATH + "/"):
        return None
    parts = [part for part in path[len(TIGER_PATH) :].split("/") if part]
    if any(part in (".", "..") or "\\" in part for part in parts):
        return None
    return PurePosixPath(*parts)


def _index_page(path: str, directory: Path) -> str:
    entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
    links = "\n".join(
        f'<tr><td><a href="{html.escape(name)}">{html.escape(name)}</a></td>'
        f"<td>{'-' if entry.is_dir() else entry.stat().st_size}</td></tr>"
        for entry in entries
        for name in [entry.name + ("/" if entry.is_dir() else "")]
    )
    title = html.escape(f"Index of {path.rstrip('/')}")
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f'<table><tr><th>Name</th><th>Size</th></tr>\n<tr><td><a href="../">Parent Directory'
        f"</a></td><td>-</td></tr>\n{links}\n</table></body></html>"
    )
