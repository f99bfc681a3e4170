"""A loopback HTTP status endpoint (ThreadingHTTPServer) whose answer a test can change."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StatusServer:
    """An exchange status endpoint on 127.0.0.1: answers ``status`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.body = b'{"status": "ok"}'
        self.hit_times: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.hit_times.append(time.time())
                time.sleep(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> int:
        return len(self.hit_times)

    @property
    def url(self) -> str:
        # a key in the query: results and logs must never show it
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/status?apikey=SECRET123"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
