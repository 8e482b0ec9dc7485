"""Consumer for BPF_MAP_TYPE_PERF_EVENT_ARRAY output (bpf_perf_event_output): one perf ring per
CPU, opened as a PERF_COUNT_SW_BPF_OUTPUT event, stored in the map at the CPU's index, mmapped and
watched with epoll.

Each ring is a metadata page (data_head written by the kernel, data_tail by us) followed by
2^n data pages. Records are perf_event_header {u32 type; u16 misc; u16 size} + body and may wrap
around the end of the data area, so a wrapped record is copied out in two pieces.
"""

from __future__ import annotations

import ctypes
import mmap
import select
import struct
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from . import perf
from .aio import AsyncEvents
from .cpus import online_cpus
from .errors import BpfRuntimeError, BpfSyscallError, ClosedError, os_errno
from .fd import Fd
from .ringbuf import record_type
from .uapi import MapType

if TYPE_CHECKING:
    from .maps import Map

_HEADER = struct.Struct("=IHH")
_SAMPLE_SIZE = struct.Struct("=I")
_LOST = struct.Struct("=QQ")


class _CpuRing:
    def __init__(self, cpu: int, pages: int):
        self.cpu = cpu
        attr = perf.PerfEventAttr(type=perf.PERF_TYPE_SOFTWARE, config=perf.PERF_COUNT_SW_BPF_OUTPUT,
                                  sample_type=perf.PERF_SAMPLE_RAW, sample_period=1, wakeup_events=1)
        self.fd: Fd = perf.perf_event_open(attr, pid=-1, cpu=cpu, what=f"open perf buffer on cpu {cpu}")
        page = mmap.PAGESIZE
        self.size = pages * page
        try:
            self.area = mmap.mmap(self.fd.fileno(), page + self.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            self.fd.close()
            raise BpfSyscallError(f"mmap perf buffer on cpu {cpu}", os_errno(e)) from None
        self.data_start = page
        self.head = memoryview(self.area)[perf.MMAP_PAGE_DATA_HEAD:perf.MMAP_PAGE_DATA_HEAD + 8].cast("Q")
        self.tail = memoryview(self.area)[perf.MMAP_PAGE_DATA_TAIL:perf.MMAP_PAGE_DATA_TAIL + 8].cast("Q")

    def _read(self, pos: int, length: int) -> bytes:
        offset = pos % self.size
        start = self.data_start + offset
        if offset + length <= self.size:
            return self.area[start:start + length]
        first = self.size - offset
        return self.area[start:start + first] + self.area[self.data_start:self.data_start + length - first]

    def drain(self, on_sample: Callable[[int, bytes], Any], on_lost: Optional[Callable[[int, int], Any]]) -> int:
        head = self.head[0]
        tail = self.tail[0]
        n = 0
        try:
            while tail < head:
                kind, _misc, size = _HEADER.unpack(self._read(tail, _HEADER.size))
                body = self._read(tail + _HEADER.size, size - _HEADER.size)
                tail += size
                if kind == perf.PERF_RECORD_SAMPLE:
                    (raw_size,) = _SAMPLE_SIZE.unpack_from(body)
                    n += 1
                    on_sample(self.cpu, body[4:4 + raw_size])
                elif kind == perf.PERF_RECORD_LOST and on_lost is not None:
                    on_lost(self.cpu, _LOST.unpack_from(body)[1])
        finally:
            self.tail[0] = tail
        return n

    def close(self) -> None:
        for view in (getattr(self, "head", None), getattr(self, "tail", None)):
            if view is not None:
                view.release()
        if getattr(self, "area", None) is not None:
            self.area.close()
        self.fd.close()


class PerfBuffer(AsyncEvents):
    """Samples from a perf event array map, from every online CPU.

    ``callback(cpu, data)`` gets each sample (bytes, or an ``event_type`` ctypes copy, by default
    the map's as for RingBuffer; the kernel pads raw samples to 8 bytes, so bytes may be longer
    than what the program sent);
    ``lost_callback(cpu, count)`` hears about samples dropped because the ring was full."""

    def __init__(self, events_map: Map[int, Any], callback: Optional[Callable[[int, Any], Any]] = None, *,
                 event_type: Any = None, lost_callback: Optional[Callable[[int, int], Any]] = None,
                 pages: int = 8):
        if events_map.type != MapType.PERF_EVENT_ARRAY:
            raise BpfRuntimeError(f"map '{events_map.name}' is not a perf event array ({events_map.type})")
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"perf buffer pages must be a power of two, not {pages}")
        self.map = events_map
        self.callback = callback
        self.lost_callback = lost_callback
        self.event_type = record_type(events_map, event_type)
        self._closed = False
        self._epoll = select.epoll()
        self._rings: List[_CpuRing] = []
        self._by_fd: Dict[int, _CpuRing] = {}
        try:
            for cpu in online_cpus():
                if cpu >= events_map.max_entries:
                    break
                ring = _CpuRing(cpu, pages)
                self._rings.append(ring)
                events_map[cpu] = ring.fd
                perf.ioctl(ring.fd, perf.PERF_EVENT_IOC_ENABLE, 0, f"enable perf buffer on cpu {cpu}")
                self._epoll.register(ring.fd.fileno(), select.EPOLLIN)
                self._by_fd[ring.fd.fileno()] = ring
        except BaseException:
            self.close()
            raise

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError(f"perf buffer of map '{self.map.name}' is closed")

    def fileno(self) -> int:
        self._require_open()
        return self._epoll.fileno()

    def _has_data(self) -> bool:
        self._require_open()
        return any(ring.head[0] != ring.tail[0] for ring in self._rings)

    def _decode(self, data: bytes) -> Any:
        if self.event_type is None:
            return data
        if len(data) < ctypes.sizeof(self.event_type):
            raise BpfRuntimeError(f"perf sample of {len(data)} bytes is shorter than "
                                  f"{self.event_type.__name__} ({ctypes.sizeof(self.event_type)} bytes)")
        return self.event_type.from_buffer_copy(data)

    def _drain(self, rings: List[_CpuRing], sink: Callable[[int, Any], Any]) -> int:
        self._require_open()
        decode = self._decode
        return sum(ring.drain(lambda cpu, data: sink(cpu, decode(data)), self.lost_callback) for ring in rings)

    def poll(self, timeout: Optional[float] = None) -> int:
        """Wait up to ``timeout`` seconds for samples and deliver them to ``callback``."""
        if self.callback is None:
            raise BpfRuntimeError("perf buffer has no callback; use read() for batches")
        self._require_open()
        ready = [self._by_fd[fd] for fd, _ in self._epoll.poll(-1 if timeout is None else timeout)]
        return self._drain(ready, self.callback)

    def consume(self) -> int:
        if self.callback is None:
            raise BpfRuntimeError("perf buffer has no callback; use read() for batches")
        return self._drain(self._rings, self.callback)

    def read(self, timeout: Optional[float] = 0) -> List[Any]:
        """Batch API: (cpu, sample) pairs ready now, after waiting up to ``timeout`` seconds."""
        self._require_open()
        if timeout != 0:
            self._epoll.poll(-1 if timeout is None else timeout)
        out: List[Any] = []
        self._drain(self._rings, lambda cpu, sample: out.append((cpu, sample)))
        return out

    def close(self) -> None:
        self._closed = True
        for ring in self._rings:
            if not self.map.closed:
                self.map.delete(ring.cpu)
            ring.close()
        self._rings.clear()
        self._by_fd.clear()
        self._epoll.close()

    def __enter__(self) -> "PerfBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
