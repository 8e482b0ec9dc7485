"""The records of one ``RingBuffer.consume_batch()``: read-only memoryviews over the mapped ring,
made as they are read (see ringbuf.py for the ring itself and the batch's lifetime rule).

A batch is kept as runs of equal-length records (first data offset, length, stride, count), so
it holds no object per record. Handing out a view per record is then the cost that remains, and
it is paid at C speed: a long run is cut into pieces of ``PIECE`` records, each piece a
sub-view that ``operator.getitem`` maps over slice objects made once per record length (the
offsets within a piece are the same for every run of that length), so iterating runs no Python
bytecode per record and builds no slice or int per record. A stream of mixed lengths makes
short runs, mostly of one record; their views are made a few hundred at a time in one loop.
"""

from __future__ import annotations

import ctypes
from bisect import bisect_right
from itertools import chain, repeat
from operator import getitem
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

from .errors import BpfRuntimeError

if TYPE_CHECKING:
    from .syscall import CType

HEADER_SIZE = 8  # each record's header: a u32 length with the BUSY/DISCARD bits, a u32 for the kernel
Run = Tuple[int, int, int, int]  # records of one length: first data offset, length, stride, count

PIECE = 512  # records per sub-view of a long run
SHORT_RUN = 16  # runs shorter than this are sliced directly: no piece, no cached slices
KEPT_LENGTHS = 16  # record lengths whose slices are kept (a stream of varying lengths stays bounded)

# operator.getitem, typed for views and for bytes: a C function map() calls directly
# (memoryview.__getitem__ goes through a slot wrapper and is a third slower per record).
slice_view = cast(Callable[[memoryview, slice], memoryview], getitem)
slice_bytes = cast(Callable[[bytes, slice], bytes], getitem)


