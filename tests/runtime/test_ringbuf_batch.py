"""RingBuffer.consume_batch(): zero-copy views over the mapped ring. A SEC("syscall") program run
with BPF_PROG_TEST_RUN submits records with known contents (the sequence number and a value
derived from it; every fourth record is 8 bytes longer, some are reserved then discarded), so
each test knows exactly what the batch must hold, where the ring wraps, and when the kernel
must refuse a reservation because the consumer position has not moved."""

from __future__ import annotations

import ctypes
import mmap

import pytest

from bpf_build.runtime import BpfRuntimeError, Map, MapType, ProgType
from bpf_build.runtime.ringbuf import RingBuffer
from tests.runtime import rt_support

RING_SIZE = 4096
SLEEPABLE = 1 << 4  # BPF_F_SLEEPABLE: syscall programs must be

PRODUCER_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");

/* n records with sequence numbers first, first+1, ...; seq % discard_every == 0 are reserved
   then discarded (0: none); with mixed 1, seq % 4 == 3 records carry a third u64, with 2 all do. */
struct args { __u32 n; __u32 first; __u32 discard_every; __u32 mixed; __u32 drops; };
struct short_rec { __u64 seq; __u64 value; };
struct long_rec { __u64 seq; __u64 value; __u64 extra; };

