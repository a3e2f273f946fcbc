"""A bounded, thread-safe least-recently-used map: the one in-memory cache of the package.

Example::

    cache = LRUCache(capacity=8)                              # at most 8 entries; the least recently used goes first
    levels = cache.get_or_compute(key, lambda: analyse(key))  # computed once per key, even when asked at once
    cache.get(key)                                            # the value (now the most recent), or None
    key in cache                                              # a look that does not count as a use
    cache.put(key, value)

Named caches (the engine's setups, style analyses, brush candidates, directions) are subclasses that say what
they hold and how big they are by default (:mod:`ganpaint_core.edit.caches`).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``capacity`` values by key; reading or writing a key makes it the most recent, and a write
    past the capacity drops the least recent. Every method may be called from any thread."""

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"an LRU cache keeps at least 1 entry: capacity must be a whole number >= 1, "
                             f"got {capacity!r}")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[K, threading.Event] = {}  # keys being computed by get_or_compute, and their end

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value under ``key`` (now the most recent), else ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key`` as the most recent; drops the least recent past the capacity."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value under ``key``, computed by ``compute()`` and kept when missing.

        ``compute`` runs outside the lock (it may take seconds: other keys need not wait), once per key: a
        second caller of a key being computed waits for that result instead of computing it again, and
        computes it itself when the first one failed (its error goes to the first caller only). ``compute``
        must not ask this cache for the same key."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                running = self._pending.get(key)
                if running is None:
                    done = self._pending[key] = threading.Event()
            if running is None:
                break
            running.wait()  # then read the result, or compute it after the other caller's failure
        try:
            value = compute()
            self.put(key, value)
        finally:
            with self._lock:
                del self._pending[key]
            done.set()
        return value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