class RecordSlices:
    """Per record length, the slices of the first ``PIECE`` records of a run relative to the
    run's first record: ``slice(i * stride, i * stride + length)``. One per ring, kept across
    batches; the oldest length is forgotten past ``KEPT_LENGTHS``."""

    def __init__(self) -> None:
        self._by_length: Dict[int, List[slice]] = {}

    def of(self, length: int, stride: int) -> List[slice]:
        slices = self._by_length.get(length)
        if slices is None:
            if len(self._by_length) >= KEPT_LENGTHS:
                del self._by_length[next(iter(self._by_length))]
            slices = [slice(offset, offset + length) for offset in range(0, PIECE * stride, stride)]
            self._by_length[length] = slices
        return slices

    def pieces(self, start: int, length: int, stride: int, count: int) -> Iterator[Tuple[int, int, List[slice]]]:
        """A run cut into pieces: (offset of the piece's first record, its records, their
        slices relative to that offset)."""
        slices = self.of(length, stride)
        end = start + count * stride
        for first in range(start, end, PIECE * stride):
            n = min(PIECE, (end - first) // stride)
            yield first, n, slices if n == PIECE else slices[:n]


class RingRecords:
    """One ring's part of a batch: its data area (mapped twice over), its event type, its runs."""

    __slots__ = ("data", "event_type", "runs", "slices")

    def __init__(self, data: memoryview, event_type: Optional[CType], runs: List[Run], slices: RecordSlices):
        self.data = data
        self.event_type = event_type
        self.runs = runs
        self.slices = slices

    def _spans(self) -> Iterator[Union[Run, List[memoryview]]]:
        """The runs in order: a long run as itself, the records of consecutive short runs (most
        runs, in a stream of mixed lengths) gathered as their views, about ``PIECE`` at a time."""
        data = self.data
        short: List[memoryview] = []
        for run in self.runs:
            start, length, stride, count = run
            if count >= SHORT_RUN:
                if short:
                    yield short
                    short = []
                yield run
                continue
            if count == 1:
                short.append(data[start:start + length])
            else:
                short += [data[offset:offset + length] for offset in range(start, start + count * stride, stride)]
            if len(short) >= PIECE:
                yield short
                short = []
        if short:
            yield short

    def views(self) -> Iterator[Iterable[memoryview]]:
        """The records' views, as iterables of up to about ``PIECE`` each (made as each is
        reached)."""
        data, pieces = self.data, self.slices.pieces
        for span in self._spans():
            if isinstance(span, list):
                yield span
                continue
            stride = span[2]
            for first, n, slices in pieces(*span):
                yield map(slice_view, repeat(data[first:first + n * stride], n), slices)

    def copies(self) -> Iterator[Iterable[Any]]:
        """The records as copies, of the event type (or bytes), as iterables like ``views``';
        a record too short for the event type raises when reached."""
        event_type = self.event_type
        if event_type is None:
            yield map(bytes, chain.from_iterable(self.views()))
            return
        data, size, copy = self.data, ctypes.sizeof(event_type), event_type.from_buffer_copy
        for span in self._spans():
            if not isinstance(span, list):
                start, length, stride, count = span
                _check_length(event_type, length)
                yield map(copy, repeat(data, count), range(start, start + count * stride, stride))
            elif min(map(len, span)) >= size:
                yield map(copy, span)
            else:
                lengths = [len(view) for view in span]
                first_short = next(i for i, length in enumerate(lengths) if length < size)
                yield map(copy, span[:first_short])
                _check_length(event_type, lengths[first_short])


class RecordBatch:
    """The records of one ``RingBuffer.consume_batch()``, in order per ring: iterating gives a
    read-only memoryview per record over the mapped ring, ``events()`` each record as its ring's
    event type (a copy); both made as the iteration reaches them (short runs' views at most
    ``PIECE`` ahead). Valid until the next reading call on the same RingBuffer (see ringbuf.py's
    docstring)."""

    def __init__(self) -> None:
        self._rings: List[RingRecords] = []
        self._count = 0
        self._ends: List[int] = []  # for indexing, made when first indexed: records up to each run's end
        self._located: List[Tuple[RingRecords, Run]] = []

    def _add(self, records: RingRecords, count: int) -> None:
        self._rings.append(records)
        self._count += count
        self._ends.clear()
        self._located.clear()

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[memoryview]:
        return chain.from_iterable(chain.from_iterable(ring.views() for ring in self._rings))

    def runs(self) -> Iterator[Tuple[memoryview, int, int]]:
        """The batch with no object per record: ``(slots, length, stride)`` per run of records of
        one length, ``slots`` a read-only memoryview of ``len(slots) // stride`` slots of
        ``stride`` bytes, each the record's 8-byte ring header, its ``length`` bytes, padding to
        8. For array code: ``slots.cast("Q")[1::stride // 8]`` is every record's first u64,
        ``numpy.frombuffer(slots, dtype)`` with an 8-byte header field in the dtype a record
        array. Same lifetime as the views."""
        for ring in self._rings:
            for start, length, stride, count in ring.runs:
                first = start - HEADER_SIZE
                yield ring.data[first:first + count * stride], length, stride

    def __getitem__(self, index: int) -> memoryview:
        data, _, start, length = self._locate(index)
        return data[start:start + length]

    def _locate(self, index: int) -> Tuple[memoryview, Optional[CType], int, int]:
        """Record ``index``'s data area, event type, offset and length: a binary search over the
        runs' ends (a stream of mixed lengths makes many short runs)."""
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("record batch index out of range")
        if not self._ends:
            total = 0
            for ring in self._rings:
                for run in ring.runs:
                    total += run[3]
                    self._ends.append(total)
                    self._located.append((ring, run))
        at = bisect_right(self._ends, index)
        ring, (start, length, stride, count) = self._located[at]
        within = index - (self._ends[at] - count)
        return ring.data, ring.event_type, start + within * stride, length

    def event(self, index: int) -> Any:
        """Record ``index`` as its ring's event type (a copy), or bytes for an untyped ring."""
        data, event_type, start, length = self._locate(index)
        if event_type is None:
            return bytes(data[start:start + length])
        _check_length(event_type, length)
        return event_type.from_buffer_copy(data, start)

    def events(self) -> Iterator[Any]:
        """Every record as its ring's event type (copies made as the iteration reaches them;
        bytes for an untyped ring)."""
        return chain.from_iterable(chain.from_iterable(ring.copies() for ring in self._rings))


def _check_length(event_type: CType, length: int) -> None:
    if length < ctypes.sizeof(event_type):
        raise BpfRuntimeError(
            f"a ring buffer record of {length} bytes is shorter than its event type "
            f"{event_type.__name__} ({ctypes.sizeof(event_type)} bytes); the program submits another type")
