"""gunicorn settings for Stream Engine, derived from the Stream Engine settings.

Used by ``stream-engine serve`` (foreground) and ``manage-streamng start`` (which adds
``--daemon --pid <PID_FILE>`` on gunicorn's command line). Command-line options win over this file.

Worker model: ``gthread`` workers (``WORKERS`` processes x ``THREADS`` threads), as the class
``stream_engine.web.worker.StreamEngineWorker``, which answers ``/health`` in its accepting thread
(never queued behind data requests), bounds each client address's idle connections
(``MAX_CLIENT_IDLE_CONNECTIONS``), closes connections without blocking and spreads connections
evenly over the workers. The
WSGI app is imported in each worker after the fork (no ``preload_app``), so every worker opens its
own store connection, and a ``HUP`` (``manage-streamng reload``) starts workers on freshly
imported code (the master imports only the worker class's module, which uses nothing else of
Stream Engine, and imports it afresh on ``HUP``).

Memory per worker is bounded by ``COMPUTE_CACHE_BYTES + DAP_CACHE_BYTES`` (the caches, full
after a while under varied load) plus what the requests in progress hold (at most ``THREADS``
of them, each bounded by ``DAP_COMPUTE_RECORDS`` windows and ``DAP_BLOCK_BYTES`` blocks) plus the
code and dictionary (about 150 MiB); see README "Running a server". Each worker sets its glibc
malloc policy in ``post_fork`` (``stream_engine/web/malloc_policy.py``: ``MALLOC_ARENAS``, and
``MALLOC_MMAP_THRESHOLD``/``MALLOC_TRIM_THRESHOLD`` so that memory freed after a large response
is kept for the next instead of being faulted in again); with another C library ``on_starting``
says once that these settings do nothing. mallopt in the worker rather than ``MALLOC_*_``
variables set by ``stream-engine serve``: it covers every way gunicorn is started (``serve``,
``manage-streamng start``, a HUP's new workers), leaves the master, export jobs and their
children on glibc's defaults, and reads the settings like every other one.

Timeouts (gunicorn 27):

* ``timeout = 0``: the master never kills a "silent" worker. With gthread the heartbeat comes
  from the worker's main loop, not from request handling, so a long response does not by itself
  trip the timeout; but a worker whose main thread is starved while threads compute (GIL-bound
  work) could be killed mid-response, and on HTTP/2 the same value would reset a stream whose
  reader stalls. 0 disables both: a response is never cut by the server.
* ``graceful_timeout``: on ``TERM`` or ``HUP``, busy workers get this long to finish their
  responses before they are killed; idle ones stop at once.
* ``keepalive``: seconds an idle kept-alive connection is held open. The clock starts when the
  last byte is handed to the kernel, not when the client has read it: with 5 s, busy clients
  still reading a large ``.dods`` sent their next request on a connection the server had just
  closed (32 resets in 20,000 requests in ``benchmarks/load.py``); 30 s leaves them time.
* A client that stops reading is dropped after ``SEND_TIMEOUT`` seconds (set per request by the
  application on the socket), and each client address has at most ``MAX_CLIENT_REQUESTS``
  responses in progress per worker (``stream_engine/web/connections.py``).

Connections are spread across workers by the worker class, not the kernel: every worker accepts
from the one socket the master binds (``reuse_port = False``), so a ``HUP`` reload never drops a
connection (with ``reuse_port`` each worker had a socket of its own, and connections queued on a
stopping worker's socket were reset: 48 failed requests in ``tests/ops/test_reload_under_load.py``,
while a booting worker's socket took connections it could not serve yet); and each worker takes
new connections only while it holds at most one more than the least loaded worker (a table
shared through the master: ``on_starting``, ``post_fork``, ``child_exit`` below), so kept-alive
clients do not pile onto one worker. ``on_starting`` also checks the address first, so a port
held by another program stops the start at once with a message naming ``STREAM_ENGINE_BIND``.

``limit_request_line = 0`` lets gunicorn read request lines up to its 1 MB ceiling, so long
DAP constraint expressions (many variables) arrive; the application answers lines over 64 KiB
with 414 in the route's error format (a DAP ``Error {}`` under ``/dap/``).
"""

from __future__ import annotations

import os
import sys

