"""Consumer for BPF_MAP_TYPE_RINGBUF maps: mmap the consumer and producer pages and the data area,
wait with epoll, hand out records as bytes or typed ctypes objects.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (the only page user space may
write), page 1 the producer position, then the data area mapped twice in a row so a record that
wraps around the end is still contiguous. Each record starts with an 8-byte header: a u32 length
with BUSY (still being written) and DISCARD bits, and a u32 the kernel uses internally; records
are 8-byte aligned. x86 and arm64 user space read the positions with plain loads; Python's
memoryview loads are whole aligned words, which is what the kernel's acquire/release pairs need on
x86 (TSO). On weakly ordered CPUs the kernel's ordering on the producer side plus the syscall-free
loop here is what libbpf relies on as well.

Drops: when the ring is full ``bpf_ringbuf_reserve`` returns NULL and the record is lost, and the
kernel counts nothing (perf buffers report PERF_RECORD_LOST; ring buffers do not). The convention
that makes drops visible: the object declares, next to ring buffer ``events``, a one-slot
per-CPU array ``events_drops`` of u64 and increments it where a reservation fails::

    struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
             __type(key, __u32); __type(value, __u64); } events_drops SEC(".maps");
    e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) { __u32 zero = 0; __u64 *n = bpf_map_lookup_elem(&events_drops, &zero); if (n) (*n)++; return 0; }

A skeleton links such a map to its ring (``Map.drop_counter``) and ``RingBuffer.dropped`` sums it
(any map with a u64 at key 0 can be linked by hand: ``ring_map.drop_counter = counter_map``).

Zero-copy batches: ``RingBuffer.consume_batch()`` returns a ``RecordBatch``, one read-only
memoryview per record over the mapped ring itself (no copy), in order, discarded records skipped.
``RecordBatch.runs()`` gives the same records as one view per run of equal-length records, for
array code (``memoryview.cast``, numpy) that reads them without an object per record.
Lifetime rule: the views of a batch are valid until the next call on that RingBuffer that reads or
waits (``consume_batch``, ``read``, ``poll``, ``consume``, ``wait``, the async waits, iteration)
or ``release()``/``close()``: only then is the consumer position advanced past the batch, once,
and the kernel may overwrite those bytes. Keep ``bytes(view)`` (or ``RecordBatch.event(i)``, a
typed copy) of what must outlive it. The data pages are mapped read-only (the kernel refuses a
writable mapping), so a typed record is a ``from_buffer_copy`` of that one record, made only when
it is read as its type. RecordBatch and how its views are made: ringbuf_batch.py.

Interruptions lose nothing: the consumer position moves only past records handed to the caller.
A KeyboardInterrupt (or any exception) inside ``read()`` or ``consume_batch()`` leaves the records
it had scanned in the ring, and so does leaving a ``with RingBuffer(...)`` block by an exception
while a batch is unreleased (its records may have been handled only in part); ``close()`` without
one releases the batch.
"""

from __future__ import annotations

import ctypes
import mmap
import select
import sys
from itertools import repeat
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional

from .aio import AsyncEvents
from .errors import BpfRuntimeError, BpfSyscallError, ClosedError, os_errno
from .ringbuf_batch import HEADER_SIZE, SHORT_RUN, RecordBatch, RecordSlices, RingRecords, Run, slice_bytes
from .uapi import MapType

if TYPE_CHECKING:
    from .maps import Map
    from .syscall import CType

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
LENGTH_MASK = ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF
STEPPED = 8  # headers of a run the scan reads one by one before it checks the rest in strided chunks

Callback = Callable[[Any], Any]


def record_type(events_map: Map[Any, Any], event_type: Any) -> Optional[CType]:
    """The type records are decoded as: the caller's, else the map's; ``bytes`` (or None) means raw."""
    if event_type is None:
        event_type = getattr(events_map, "event_type", None)
    chosen: Optional[CType] = None if event_type is bytes else event_type
    return chosen


def _count(counter: Map[int, Any]) -> int:
    """Key 0 of a drop counter map: per-CPU slots summed; u64 values, typed or raw bytes."""
    value: Any = counter.lookup(0, 0)  # an int, raw bytes, or a per-CPU list of either
    slots = value if isinstance(value, list) else [value]
    return sum(v if isinstance(v, int) else int.from_bytes(bytes(v), sys.byteorder) for v in slots)


