"""Metadata responses (DAS, DMR) kept per dataset version, so a repeated one costs a lookup.

Building a DAS or DMR means making every variable's attributes (provenance, availability) and
escaping them into text: 2-3 ms of CPU for a stream with a few dozen variables, against a few
tenths of a millisecond for the rest of the request. The texts are kept, per worker process,
under a key the caller builds from everything they depend on (the dataset's ``ETag``, which
digests the stream's and its input streams' change tokens, their assets, the plan, the
dictionary, the code and the value settings; plus what the ETag does not cover: a dated window,
the dataset's URL, the settings that change attributes) and the request's query. A caller
without such a key (a store without change tokens) gets no caching.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

#: Texts kept per process, and their total size, at most (least recently used out).
DEFAULT_ENTRIES = 512
DEFAULT_BYTES = 32 * 2**20


class MetadataCache:
    """Encoded metadata responses by key, least recently used out.

    Parameters
    ----------
    entries, max_bytes
        Most texts kept and most bytes they may hold together.
    """

    def __init__(self, entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        self.entries = max(1, int(entries))
        self.max_bytes = max(0, int(max_bytes))
        self._texts: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: Texts served from the cache and texts made, for tests and logs.
        self.hits = 0
        self.made = 0

    def text(self, key: Hashable | None, make: Callable[[], bytes]) -> bytes:
        """The text under ``key``, made with ``make()`` (and kept) when it is not there yet;
        ``key`` ``None``: made every time."""
        if key is None:
            return make()
        with self._lock:
            found = self._texts.get(key)
            if found is not None:
                self._texts.move_to_end(key)
                self.hits += 1
                return found
        text = make()
        with self._lock:
            self.made += 1
            if len(text) <= self.max_bytes and key not in self._texts:
                self._texts[key] = text
                self._bytes += len(text)
                while len(self._texts) > self.entries or self._bytes > self.max_bytes:
                    _, dropped = self._texts.popitem(last=False)
                    self._bytes -= len(dropped)
        return text

    def clear(self) -> None:
        """Forget every text."""
        with self._lock:
            self._texts.clear()
            self._bytes = 0


#: The process's cache, shared by the requests of a worker.
METADATA = MetadataCache()
