"""moto's S3 server with atomic conditional writes.

moto checks `If-Match` / `If-None-Match` on PutObject and then writes, with nothing held between
the two, and its server handles each request on its own thread. Two writers that read the same
ETag can therefore both pass the check, and one update is lost: measured here, 8 writers x 25
read-increment-replace rounds lost an update in about one run of three (scripts/services.sh and
crates/store/tests/s3_it.rs). Real S3 does not do this.

This runs moto's own WSGI application behind a lock that lets one mutating request (anything but
GET, HEAD and OPTIONS) run at a time; reads stay concurrent. Each write sees the state the
previous one left, as S3's conditional writes promise.

Usage: moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

READS = {"GET", "HEAD", "OPTIONS"}


class SerializedWrites:
    """WSGI middleware: mutating requests run one at a time, to the end of their body."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET") in READS:
            return self.app(environ, start_response)
        with self.lock:
            # moto may do its work while the response is produced: finish it under the lock.
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    os.environ.setdefault("MOTO_PORT", sys.argv[2])  # as moto_server does
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        sys.argv[1],
        int(sys.argv[2]),
        SerializedWrites(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
