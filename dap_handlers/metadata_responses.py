"""Whole metadata answers kept per worker, so a repeated one costs a lookup, not a rebuild.

:class:`ResponseCache` keeps whole answers (DDS, DAS, DMR, DSR, the HTML form and information
page: status 200, headers, body) by request, each with the
:class:`~stream_engine.engine.dependencies.Dependencies` of what making it read from the store.
A repeat first reads the store's one cheap change token (:meth:`Store.change_token
<stream_engine.store.base.Store.change_token>`: a ``PRAGMA data_version``, or a single-row read
on Cassandra): unchanged since the answer was last checked, it is served as kept, without a
snapshot; moved (something was committed somewhere), the kept answer's dependencies are checked
through a snapshot (change tokens of the streams and instruments it read, the stream list,
digests of the quality records it showed) and it is served if they are unchanged, so an ingest
into another stream does not make it again. Conditional requests are answered from the kept
validators (``304``), which are the ones the answer was made with.

A cached answer is text, never a dataset: a dataset holds the snapshot view it was made
through, which is closed once its response is sent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dap_handlers.app import DapResponse, not_modified, validator_headers

if TYPE_CHECKING:
    from stream_engine.engine.dependencies import Dependencies
    from stream_engine.store.base import Store


#: Whole answers kept per process, and the bytes of their bodies together, at most.
RESPONSE_ENTRIES = 2048
RESPONSE_BYTES = 32 * 2**20
#: What an answer costs besides its body (headers, key, dependencies), for the byte bound.
_ENTRY_OVERHEAD = 1024


@dataclass(slots=True)
class KeptResponse:
    """One answer (status 200) as sent, what it depends on, and the server headers its ``304``
    carries; ``checked`` is the store's change token when its dependencies were last found
    unchanged (``None``: never, or the store has no such token)."""

    headers: list[tuple[str, str]]
    body: bytes
    etag: str | None
    last_modified: datetime | None
    not_modified_headers: list[tuple[str, str]]
    dependencies: Dependencies
    owners: tuple[Any, ...]
    checked: Hashable | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + _ENTRY_OVERHEAD

    def answer(self, request_headers: Mapping[str, str] | None) -> DapResponse:
        """This answer, or ``304 Not Modified`` when the request's conditions hold."""
        unchanged = not_modified_answer(request_headers, self.etag, self.last_modified,
                                        self.not_modified_headers)
        return unchanged or DapResponse(200, list(self.headers), [self.body])


def not_modified_answer(
    request_headers: Mapping[str, str] | None, etag: str | None, last_modified: datetime | None,
    server_headers: list[tuple[str, str]],
) -> DapResponse | None:
    """``304 Not Modified`` with the validators and ``server_headers`` when the request's
    conditions (``If-None-Match``, ``If-Modified-Since``) hold for them, else ``None``."""
    if request_headers and not_modified(request_headers, last_modified, etag):
        return DapResponse(304, [*validator_headers(last_modified, etag), *server_headers], [])
    return None


class ResponseCache:
    """Whole metadata answers by request, served while what they read is unchanged.

    Parameters
    ----------
    entries, max_bytes
        Most answers kept and most bytes they may hold together (least recently used out).
    """

    def __init__(self, entries: int = RESPONSE_ENTRIES, max_bytes: int = RESPONSE_BYTES) -> None:
        self.entries = max(1, int(entries))
        self.max_bytes = max(0, int(max_bytes))
        self._kept: OrderedDict[Hashable, KeptResponse] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: Answers served unchecked (store unchanged), served after a check, and kept; for tests.
        self.hits = 0
        self.checked = 0
        self.made = 0

    def lookup(
        self, key: Hashable, store: Store, owners: tuple[Any, ...], request_headers: Mapping[str, str] | None,
    ) -> tuple[DapResponse | None, Hashable | None]:
        """The kept answer to request ``key`` if still valid, and the store's change token.

        ``store`` is the store itself (not a snapshot): its change token is read first, then, if
        it moved since the answer was last checked, a snapshot checks the answer's dependencies.
        ``owners`` are the objects the answer was made with (preload, settings, store): an
        answer made with others is not used. Give the returned token to :meth:`keep` with an
        answer made after this call.
        """
        token = store.change_token()
        with self._lock:
            entry = self._kept.get(key)
        if entry is None or len(entry.owners) != len(owners) or any(
                a is not b for a, b in zip(entry.owners, owners, strict=True)):
            return None, token
        if token is None or entry.checked != token:
            with store.snapshot() as view:
                fresh = entry.dependencies.unchanged(view)
            if not fresh:
                self._drop(key, entry)
                return None, token
            entry.checked = token
            counter = "checked"
        else:
            counter = "hits"
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            if key in self._kept:
                self._kept.move_to_end(key)
        return entry.answer(request_headers), token

    def keep(self, key: Hashable, entry: KeptResponse) -> None:
        """Keep ``entry`` as the answer to ``key`` (its ``checked`` is the token :meth:`lookup`
        read before the answer was made)."""
        with self._lock:
            self.made += 1
            if entry.size > self.max_bytes:
                return
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._kept[key] = entry
            self._bytes += entry.size
            while len(self._kept) > self.entries or self._bytes > self.max_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= dropped.size

    def _drop(self, key: Hashable, entry: KeptResponse) -> None:
        with self._lock:
            if self._kept.get(key) is entry:
                del self._kept[key]
                self._bytes -= entry.size

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._kept.clear()
            self._bytes = 0


#: The process's kept answers, shared by the requests of a worker.
RESPONSES = ResponseCache()
