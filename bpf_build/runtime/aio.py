"""asyncio for event buffers: wait for records on the running event loop instead of a thread.

``RingBuffer`` and ``PerfBuffer`` already expose one epoll fd (``fileno()``) that is readable when
any of their rings has data; this mixin registers it with the loop (``add_reader``) for the time
of one wait, then drains without blocking:

    async for event in ring_buffer: ...             # records forever (perf: (cpu, sample) pairs)
    events = await ring_buffer.read_async(timeout=1.0)
    count = await ring_buffer.poll_async(timeout=1.0)   # to the callbacks, like poll()

The synchronous ``poll()``/``read()`` stay as they are (they block the thread that calls them).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, List, Optional


class AsyncEvents:
    """Needs ``fileno()``, ``_has_data()``, ``read(timeout=0)`` and ``consume()`` from the buffer."""

    def fileno(self) -> int:
        raise NotImplementedError

    def _has_data(self) -> bool:
        raise NotImplementedError

    def read(self, timeout: Optional[float] = 0) -> List[Any]:
        raise NotImplementedError

    def consume(self) -> int:
        raise NotImplementedError

    async def wait_async(self, timeout: Optional[float] = None) -> bool:
        """Wait on the event loop until a record is ready or ``timeout`` seconds pass; True when ready."""
        if self._has_data():
            return True
        fd = self.fileno()
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(fd, _set_once, ready)
        try:
            return await asyncio.wait_for(ready, timeout)
        except asyncio.TimeoutError:
            return self._has_data()
        finally:
            loop.remove_reader(fd)

    async def read_async(self, timeout: Optional[float] = None) -> List[Any]:
        """What ``read()`` returns, after waiting on the loop (None: until something arrives)."""
        await self.wait_async(timeout)
        return self.read(timeout=0)

    async def poll_async(self, timeout: Optional[float] = None) -> int:
        """Wait on the loop, then deliver to the callbacks; returns how many records."""
        await self.wait_async(timeout)
        return self.consume()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._records_async()

    async def _records_async(self) -> AsyncIterator[Any]:
        while True:
            for record in await self.read_async(None):
                yield record


def _set_once(future: "asyncio.Future[bool]") -> None:
    if not future.done():
        future.set_result(True)
