"""A minimal Headway webhook receiver that checks signatures, for trying webhooks locally.

    HEADWAY_WEBHOOK_SECRET=whsec_... python3 docs/examples/webhook_receiver.py 9000

It listens on 127.0.0.1, verifies each request's Headway-Signature, drops replays older
than five minutes and events it has already seen, prints each event, and responds with 204.
For a day after the endpoint's secret changes, the header carries two signatures,
`v1=<new>,v1=<old>`; a request is genuine when any of them matches this receiver's secret.
"""

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["HEADWAY_WEBHOOK_SECRET"].encode()
TOLERANCE_SECONDS = 300
seen_event_ids = set()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("Headway-Timestamp", "")
        signatures = self.headers.get("Headway-Signature", "").split(",")
        expected = "v1=" + hmac.new(
            SECRET, timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if not any(hmac.compare_digest(expected, s.strip()) for s in signatures):
            self.send_response(401)
            self.end_headers()
            return
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            self.send_response(400)
            self.end_headers()
            return
        event_id = self.headers.get("Headway-Event-Id")
        if event_id not in seen_event_ids:
            seen_event_ids.add(event_id)
            event = json.loads(body)
            print(event["type"], event["sequence"], json.dumps(event["data"]), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
