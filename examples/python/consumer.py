#!/usr/bin/env python3
"""A wecom-edge pull consumer in Python, standard library only (Python 3.8+).

It long-polls an app's pull destination (docs/feed.md, "Long-poll"): each pull
waits at the gateway until an event can be leased, so events arrive the moment
they are committed, with no sleep to tune. Each event goes to handle(); the
ones it finished are acked under the pull's lease, the ones it raised on are
nacked to come back later. SIGINT or SIGTERM stops it after the batch in hand.

    APP=hr PULL_TOKEN=... WECOM_EDGE_URL=https://wecom.example.com python3 examples/python/consumer.py

Variables: WECOM_EDGE_URL (default http://127.0.0.1:8787), APP, PULL_TOKEN,
DESTINATION (a pull destination's name; default: the app's top-level pull),
RETRY_DELAY_SECONDS (default 30).
"""
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

GATEWAY = os.environ.get("WECOM_EDGE_URL", "http://127.0.0.1:8787").rstrip("/")
APP = os.environ.get("APP", "")
TOKEN = os.environ.get("PULL_TOKEN", "")
DESTINATION = os.environ.get("DESTINATION", "")
RETRY_DELAY_SECONDS = int(os.environ.get("RETRY_DELAY_SECONDS", "30"))
MAX = 10
LEASE_SECONDS = 120
WAIT_SECONDS = 20


def log(line):
    # The ids and kinds printed come from the gateway: keep them to printable text.
    print("".join(c if c.isprintable() else "\\u%04x" % ord(c) for c in line), flush=True)


def handle(event, attempt, event_id):
    """Your code goes here: do what the event is for; raise to have it come back later."""
    e = event.get("event") or {}
    kind = "/".join(str(x) for x in (e.get("MsgType"), e.get("Event"), e.get("ChangeType") or e.get("InfoType")) if x)
    log("handled %s%s%s" % (event_id, " " + kind if kind else "", " (attempt %d)" % attempt if attempt > 1 else ""))


class Unauthorized(Exception):
    pass


class Stop(Exception):
    """Raised by the signal handler while the consumer only waits (a long-poll): nothing is in hand."""


def call(verb, body, timeout):
    path = "/queue/%s%s/%s" % (urllib.parse.quote(APP, safe=""), "/" + urllib.parse.quote(DESTINATION, safe="") if DESTINATION else "", verb)
    request = urllib.request.Request(
        GATEWAY + path,
        data=json.dumps(body).encode("utf-8"),
        headers={"authorization": "Bearer " + TOKEN, "content-type": "application/json", "user-agent": "wecom-edge python consumer"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise Unauthorized("401: the pull token is wrong, or %s is not a pull destination" % path)
        raise


def main():
    if not APP or not TOKEN:
        sys.exit("Set APP (the app's name) and PULL_TOKEN (its pull token); see examples/README.md.")
    stopping = []
    busy = []

    def on_signal(signum, frame):
        stopping.append(signum)
        if not busy:
            raise Stop()

    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), on_signal)
    log("consuming %s/queue/%s%s by long-poll" % (GATEWAY, APP, "/" + DESTINATION if DESTINATION else ""))
    failures = 0
    while not stopping:
        try:
            batch = call("pull", {"max": MAX, "leaseSeconds": LEASE_SECONDS, "waitSeconds": WAIT_SECONDS}, WAIT_SECONDS + 15)
            failures = 0
        except Stop:
            break
        except Unauthorized as error:
            sys.exit(str(error))
        except (urllib.error.URLError, OSError, ValueError) as error:
            if stopping:
                break
            failures += 1
            delay = min(30, 2 ** (failures - 1))
            log("pull failed: %s; again in %d s" % (error, delay))
            try:
                time.sleep(delay)
            except Stop:
                break
            continue
        events = batch.get("events") or []
        if not events:
            continue
        # A batch in hand is finished and settled, even after a signal.
        busy.append(True)
        ids = batch.get("ids") or [event.get("id") for event in events]
        attempts = batch.get("attempts") or {}
        done, failed = [], []
        for event, event_id in zip(events, ids):
            try:
                handle(event, attempts.get(event_id, 1), event_id)
                done.append(event_id)
            except Exception as error:  # noqa: BLE001 - any failure of handle() means: later
                log("failed %s: %s; again in %d s" % (event_id, error, RETRY_DELAY_SECONDS))
                failed.append(event_id)
        if done:
            answer = call("ack", {"ids": done, "lease": batch["lease"]}, 30)
            log("acked %d" % answer["acked"])
        if failed:
            call("nack", {"ids": failed, "lease": batch["lease"], "delaySeconds": RETRY_DELAY_SECONDS}, 30)
        busy.clear()
    log("stopped")


if __name__ == "__main__":
    main()