SEC("syscall")
int produce(struct args *a)
{
    __u32 i;

    for (i = 0; i < 512 && i < a->n; i++) {
        __u64 seq = a->first + i;
        int discard = a->discard_every && seq % a->discard_every == 0;

        if (a->mixed == 2 || (a->mixed && seq % 4 == 3)) {
            struct long_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
            if (!r) { a->drops++; continue; }
            r->seq = seq; r->value = seq * 7 + 1; r->extra = ~seq;
            if (discard) bpf_ringbuf_discard(r, 0); else bpf_ringbuf_submit(r, 0);
        } else {
            struct short_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
            if (!r) { a->drops++; continue; }
            r->seq = seq; r->value = seq * 7 + 1;
            if (discard) bpf_ringbuf_discard(r, 0); else bpf_ringbuf_submit(r, 0);
        }
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


class Args(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint32), ("first", ctypes.c_uint32), ("discard_every", ctypes.c_uint32),
                ("mixed", ctypes.c_uint32), ("drops", ctypes.c_uint32)]


class Event(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("value", ctypes.c_uint64)]


ALL_LONG = 2  # the producer's ``mixed`` for records that all carry the third u64


def length_of(seq: int, mixed: int) -> int:
    return 24 if mixed == ALL_LONG or (mixed and seq % 4 == 3) else 16


def footprint(seq: int, mixed: int) -> int:
    """Bytes a record takes in the ring: an 8-byte header, the data rounded up to 8."""
    return 8 + (length_of(seq, mixed) + 7) // 8 * 8


@pytest.fixture
def ring(request):
    size = getattr(request, "param", RING_SIZE)  # parametrize(..., indirect=True) for another size
    with Map.create(MapType.RINGBUF, 0, 0, size, name="events") as events:
        yield events


@pytest.fixture
def produce(compile_c, ring):
    obj = compile_c(PRODUCER_C, name="ringbatch", cflags=("-mcpu=v3",))
    with rt_support.load_compiled(obj, "produce", ProgType.SYSCALL, {"events": ring}, flags=SLEEPABLE) as prog:
        def run(n: int, first: int, discard_every: int = 0, mixed: int = True) -> int:
            """Submit the records; returns how many reservations failed (the ring was full)."""
            args = Args(n, first, discard_every, int(mixed), 0)
            prog.test_run(ctx=args)
            return args.drops

        yield run


@pytest.fixture
def kernel_consumer_pos(ring):
    """The consumer position as the kernel sees it: page 0 of the map, mapped on its own."""
    page = mmap.mmap(ring.fileno(), mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ)
    yield lambda: int.from_bytes(page[:8], "little")
    page.close()


def check_records(batch, seqs, mixed=True):
    check_lengths(batch, [(seq, length_of(seq, mixed)) for seq in seqs])


def check_lengths(batch, records):
    """The batch holds exactly ``records``, (seq, length) pairs, by every way of reading it."""
    seqs = [seq for seq, _ in records]
    assert len(batch) == len(seqs)
    views = list(batch)
    assert [len(v) for v in views] == [length for _, length in records]
    assert all(v.readonly for v in views)
    for view, (seq, length) in zip(views, records):
        expected = seq.to_bytes(8, "little") + (seq * 7 + 1).to_bytes(8, "little")
        if length == 24:
            expected += (~seq & (1 << 64) - 1).to_bytes(8, "little")
        assert bytes(view) == expected, seq
    assert [(e.seq, e.value) for e in batch.events()] == [(s, s * 7 + 1) for s in seqs]
    from_runs = []
    for slots, length, stride in batch.runs():
        assert len(slots) % stride == 0
        from_runs += [bytes(slots[o + 8:o + 8 + length]) for o in range(0, len(slots), stride)]
    assert from_runs == [bytes(v) for v in views]
    if seqs:
        assert bytes(batch[-1]) == bytes(views[-1]) and batch.event(0).seq == seqs[0]


def test_batches_hold_exactly_the_submitted_records_across_wraparound(ring, produce, kernel_consumer_pos):
    consumed = 0
    crossed = 0
    with RingBuffer(ring, event_type=Event) as rb:
        # 60 records take ~1560 bytes: a round fits next to the previous, still unreleased, batch.
        for round_ in range(12):
            first = round_ * 60
            assert produce(60, first, discard_every=5) == 0
            batch = rb.consume_batch()
            submitted = [s for s in range(first, first + 60) if s % 5]
            check_records(batch, submitted)
            assert kernel_consumer_pos() == consumed, "published only once the caller is done"
            start = consumed
            consumed += sum(footprint(s, True) for s in range(first, first + 60))  # discarded too
            crossed += (start % RING_SIZE) + (consumed - start) > RING_SIZE
        rb.release()
        assert kernel_consumer_pos() == consumed
        assert rb.consume_batch().__len__() == 0
    assert crossed >= 4, "batches must have spanned the end of the ring"


def test_views_stay_until_released_and_the_kernel_then_reuses_the_space(ring, produce, kernel_consumer_pos):
    with RingBuffer(ring, event_type=Event) as rb:
        assert produce(150, 0, mixed=False) == 0  # 150 x 24 bytes: 3600 of 4096
        batch = rb.consume_batch()
        check_records(batch, list(range(150)), mixed=False)
        # Not released: the kernel still counts those bytes as unread, so only 20 more fit.
        fits = (RING_SIZE - 1 - 150 * 24) // 24
        assert produce(100, 1000, mixed=False) == 100 - fits
        check_records(batch, list(range(150)), mixed=False)  # nothing of the batch was overwritten
        assert kernel_consumer_pos() == 0
        second = rb.consume_batch()  # releases the first batch
        assert kernel_consumer_pos() == 150 * 24
        check_records(second, list(range(1000, 1000 + fits)), mixed=False)
        rb.release()
        assert produce(150, 2000, mixed=False) == 0, "released space is reused"
        check_records(rb.consume_batch(), list(range(2000, 2150)), mixed=False)


def test_limit_and_the_other_readers_release_the_batch(ring, produce):
    with RingBuffer(ring, event_type=Event) as rb:
        produce(30, 0)
        head = rb.consume_batch(limit=10)
        check_records(head, list(range(10)))
        rest = rb.read()  # a reading call releases the batch first: no record twice
        assert [e.seq for e in rest] == list(range(10, 30))
        assert len(rb.consume_batch()) == 0


@pytest.mark.parametrize("ring", [1 << 17], indirect=True)
def test_long_runs_and_runs_of_one_in_one_batch(ring, produce):
    """Runs longer than the 512 records a view piece covers, broken by discards, then a stretch
    of mixed lengths (runs of three and of one) longer than a gathered piece, then a long run
    again: every record once, in order, by iteration, index, copies and runs."""
    records = []
    with RingBuffer(ring, event_type=Event) as rb:
        for first, mixed in ((0, False), (512, False), (1024, True), (1536, True), (2048, ALL_LONG), (2560, False)):
            assert produce(512, first, discard_every=700, mixed=mixed) == 0
            records += [(s, length_of(s, mixed)) for s in range(first, first + 512) if s % 700]
        batch = rb.consume_batch()
        check_lengths(batch, records)
        views = [bytes(v) for v in batch]
        assert [bytes(batch[i]) for i in range(len(batch))] == views
        assert [bytes(batch[i]) for i in range(-1, -len(batch) - 1, -1)] == views[::-1]
        assert [batch.event(i).seq for i in range(0, len(batch), 97)] == [s for s, _ in records[::97]]
        for index in (len(batch), -len(batch) - 1):
            with pytest.raises(IndexError):
                batch[index]


class LongEvent(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("value", ctypes.c_uint64), ("extra", ctypes.c_uint64)]


def test_events_refuse_a_record_shorter_than_the_type_when_reached(ring, produce):
    with RingBuffer(ring, event_type=LongEvent) as rb:
        produce(8, 3)  # seq 3 carries the third u64, seq 4 does not
        events = rb.consume_batch().events()
        assert next(events).extra == ~3 & (1 << 64) - 1
        with pytest.raises(BpfRuntimeError, match=r"record of 16 bytes is shorter than its event type LongEvent"):
            next(events)
        produce(20, 100, mixed=ALL_LONG)  # a long run of fitting records, then a long run of short ones
        produce(20, 200, mixed=False)
        events = rb.consume_batch().events()
        assert [next(events).seq for _ in range(20)] == list(range(100, 120))
        with pytest.raises(BpfRuntimeError, match="record of 16 bytes"):
            next(events)


class InterruptedEvent(Event):
    """Raises KeyboardInterrupt from the copy numbered ``at`` (Ctrl-C in the middle of a read)."""
    at = None
    copies = 0

    @classmethod
    def from_buffer_copy(cls, source, offset=0):
        cls.copies += 1
        if cls.copies == cls.at:
            raise KeyboardInterrupt
        return Event.from_buffer_copy(source, offset)


@pytest.mark.parametrize("mixed", [False, True])
def test_an_interrupted_read_loses_no_record(ring, produce, kernel_consumer_pos, mixed):
    with RingBuffer(ring, event_type=InterruptedEvent) as rb:
        produce(30, 0, mixed=mixed)
        InterruptedEvent.copies, InterruptedEvent.at = 0, 12
        with pytest.raises(KeyboardInterrupt):
            rb.read()
        assert kernel_consumer_pos() == 0
        InterruptedEvent.at = None
        assert [e.seq for e in rb.read()] == list(range(30))
        assert kernel_consumer_pos() == sum(footprint(s, mixed) for s in range(30))


def test_leaving_by_an_exception_keeps_the_unreleased_batch(ring, produce, kernel_consumer_pos):
    with pytest.raises(KeyboardInterrupt):
        with RingBuffer(ring, event_type=Event) as rb:
            produce(10, 0)
            assert len(rb.consume_batch()) == 10
            raise KeyboardInterrupt  # Ctrl-C while the batch is being handled
    assert kernel_consumer_pos() == 0, "its records stay for the next reader"
    with RingBuffer(ring, event_type=Event) as rb:
        check_records(rb.consume_batch(), list(range(10)))
    assert kernel_consumer_pos() == sum(footprint(s, True) for s in range(10)), "close() releases the batch"


@pytest.mark.parametrize("ring", [1 << 15], indirect=True)
def test_a_limit_inside_a_long_run(ring, produce, kernel_consumer_pos):
    with RingBuffer(ring, event_type=Event) as rb:
        assert produce(512, 0, mixed=False) == 0  # one run of 512 equal records
        seqs = []
        for limit in (5, 300, 1000):  # inside the first headers compared one by one, inside a chunk, past the end
            batch = rb.consume_batch(limit=limit)
            check_records(batch, list(range(len(seqs), len(seqs) + min(limit, 512 - len(seqs)))), mixed=False)
            seqs += [e.seq for e in batch.events()]
        rb.release()
        assert seqs == list(range(512))
        assert kernel_consumer_pos() == 512 * 24
