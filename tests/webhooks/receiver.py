"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1, in the test process.

It answers each POST with the next status code of its script (the last one repeats) and keeps what it
received. It verifies signatures the way the README tells integrators to, without the app's code.
"""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: object  # an email.message.Message: names are case-insensitive, as in HTTP
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


def receiver_verifies(secret, header, body, tolerance=300):
    """The README's check: t and v1 from the header, HMAC-SHA256 of '<t>.<body>' with the secret, recent t."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= tolerance


class Receiver:
    def __init__(self, script=(200,), delay=0.0):
        self.script = list(script)
        self.delay = delay
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(self.headers, body))
                    status = receiver.script[min(len(receiver.received), len(receiver.script)) - 1]
                time.sleep(receiver.delay)
                answer = b"thanks" if status < 300 else b"boom: something broke"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/servicedesk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def events(self):
        with self._lock:
            return [item.json["event"] for item in self.received]

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.1)
        raise AssertionError(f"the receiver got {len(self.received)} of {count} POSTs within {timeout} s")