class _Ring:
    """One ring buffer map, mapped into this process."""

    def __init__(self, ring_map: Map[Any, Any], callback: Optional[Callback], event_type: Any):
        if ring_map.type != MapType.RINGBUF:
            raise BpfRuntimeError(f"map '{ring_map.name}' is not a ring buffer ({ring_map.type})")
        self.map = ring_map
        self.callback = callback
        self.event_type = event_type = record_type(ring_map, event_type)
        self.event_size = ctypes.sizeof(event_type) if event_type is not None else 0
        size = ring_map.max_entries
        page = mmap.PAGESIZE
        fd = ring_map.fileno()
        try:
            self.consumer_page = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self.producer_area = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        except OSError as e:
            self.close()
            raise BpfSyscallError(f"mmap ring buffer '{ring_map.name}'", os_errno(e)) from None
        self.mask = size - 1
        self.data_start = page  # within producer_area
        self.consumer_pos = memoryview(self.consumer_page).cast("Q")
        self.producer_pos = memoryview(self.producer_area)[:8].cast("Q")
        self.headers = memoryview(self.producer_area)[page:].cast("I")
        self.data = memoryview(self.producer_area)[page:]  # the data area, twice over
        self.pending: Optional[int] = None  # consumer position after the batch handed out
        self.slices = RecordSlices()  # for the batches' views

    def release_batch(self) -> None:
        """Publish the consumer position past the last batch (its views may now be overwritten)."""
        if self.pending is not None:
            self.consumer_pos[0] = self.pending
            self.pending = None

    def batch(self, runs: List[Run], limit: int) -> int:
        """Append the ready records (at most ``limit``) to ``runs`` as runs of equal-length
        records, without copying or making an object per record; returns how many. The consumer
        position is kept in ``pending`` and published by the next ``release_batch``.

        A record's header gives its length; records of one length follow each other every
        ``stride`` bytes, so a run's headers are compared with the first's: one by one up to
        ``STEPPED`` (a run of one, the common case in a stream of mixed lengths, takes one
        comparison), the rest of a longer run together (``_run_length``)."""
        self.release_batch()
        limit = min(limit, (self.mask + 1) >> 3)  # no more fit (8 bytes a record at least); a small int is faster
        headers, producer_pos = self.headers, self.producer_pos
        # Positions below are indexes of u32 words in the data area (mapped twice, so a run
        # that wraps is contiguous here): ``index`` the next record's header, ``end`` the
        # producer position.
        cons = self.consumer_pos[0]
        first = index = (cons & self.mask) >> 2
        end = first + ((producer_pos[0] - cons) >> 2)
        n = 0
        while n < limit:
            if index >= end:
                end = first + ((producer_pos[0] - cons) >> 2)
                if index >= end:
                    break
            header = headers[index]
            if header >= DISCARD_BIT:
                if header & BUSY_BIT:
                    break
                index += ((header & LENGTH_MASK) + HEADER_SIZE + 7) >> 3 << 1
                continue
            words = (header + HEADER_SIZE + 7) >> 3 << 1
            after = index + words
            if after >= end or headers[after] != header:  # a run of one: most of a stream of mixed lengths
                runs.append(((index << 2) + HEADER_SIZE, header, words << 2, 1))
                index = after
                n += 1
                continue
            # A record reserved before ``end`` ends before it too, so an equal header below
            # ``end`` is a whole record of this run.
            count = 2
            after += words
            while count < STEPPED and after < end and headers[after] == header:
                count += 1
                after += words
            if count == STEPPED:
                count = _run_length(headers, index, words, count, (end - index) // words)
            count = min(count, limit - n)
            runs.append(((index << 2) + HEADER_SIZE, header, words << 2, count))
            index += count * words
            n += count
        self.pending = cons + ((index - first) << 2)
        return n

    def available(self) -> int:
        """Bytes the producer has committed (or reserved) and we have not consumed."""
        return self.producer_pos[0] - self.consumer_pos[0]

    def copy_out(self, out: List[Any], limit: int) -> int:
        """Append copies of up to ``limit`` ready records to ``out`` (bytes, or the event type);
        returns how many. The consumer position past them is left in ``pending`` for the caller
        to publish once every ring is copied. Scans as ``batch`` does and copies each run with
        C-level maps; a record shorter than the event type goes the per-record way of
        ``drain`` (which raises on it, as it always has)."""
        runs: List[Run] = []
        n = self.batch(runs, limit)
        area, base, event_type = self.producer_area, self.data_start, self.event_type
        if event_type is not None and any(length < self.event_size for _, length, _, _ in runs):
            self.pending = None  # nothing copied yet: read them again one by one
            return self.drain(out.append, limit)
        for start, length, stride, count in runs:
            first = base + start
            if count == 1:  # most runs of a stream of mixed lengths
                out.append(area[first:first + length] if event_type is None else event_type.from_buffer_copy(area, first))
            elif event_type is not None:
                out.extend(map(event_type.from_buffer_copy, repeat(area, count), range(first, first + count * stride, stride)))
            elif count < SHORT_RUN:
                out.extend([area[o:o + length] for o in range(first, first + count * stride, stride)])
            else:  # one copy of a piece of the run, the records sliced out of it at C speed
                for piece, records, slices in self.slices.pieces(first, length, stride, count):
                    out.extend(map(slice_bytes, repeat(area[piece:piece + records * stride], records), slices))
        return n

    def drain(self, sink: Callable[[Any], Any], limit: int) -> int:
        """Hand up to ``limit`` records to ``sink``; returns how many. The consumer position is
        published after every record so the producer can reuse space while we work, and before
        an exception from ``sink`` propagates (that record counts as consumed, as in libbpf)."""
        self.release_batch()
        consumer_pos, producer_pos, headers = self.consumer_pos, self.producer_pos, self.headers
        area, base, mask, event_type = self.producer_area, self.data_start, self.mask, self.event_type
        cons = consumer_pos[0]
        prod = producer_pos[0]
        n = 0
        while n < limit:
            if cons >= prod:
                prod = producer_pos[0]
                if cons >= prod:
                    break
            offset = cons & mask
            header = headers[offset >> 2]
            if header & BUSY_BIT:
                break
            length = header & LENGTH_MASK
            cons += (length + HEADER_SIZE + 7) & ~7
            if header & DISCARD_BIT:
                consumer_pos[0] = cons
                continue
            start = base + offset + HEADER_SIZE
            record: object
            if event_type is None:
                record = area[start:start + length]
            elif length >= self.event_size:
                record = event_type.from_buffer_copy(area, start)
            else:
                consumer_pos[0] = cons  # consumed: the next read goes on with the next record
                raise BpfRuntimeError(
                    f"ring buffer '{self.map.name}': a record of {length} bytes is shorter than its event "
                    f"type {event_type.__name__} ({self.event_size} bytes); the program submits another type")
            consumer_pos[0] = cons
            n += 1
            sink(record)
        return n

    def close(self) -> None:
        for name in ("consumer_pos", "producer_pos", "headers", "data"):
            view = getattr(self, name, None)
            if view is not None:
                view.release()
        for name in ("consumer_page", "producer_area"):
            area = getattr(self, name, None)
            if area is not None:
                try:
                    area.close()
                except BufferError:
                    pass  # a batch's views outlive the ring: unmapped when the last one goes


def _run_length(headers: memoryview, index: int, words: int, count: int, most: int) -> int:
    """How many records (at most ``most``) from the one whose header is word ``index`` have its
    header, laid every ``words`` words, when the first ``count`` are known to: the rest are
    checked together, a strided view of the header words compared at C speed, in chunks growing
    4x from 64."""
    header = headers[index]
    chunk = min(most - count, 64)
    while chunk > 0:
        start = index + count * words
        seen = headers[start:start + chunk * words:words].tolist()
        if seen.count(header) == chunk:
            count += chunk
            chunk = min(most - count, chunk * 4)
            continue
        for word in seen:  # the run ends inside this chunk
            if word != header:
                break
            count += 1
        break
    return count


def _unconsume(rings: List[_Ring]) -> None:
    """Forget the consumer positions scanned but not yet published, so the next read sees those
    records again: for a batch or copies that an exception keeps from the caller."""
    for ring in rings:
        ring.pending = None


class RingBuffer(AsyncEvents):
    """Events from one or more ring buffer maps.

    >>> rb = RingBuffer(skel.maps.events, event_type=Event)
    >>> for event in rb.read(timeout=1.0): ...            # batch: a list per call
    >>> rb = RingBuffer(skel.maps.events, callback=print); rb.poll(100)   # callbacks

    ``event_type`` (a ctypes Structure) makes records typed copies; without it the map's own
    ``event_type`` applies (a skeleton sets it when the programs send one struct: see
    bpf_build/event_types.py), else records are bytes of the length the program submitted;
    ``event_type=bytes`` asks for bytes whatever the map says."""

    def __init__(self, ring_map: Optional[Map[Any, Any]] = None, callback: Optional[Callback] = None,
                 event_type: Any = None):
        self._closed = False
        self._epoll = select.epoll()
        self._rings: List[_Ring] = []
        self._by_fd: Dict[int, _Ring] = {}
        if ring_map is not None:
            self.add(ring_map, callback, event_type)

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError("ring buffer is closed")

    def add(self, ring_map: Map[Any, Any], callback: Optional[Callback] = None, event_type: Any = None) -> None:
        self._require_open()
        ring = _Ring(ring_map, callback, event_type)
        try:
            self._epoll.register(ring_map.fileno(), select.EPOLLIN)
        except OSError as e:
            ring.close()
            raise BpfSyscallError(f"epoll on ring buffer '{ring_map.name}'", os_errno(e)) from None
        self._rings.append(ring)
        self._by_fd[ring_map.fileno()] = ring

    @property
    def dropped(self) -> Optional[int]:
        """Records the programs could not reserve, summed over the rings, when their objects keep
        the count by the convention in the module docstring (a ``<ring>_drops`` map); None when
        no ring has one. The kernel itself counts nothing."""
        self._require_open()
        counters = [r.map.drop_counter for r in self._rings if r.map.drop_counter is not None]
        if not counters:
            return None
        return sum(_count(counter) for counter in counters)

    def fileno(self) -> int:
        """An epoll fd that is readable when any ring has data (for an outer event loop)."""
        self._require_open()
        return self._epoll.fileno()

    def _has_data(self) -> bool:
        self._require_open()
        self.release()  # waiting (wait_async) ends the last batch, as wait() does
        return any(r.available() for r in self._rings)

    def _wait(self, timeout: Optional[float]) -> List[_Ring]:
        self._require_open()
        self.release()
        if any(r.available() for r in self._rings):
            return self._rings
        events = self._epoll.poll(-1 if timeout is None else timeout)
        return [self._by_fd[fd] for fd, _ in events]

    def consume(self, limit: int = 1 << 62) -> int:
        """Deliver what is there now to the callbacks, without waiting; returns the count."""
        return self._deliver(self._rings, limit)

    def poll(self, timeout: Optional[float] = None, limit: int = 1 << 62) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for data, then deliver to the callbacks."""
        self._require_callbacks()
        return self._deliver(self._wait(timeout), limit)

    def _deliver(self, rings: List[_Ring], limit: int) -> int:
        self._require_open()
        self._require_callbacks()
        total = 0
        for ring in rings:
            if ring.callback is not None:  # always: _require_callbacks saw to that
                total += ring.drain(ring.callback, limit - total)
        return total

    def _require_callbacks(self) -> None:
        for ring in self._rings:
            if ring.callback is None:
                raise BpfRuntimeError(f"ring buffer '{ring.map.name}' has no callback; use read() for batches")

    def read(self, timeout: Optional[float] = 0, limit: int = 1 << 62) -> List[Any]:
        """Batch API: wait up to ``timeout`` seconds (0: don't wait) and return the records that
        are ready, in order per ring."""
        self._require_open()
        out: List[Any] = []
        copied: List[_Ring] = []
        try:
            for ring in (self._rings if timeout == 0 else self._wait(timeout)):
                ring.release_batch()
                copied.append(ring)
                ring.copy_out(out, limit - len(out))
        except BaseException:
            _unconsume(copied)  # KeyboardInterrupt, a short record: ``out`` never reaches the caller
            raise
        for ring in copied:
            ring.release_batch()
        return out

    def consume_batch(self, limit: int = 1 << 62) -> RecordBatch:
        """Zero-copy batch: the records ready now (no waiting), as read-only memoryviews over the
        mapped rings, discarded records skipped. The views are valid until the next read from
        this RingBuffer or ``release()``; only then does the consumer position move past them,
        once per batch, so the kernel can reuse the space. Wait for more with ``wait()`` (the
        epoll fd from ``fileno()`` stays readable while a batch is unreleased)."""
        self._require_open()
        batch = RecordBatch()
        scanned: List[_Ring] = []
        try:
            for ring in self._rings:
                ring.release_batch()
                if len(batch) >= limit:
                    continue
                scanned.append(ring)
                runs: List[Run] = []
                count = ring.batch(runs, limit - len(batch))
                if count:
                    batch._add(RingRecords(ring.data, ring.event_type, runs, ring.slices), count)
        except BaseException:
            _unconsume(scanned)  # KeyboardInterrupt: the batch never reaches the caller
            raise
        return batch

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) until a ring has data; releases the
        last batch first (its views become invalid). True when there is data."""
        return bool(self._wait(timeout))

    def release(self) -> None:
        """Let the kernel reuse the space of the last ``consume_batch()`` (its views become
        invalid). Every reading call does this first."""
        for ring in self._rings:
            ring.release_batch()

    def __iter__(self) -> Iterator[Any]:
        """Records forever, waiting as needed."""
        while True:
            yield from self.read(timeout=None)

    def close(self) -> None:
        """Release the last batch (its records are consumed) and unmap the rings."""
        if not self._closed:
            self.release()
        self._closed = True
        for ring in self._rings:
            ring.close()
        self._rings.clear()
        self._by_fd.clear()
        self._epoll.close()

    def __enter__(self) -> "RingBuffer":
        return self

    def __exit__(self, exc_type: Optional[type], *exc: object) -> None:
        if exc_type is not None:
            # Ctrl-C or an error while the last batch was being handled: leave its records in
            # the ring for the next reader rather than lose the ones not yet handled.
            _unconsume(self._rings)
        self.close()
