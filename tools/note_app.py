"""note_app: the note's Flask application, for timing under real gunicorn.

tools/bench-python.sh runs this module under Debian's gunicorn, with the
sync worker (``-w 1``) and the gevent worker (``-k gevent``), so that the C
labs can be set beside the experiment they reproduce.  The handler does
what the note's does: time the ten downloads, print their statuses, answer
{"code": 0, "message": "success", "data": <seconds>}.

Two environment variables choose what it does, so that one file serves
all four cases:

  NOTE_URLS      the URLs to download, separated by spaces (bench-python.sh
                 points them at ./upstream on 127.0.0.1, never the internet)
  NOTE_DOWNLOAD  "sync" for sync_download (cases 1 and 3) or "async" for
                 async_download (cases 2 and 4)

Nothing here calls monkey.patch_all(): as in the note, only gunicorn's
gevent worker does, which is the whole point of the experiment.
"""
import json
import os
import sys
import time

import gevent
import requests
from flask import Flask, Response

app = Flask(__name__)

URLS = os.environ.get("NOTE_URLS", "").split()
DOWNLOAD = os.environ.get("NOTE_DOWNLOAD", "sync")
if not URLS or DOWNLOAD not in ("sync", "async"):
    sys.exit("note_app: set NOTE_URLS (space-separated) and "
             "NOTE_DOWNLOAD=sync|async")


def _download(url):
    # A timeout so a stuck upstream fails the request instead of holding the
    # only worker for ever; the simulator answers well within it.
    r = requests.get(url, timeout=30)
    return r.status_code


def sync_download():
    """One download after another, as the note's list(map(...))."""
    return [_download(url) for url in URLS]


def async_download():
    """One greenlet per download, then wait for all: gevent.spawn + joinall.

    Whether they overlap depends on the worker: without the gevent worker's
    monkey patching, each requests.get blocks the process, greenlets or not.
    """
    greenlets = [gevent.spawn(_download, url) for url in URLS]
    gevent.joinall(greenlets)
    return [g.value for g in greenlets]


@app.route("/hello", methods=["GET"])
def hello():
    start = time.time()
    statuses = sync_download() if DOWNLOAD == "sync" else async_download()
    total = time.time() - start
    print(statuses, "%.3fs" % total, flush=True)

    ok = all(s == 200 for s in statuses)
    body = {"code": 0 if ok else 1,
            "message": "success" if ok else "some downloads failed",
            "data": total}
    resp = Response(json.dumps(body, ensure_ascii=False),
                    status=200 if ok else 502)
    resp.headers["Content-Type"] = "application/json; charset=utf-8"
    return resp
