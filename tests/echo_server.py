"""A minimal OpenAI-compatible server that echoes prompts, for tests, demos and benchmarks.

It lets the HTTP backend's retries, concurrency bound and error handling run
offline: it can answer the first N requests with an error status (429 by
default, with a short ``retry-after-ms``), wait a fixed latency per request,
and it records how many requests were in flight at once. Its answers are
``"eco: <prompt>"``; a prompt containing "lungo" finishes with reason "length".
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoServer:
    """Serves /v1/chat/completions and /v1/completions on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, fail_first: int = 0, status: int = 429, delay: float = 0.0, garbage: bool = False):
        self.garbage = garbage  # answer 200 with a body that is no JSON (a web page, a proxy's error)
        self.fail_first = fail_first
        self.status = status
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: set[str] = set()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                status, payload, headers = server._answer(self.path, body, self.headers.get("Authorization", ""))
                data = b"<html>nope</html>" if server.garbage else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _answer(self, path: str, body: dict, auth: str):
        with self.lock:
            self.requests += 1
            n = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.auth.add(auth)
        try:
            if self.delay:
                time.sleep(self.delay)
            if n <= self.fail_first:
                return self.status, {"error": {"message": "try again later"}}, {"retry-after-ms": "10"}
            chat = path.endswith("/chat/completions")
            prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
            finish = "length" if "lungo" in prompt else "stop"
            choice = {"index": 0, "finish_reason": finish}
            if chat:
                choice["message"] = {"role": "assistant", "content": f"eco: {prompt}"}
            else:
                choice["text"] = f"eco: {prompt}"
            payload = {"id": f"r{n}", "object": "chat.completion" if chat else "text_completion",
                       "created": 0, "model": body.get("model", ""), "choices": [choice]}
            return 200, payload, {}
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
