#!/usr/bin/env python3
"""A wecom-edge push receiver in Python, standard library only (Python 3.8+).

It checks each push's Standard Webhooks signature (docs/delivery.md,
"Verifying the push"): HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}",
keyed with the bytes after "whsec_", against each "v1,<base64>" of
webhook-signature, compared in constant time, with the timestamp within 5
minutes. A refused push gets 401; an accepted one 204, and handle() gets its
event.

    WEBHOOK_SECRET=whsec_... PORT=8788 python3 examples/python/receiver.py
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8788"))
TOLERANCE_SECONDS = 5 * 60
MAX_BODY = 2 * 1024 * 1024


def log(line):
    print("".join(c if c.isprintable() else "\\u%04x" % ord(c) for c in line), flush=True)


def verify(headers, body, secret):
    """The event, parsed, when one signature holds; raises ValueError saying why not."""
    if not secret.startswith("whsec_"):
        raise ValueError("the secret is not whsec_...")
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, timestamp, signatures = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("timestamp too far from this clock")
    expected = base64.b64encode(hmac.new(key, ("%s.%s." % (msg_id, timestamp)).encode("utf-8") + body, hashlib.sha256).digest())
    for signature in signatures.split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            return json.loads(body.decode("utf-8"))
    raise ValueError("no signature matches")


def handle(event):
    """Your code goes here. Keep it quick, or queue the work: the gateway waits for the answer."""
    e = event.get("event") or {}
    kind = "/".join(str(x) for x in (e.get("MsgType"), e.get("Event")) if x)
    log("event %s app=%s %s (signature verified)" % (event.get("id"), event.get("app"), kind))


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self.send_response(413)
            self.end_headers()
            return
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            event = verify(headers, body, SECRET)
        except ValueError as error:
            log("refused %s: %s" % (headers.get("webhook-id", "?"), error))
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(204)
        self.end_headers()
        handle(event)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if not SECRET:
        sys.exit("Set WEBHOOK_SECRET (the app's whsec_... secret).")
    server = ThreadingHTTPServer((HOST, PORT), Receiver)
    log("listening on http://%s:%d" % (HOST, PORT))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