from stream_engine.config import load_settings
from stream_engine.logs import access_log_path, error_log_path
from stream_engine.web.malloc_policy import glibc

_settings = load_settings()
os.makedirs(_settings.path("LOG_DIR"), exist_ok=True)

wsgi_app = "stream_engine.web.app:create_app()"
bind = [_settings.BIND]
worker_class = "stream_engine.web.worker.StreamEngineWorker"
workers = _settings.WORKERS
threads = _settings.THREADS
timeout = 0
graceful_timeout = 30
keepalive = 30
reuse_port = False
limit_request_line = 0
max_requests = 0
preload_app = False
proc_name = "stream-engine"
control_socket_disable = True

errorlog = str(error_log_path(_settings))
accesslog = str(access_log_path(_settings))
loglevel = _settings.LOG_LEVEL.lower()
# ``body=`` is ``complete`` when the whole body was handed over, ``incomplete`` when the client
# went away or a send timed out (the bytes count then is what was handed over, not promised).
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms %({x-request-id}o)s '
    "body=%({stream_engine.body}e)s"
)

_malloc_policy = (_settings.MALLOC_ARENAS, _settings.MALLOC_MMAP_THRESHOLD, _settings.MALLOC_TRIM_THRESHOLD)
_glibc = glibc() is not None
del _settings
# numba, the compiler of the TEOS-10 and Sea-Bird kernels, is imported once here: workers fork with it loaded
# and only load the compiled kernels from numba's cache when they start (shorter worker starts,
# also after a HUP). It is not Stream Engine code, so a reload needs no fresh copy of it.
import numba  # noqa: E402,F401

# The master must not keep the engine's modules: workers fork from it, and after an upgrade a
# HUP has to give them the new code (and the new version), not the master's copies.
for _name in [n for n in sys.modules if n == "stream_engine" or n.startswith("stream_engine.")]:
    del sys.modules[_name]


def when_ready(server) -> None:
    """Say where the server answers, on the terminal and in the error log."""
    addresses = [str(listener) for listener in server.LISTENERS] or list(server.cfg.bind)
    for address in addresses:
        url = address if address.startswith(("unix:", "http")) else f"http://{address}"
        url = url if url.startswith("unix:") else url.rstrip("/") + "/"
        message = f"Stream Engine serving at {url} (DAP datasets at /dap/)"
        server.log.info(message)
        if not server.cfg.daemon:
            print(message, flush=True)


def post_fork(server, worker) -> None:
    """Give the worker its slot in the connection table; set its glibc malloc policy
    (``MALLOC_ARENAS``, ``MALLOC_MMAP_THRESHOLD``, ``MALLOC_TRIM_THRESHOLD``) before its
    threads start."""
    from stream_engine.web.malloc_policy import apply_malloc_policy
    from stream_engine.web.worker import join_balance

    if hasattr(worker, "balance"):
        join_balance(worker, getattr(server, "connection_table", None))
    if _glibc:
        for message in apply_malloc_policy(*_malloc_policy):
            server.log.warning(message)


def pre_fork(server, worker) -> None:
    """Mark the worker's slot in the connection table as booting (before old workers stop)."""
    from stream_engine.web.worker import booting_in_balance

    booting_in_balance(worker, getattr(server, "connection_table", None))


def child_exit(server, worker) -> None:
    """Free an exited worker's slot in the connection table (after a crash too)."""
    from stream_engine.web.worker import leave_balance

    leave_balance(worker, getattr(server, "connection_table", None))


def on_starting(server) -> None:
    """Make the connection table the workers share; stop at once, naming the setting, when
    another program holds the address."""
    import socket

    from stream_engine.web.worker import new_balance

    server.connection_table = new_balance()
    if not _glibc and any(_malloc_policy):
        server.log.info("the C library is not glibc: MALLOC_ARENAS, MALLOC_MMAP_THRESHOLD and "
                        "MALLOC_TRIM_THRESHOLD have no effect")

    for address in server.cfg.bind:
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, int(port)))
            except OSError as exc:
                message = (
                    f"Stream Engine cannot listen on {address}: {exc.strerror or exc} (another "
                    "program holds the port); stop it, or set STREAM_ENGINE_BIND=host:port "
                    "(or BIND in config/local.py) to a free address"
                )
                server.log.error(message)
                raise SystemExit(message) from exc
