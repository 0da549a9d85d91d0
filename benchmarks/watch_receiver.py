"""A loopback webhook receiver for the latency benchmark, in a process of its own (an outside system).

    python benchmarks/watch_receiver.py PORTFILE

Answers every POST with 200 over HTTP/1.1 (kept-alive connections, as a production receiver behind
any web server does), notes (alert height, arrival time); `GET /arrivals` returns them as JSON. It
writes its port to PORTFILE once listening.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ARRIVED: list[tuple[int | None, float]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ARRIVED.append((json.loads(body).get("height"), time.time()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        data = json.dumps(ARRIVED).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = Path(sys.argv[1] + ".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
