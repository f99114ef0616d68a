"""A programmable HTTP server on 127.0.0.1 for tests (no internet needed).

    with LoopbackServer() as server:
        server.add("/f.bin", b"...", script=[{"cut_after": 1000}])   # first request is cut
        server.add_folder(shared_data / "mirror")                    # /<source>/<name> mirror
        fetch(raw, dest, mirror=server.base_url)
        assert server.served_bytes("/f.bin") == len(data)

Routes serve bytes or a file, honour `Range: bytes=N-[M]` with 206 (unless told not to), and can
redirect. A route's `script` is a list of one-shot behaviours, one per request, applied in order
before the route's default: {"status": 429, "headers": {"Retry-After": "1"}}, {"cut_after": n}
(send n body bytes then close the connection), {"ignore_range": True} (answer 200 with the whole
body). Every request is recorded in `server.requests` with the byte range actually sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Served:
    """One request as the server answered it."""

    path: str
    range: str | None
    status: int
    start: int | None = None  # offset in the file of the first body byte sent
    sent: int = 0  # body bytes actually written (fewer than promised when cut)


@dataclass
class Route:
    body: bytes | Path | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    redirect_to: str | None = None
    honour_range: bool = True
    script: list[dict] = field(default_factory=list)

    def size(self) -> int:
        if isinstance(self.body, Path):
            return self.body.stat().st_size
        return len(self.body or b"")

    def chunks(self, start: int, stop: int, block: int = 1 << 16):
        if isinstance(self.body, Path):
            with open(self.body, "rb") as f:
                f.seek(start)
                left = stop - start
                while left > 0 and (data := f.read(min(block, left))):
                    left -= len(data)
                    yield data
        else:
            for i in range(start, stop, block):
                yield (self.body or b"")[i : min(i + block, stop)]


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """'bytes=N-' or 'bytes=N-M' -> (start, stop exclusive); None if unsatisfiable."""
    spec = value.strip().removeprefix("bytes=")
    first, _, last = spec.partition("-")
    start = int(first)
    stop = min(int(last) + 1, size) if last.strip() else size
    return (start, stop) if start < size and start < stop else None


class LoopbackServer:
    """ThreadingHTTPServer on 127.0.0.1, port chosen by the OS, run in a daemon thread."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[Served] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(
        self,
        path: str,
        body: bytes | Path | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        redirect_to: str | None = None,
        honour_range: bool = True,
        script: list[dict] | None = None,
    ) -> Route:
        route = Route(
            body, status, dict(headers or {}), redirect_to, honour_range, list(script or [])
        )
        self.routes[path] = route
        return route

    def add_folder(self, root: Path, prefix: str = "") -> int:
        """Serve every file under `root` at `<prefix>/<relative path>` (a mirror layout)."""
        count = 0
        for file in sorted(Path(root).rglob("*")):
            if file.is_file():
                self.add(f"{prefix}/{file.relative_to(root).as_posix()}", file)
                count += 1
        return count

    def requests_for(self, path: str) -> list[Served]:
        return [r for r in self.requests if r.path == path]

    def served_bytes(self, path: str) -> int:
        return sum(r.sent for r in self.requests_for(path))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _record(self, served: Served) -> None:
        with self._lock:
            self.requests.append(served)

    def _next_step(self, route: Route) -> dict:
        with self._lock:
            return route.script.pop(0) if route.script else {}

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                range_header = self.headers.get("Range")
                route = server.routes.get(path)
                if route is None:
                    return self._reply(Served(path, range_header, 404), {}, b"not found")
                step = server._next_step(route)
                status = step.get("status", route.status)
                headers = {**route.headers, **step.get("headers", {})}
                if route.redirect_to is not None and "status" not in step:
                    headers["Location"] = route.redirect_to
                    return self._reply(Served(path, range_header, 302), headers, b"")
                if status != 200:
                    return self._reply(Served(path, range_header, status), headers, b"error")
                size = route.size()
                start, stop, status = 0, size, 200
                if range_header and route.honour_range and not step.get("ignore_range"):
                    span = _parse_range(range_header, size)
                    if span is None:
                        headers["Content-Range"] = f"bytes */{size}"
                        return self._reply(Served(path, range_header, 416), headers, b"")
                    start, stop = span
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
                served = Served(path, range_header, status, start=start)
                # Recorded (and counted) before the bytes go out: the client may finish and the
                # test may look at `requests` before this thread runs again.
                server._record(served)
                cut_after = step.get("cut_after")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(stop - start))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for data in route.chunks(start, stop):
                    if cut_after is not None:
                        data = data[: max(0, cut_after - served.sent)]
                    served.sent += len(data)
                    try:
                        self.wfile.write(data)
                    except OSError:
                        served.sent -= len(data)
                        raise
                    if cut_after is not None and served.sent >= cut_after:
                        break
                self.wfile.flush()

            def _reply(self, served: Served, headers: dict[str, str], body: bytes):
                server._record(served)
                self.send_response(served.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        return Handler


@pytest.fixture
def loopback_server():
    """A started LoopbackServer, stopped when the test ends."""
    server = LoopbackServer()
    yield server
    server.stop()
