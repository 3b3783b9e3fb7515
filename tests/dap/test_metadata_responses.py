"""The per-worker cache of whole metadata answers: bounded by bytes (least recently used out),
served without a snapshot while the store's change token stands still, checked through one
when it moved, never used with other owners (dictionary, settings, store)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from dap_handlers.metadata_responses import _ENTRY_OVERHEAD, KeptResponse, ResponseCache
from stream_engine.engine.dependencies import Dependencies
from stream_engine.store.base import ChangeToken, StreamKey

KEY = StreamKey("CE01ISSM", "MFD37", "03-CTDBPC000", "telemetered", "ctdbp_cdef_dcl_instrument")
OWNERS = (object(), object())
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class TokenStore:
    """The two things the cache asks of a store: its change token and a snapshot (counted)."""

    def __init__(self) -> None:
        self.token = 1
        self.stream = ChangeToken(5, 0.0)
        self.snapshots = 0

    def change_token(self):
        return self.token

    def stream_token(self, key):
        return self.stream

    @contextmanager
    def snapshot(self):
        self.snapshots += 1
        yield self


def _kept(body: bytes, token, etag: str = "abc") -> KeptResponse:
    return KeptResponse([("Content-Length", str(len(body)))], body, etag, WHEN, [("X-Server", "x")],
                        Dependencies(((KEY, ChangeToken(5, 0.0)),), (), (), None, None), OWNERS, token)


def test_served_unchecked_while_the_token_stands_then_checked_once_it_moves():
    store, cache = TokenStore(), ResponseCache()
    assert cache.lookup("dds", store, OWNERS, {}) == (None, 1)
    cache.keep("dds", _kept(b"Dataset {}", 1))
    answer, _ = cache.lookup("dds", store, OWNERS, {})
    assert (answer.status, answer.body_iter, store.snapshots, cache.hits) == (200, [b"Dataset {}"], 0, 1)

    store.token = 2  # a commit somewhere else: the stream's own token did not move
    answer, _ = cache.lookup("dds", store, OWNERS, {})
    assert (answer.status, store.snapshots, cache.checked) == (200, 1, 1)
    cache.lookup("dds", store, OWNERS, {})
    assert (store.snapshots, cache.hits) == (1, 2)  # checked once for token 2

    store.token, store.stream = 3, ChangeToken(6, 0.0)  # the stream itself was written
    assert cache.lookup("dds", store, OWNERS, {}) == (None, 3)
    assert cache.lookup("dds", store, OWNERS, {})[0] is None  # dropped, not checked again
    assert store.snapshots == 2


def test_conditional_requests_use_the_kept_validators():
    store, cache = TokenStore(), ResponseCache()
    cache.keep("das", _kept(b"Attributes {}", 1, etag="v1"))
    answer, _ = cache.lookup("das", store, OWNERS, {"If-None-Match": '"v1"'})
    assert answer.status == 304 and answer.body_iter == []
    assert answer.header("ETag") == '"v1"' and answer.header("X-Server") == "x"
    assert answer.header("Last-Modified") == "Wed, 01 May 2024 12:00:00 GMT"
    assert cache.lookup("das", store, OWNERS, {"If-None-Match": '"v0"'})[0].status == 200
    assert cache.lookup("das", store, OWNERS, {"If-Modified-Since": "Wed, 01 May 2024 11:00:00 GMT"})[0].status == 200


def test_other_owners_never_get_the_answer():
    store, cache = TokenStore(), ResponseCache()
    cache.keep("dmr", _kept(b"<Dataset/>", 1))
    assert cache.lookup("dmr", store, (OWNERS[0], object()), {})[0] is None
    assert cache.lookup("dmr", store, OWNERS, {})[0] is not None


def test_bounded_by_bytes_least_recently_used_out():
    store = TokenStore()
    cache = ResponseCache(entries=100, max_bytes=3 * (100 + _ENTRY_OVERHEAD))
    for name in "abc":
        cache.keep(name, _kept(bytes(100), 1))
    cache.lookup("a", store, OWNERS, {})  # a is now the most recently used
    cache.keep("d", _kept(bytes(100), 1))
    assert [cache.lookup(n, store, OWNERS, {})[0] is not None for n in "abcd"] == [True, False, True, True]
    cache.keep("huge", _kept(bytes(4 * (100 + _ENTRY_OVERHEAD)), 1))  # larger than the bound: not kept
    assert cache.lookup("huge", store, OWNERS, {})[0] is None
    assert all(cache.lookup(n, store, OWNERS, {})[0] is not None for n in "acd")
