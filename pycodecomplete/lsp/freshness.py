"""Which completion requests are still worth answering.

A completion is asked for one version of a document. When the person types again,
the editor sends ``didChange`` and, because the lists are incomplete, a new
request; the old answer would arrive late and describe text that no longer exists.
So a pending request is answered empty as soon as a newer change (or the close) of
its document arrives, instead of when the engine finishes.

`ChangeClock` counts each document's changes. The protocol notes the count when a
request arrives (`note_arrival`), before any later message is read, so a request
that a change overtook while it waited to start is recognised too (over TCP,
asyncio may read the next message before a request's task first runs). Handlers
`watch` the document while the engine works; `tick` wakes every watcher of that
document. Everything here runs on the event loop's thread; worker threads only read
`generation`, a plain int.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict

# Requests cancelled before their handler ran never collect their arrival mark.
_MAX_ARRIVALS = 1024


class ChangeClock:
    def __init__(self) -> None:
        self._generations: dict[str, int] = {}
        self._watchers: defaultdict[str, set[asyncio.Future]] = defaultdict(set)
        self._arrivals: OrderedDict = OrderedDict()

    def generation(self, uri: str) -> int:
        """How many changes (opens, edits, closes) `uri` has had."""
        return self._generations.get(uri, 0)

    def tick(self, uri: str) -> None:
        """`uri` changed: every request pending on its old text is now stale."""
        self._generations[uri] = self.generation(uri) + 1
        for waiter in self._watchers.pop(uri, ()):
            if not waiter.done():
                waiter.set_result(None)

    def note_arrival(self, request_id, uri: str) -> None:
        """Remember `uri`'s generation when request `request_id` was read."""
        self._arrivals[request_id] = (uri, self.generation(uri))
        while len(self._arrivals) > _MAX_ARRIVALS:
            self._arrivals.popitem(last=False)

    def arrived_at(self, request_id, uri: str) -> int:
        """The generation `note_arrival` saw for this request (the current one if none was noted)."""
        noted = self._arrivals.pop(request_id, None)
        if noted is None or noted[0] != uri:
            return self.generation(uri)
        return noted[1]

    def watch(self, uri: str) -> asyncio.Future:
        """A future that completes at `uri`'s next change."""
        waiter = asyncio.get_running_loop().create_future()
        self._watchers[uri].add(waiter)
        return waiter

    def unwatch(self, uri: str, waiter: asyncio.Future) -> None:
        watchers = self._watchers.get(uri)
        if watchers is not None:
            watchers.discard(waiter)
            if not watchers:
                del self._watchers[uri]

    def forget(self, uri: str) -> None:
        """`uri` was closed: wake its watchers. Its count is kept (an int per URI), so a
        request from before a close and reopen never looks current."""
        self.tick(uri)
