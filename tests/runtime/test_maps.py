"""Maps through the runtime against the real kernel: every value read back was stored by a
syscall this test made (or by a program it ran)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from bpf_build.runtime import (BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST, BpfSyscallError, Map, MapType,
                               Program, ProgType, num_possible_cpus)
from bpf_build.runtime.cpus import parse_cpu_list

from tests.runtime import rt_support

u32, u64 = ctypes.c_uint32, ctypes.c_uint64


class Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_int32)]


def test_hash_map_behaves_like_a_dict():
    with Map.create(MapType.HASH, 4, 8, 64, name="h", key_type=u32, value_type=u64) as m:
        for k in range(10):
            m[k] = k * k
        assert len(m) == 10
        assert sorted(m.keys()) == list(range(10))
        assert dict(m.items()) == {k: k * k for k in range(10)}
        assert 3 in m and 42 not in m
        assert m.lookup(42, default="none") == "none"
        with pytest.raises(KeyError):
            m[42]
        del m[3]
        assert 3 not in m and m.delete(3) is False
        with pytest.raises(KeyError):
            del m[3]
        m.clear()
        assert len(m) == 0


def test_update_flags_map_to_errno():
    with Map.create(MapType.HASH, 4, 4, 4, key_type=u32, value_type=u32) as m:
        m.update(1, 10, BPF_NOEXIST)
        with pytest.raises(BpfSyscallError) as e:
            m.update(1, 11, BPF_NOEXIST)
        assert e.value.errno == errno.EEXIST
        with pytest.raises(BpfSyscallError) as e:
            m.update(2, 20, BPF_EXIST)
        assert e.value.errno == errno.ENOENT
        for k in range(4):
            m[k] = k
        with pytest.raises(BpfSyscallError) as e:  # full
            m[99] = 1
        assert e.value.errno == errno.E2BIG
        assert "map" in str(e.value) and "E2BIG" in str(e.value)


def test_struct_values_and_raw_bytes():
    with Map.create(MapType.HASH, 4, 8, 8, key_type=u32, value_type=Pair) as m:
        m[7] = Pair(5, -3)
        got = m[7]
        assert isinstance(got, Pair) and (got.a, got.b) == (5, -3)
        m[8] = bytes(Pair(1, 2))
        assert m[8].b == 2
        with pytest.raises(ValueError):
            m[9] = b"short"
    with Map.create(MapType.HASH, 4, 8, 8) as raw:  # untyped: bytes out, ints accepted in
        raw[1] = (0x0102030405060708).to_bytes(8, "little")
        assert raw[1] == bytes([8, 7, 6, 5, 4, 3, 2, 1])
        assert list(raw.keys()) == [(1).to_bytes(4, "little")]


def test_type_size_mismatch_is_refused():
    with pytest.raises(TypeError, match="4 bytes"):
        Map.create(MapType.HASH, 8, 8, 1, key_type=u32)


def test_array_has_every_slot():
    with Map.create(MapType.ARRAY, 4, 8, 5, key_type=u32, value_type=u64) as m:
        assert len(m) == 5
        assert list(m.values()) == [0] * 5
        m[4] = 99
        assert m[4] == 99
        with pytest.raises(KeyError):
            m[5]


def test_percpu_values_are_lists_one_per_possible_cpu():
    n = num_possible_cpus()
    assert n == len(parse_cpu_list(open("/sys/devices/system/cpu/possible").read()))
    with Map.create(MapType.PERCPU_HASH, 4, 4, 8, key_type=u32, value_type=u32) as h:
        h[1] = list(range(10, 10 + n))
        assert h[1] == list(range(10, 10 + n))
        with pytest.raises(ValueError, match="possible CPUs"):
            h[2] = [1]
    with Map.create(MapType.PERCPU_ARRAY, 4, 12, 2, key_type=u32) as a:  # 12-byte values pad to 16
        a[0] = [bytes(range(i, i + 12)) for i in range(n)]
        assert a[0] == [bytes(range(i, i + 12)) for i in range(n)]


def test_percpu_counter_written_by_a_program():
    with Map.create(MapType.PERCPU_ARRAY, 4, 8, 1, key_type=u32, value_type=u64) as counts, \
            Program.load(ProgType.SOCKET_FILTER, rt_support.counter(counts.fileno())) as prog:
        for _ in range(5):
            prog.test_run(b"\0" * 64)
        assert sum(counts[0]) == 5


def test_lru_hash_evicts():
    with Map.create(MapType.LRU_HASH, 4, 4, 64, key_type=u32, value_type=u32) as m:
        for k in range(1000):
            m[k] = k
        assert 0 < len(m) <= 64
        assert 999 in m  # the newest survives


def test_lpm_trie_longest_prefix_match():
    class Key(ctypes.Structure):
        _fields_ = [("prefixlen", ctypes.c_uint32), ("addr", ctypes.c_uint8 * 4)]

    def key(prefix, *octets):
        return Key(prefix, (ctypes.c_uint8 * 4)(*octets))

    with Map.create(MapType.LPM_TRIE, 8, 4, 16, flags=BPF_F_NO_PREALLOC, key_type=Key, value_type=u32) as m:
        m[key(8, 10, 0, 0, 0)] = 8
        m[key(24, 10, 1, 2, 0)] = 24
        assert m[key(32, 10, 1, 2, 3)] == 24
        assert m[key(32, 10, 9, 9, 9)] == 8
        assert m.lookup(key(32, 11, 0, 0, 0)) is None
        assert sorted(k.prefixlen for k in m.keys()) == [8, 24]


def test_queue_and_stack_order():
    with Map.create(MapType.QUEUE, 0, 4, 8, value_type=u32) as q:
        for v in (1, 2, 3):
            q.push(v)
        assert q.peek() == 1
        assert [q.pop(), q.pop(), q.pop()] == [1, 2, 3]
        with pytest.raises(IndexError):
            q.pop()
        with pytest.raises(TypeError):
            len(q)
    with Map.create(MapType.STACK, 0, 4, 8, value_type=u32) as s:
        for v in (1, 2, 3):
            s.push(v)
        assert [s.pop(), s.pop(), s.pop()] == [3, 2, 1]


def test_bloom_filter_membership():
    with Map.create(MapType.BLOOM_FILTER, 0, 4, 100, value_type=u32, map_extra=3) as b:
        b.push(42)
        assert 42 in b
        assert sum(v in b for v in range(1000, 1100)) < 20  # false positives stay rare


def test_batch_operations_round_trip():
    with Map.create(MapType.HASH, 4, 8, 4096, key_type=u32, value_type=u64) as m:
        m.update_batch([(k, k + 1) for k in range(3000)])
        assert len(m) == 3000
        got = m.lookup_batch(batch_size=64)
        assert sorted(got) == [(k, k + 1) for k in range(3000)]
        m.delete_batch(range(1000))
        assert len(m) == 2000
        taken = m.lookup_and_delete_batch()
        assert sorted(k for k, _ in taken) == list(range(1000, 3000))
        assert len(m) == 0
    with Map.create(MapType.PERCPU_ARRAY, 4, 8, 10, key_type=u32, value_type=u64) as a:
        n = num_possible_cpus()
        a.update_batch([(k, [k] * n) for k in range(10)])
        assert a.lookup_batch() == [(k, [k] * n) for k in range(10)]


def test_prog_array_stores_programs_and_reads_back_ids():
    with Map.create(MapType.PROG_ARRAY, 4, 4, 4, key_type=u32) as jt, \
            Program.load(ProgType.SOCKET_FILTER, rt_support.returns(7), name="seven") as seven:
        jt[2] = seven
        assert jt[2] == seven.id
        assert dict(jt.items()) == {2: seven.id}  # empty slots answer ENOENT and are skipped
        assert 1 not in jt
        del jt[2]
        assert 2 not in jt


@pytest.mark.parametrize("outer_type", [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS])
def test_map_of_maps(outer_type):
    with Map.create(MapType.ARRAY, 4, 4, 1, name="template") as template, \
            Map.create(outer_type, 4, 4, 4, inner_map=template, key_type=u32) as outer, \
            Map.create(MapType.ARRAY, 4, 4, 1, name="inner", key_type=u32, value_type=u32) as inner:
        inner[0] = 1234
        outer[1] = inner
        assert outer[1] == inner.id
        with outer.inner_map(1, key_type=u32, value_type=u32) as opened:
            assert opened.id == inner.id
            assert opened[0] == 1234
        assert outer.inner_map(3) is None  # an empty slot or missing key


def test_pin_and_open_from_bpffs(bpffs_dir):
    path = os.path.join(bpffs_dir, "counts")
    with Map.create(MapType.HASH, 4, 8, 4, name="pinned", key_type=u32, value_type=u64) as m:
        m[1] = 11
        m.pin(path)
        map_id = m.id
    with Map.from_pinned(path, key_type=u32, value_type=u64) as again:  # outlived its creator's fd
        assert again.id == map_id and again[1] == 11
        again[2] = 22
    with Map.from_id(map_id, key_type=u32, value_type=u64) as by_id:
        assert dict(by_id.items()) == {1: 11, 2: 22}
    os.unlink(path)
    with pytest.raises(BpfSyscallError) as e:
        Map.from_id(map_id)
    assert e.value.errno == errno.ENOENT


def test_mmapable_array_shares_memory_with_the_kernel():
    with Map.create(MapType.ARRAY, 4, 8, 4, flags=0x400, key_type=u32, value_type=u64) as m:
        mem = m.mmap()
        try:
            u64.from_buffer(mem, 8).value = 77  # write through the mapping...
            assert m[1] == 77                    # ...the syscall sees it
            m[2] = 5
            assert u64.from_buffer(mem, 16).value == 5
        finally:
            mem.close()
        m.freeze()
        with pytest.raises(BpfSyscallError) as e:
            m[0] = 1
        assert e.value.errno == errno.EPERM


def test_info_and_repr():
    with Map.create(MapType.HASH, 4, 8, 16, name="a_long_map_name_over_15") as m:
        assert m.type == MapType.HASH and (m.key_size, m.value_size, m.max_entries) == (4, 8, 16)
        assert m.name == "a_long_map_name_over_15"  # kept in full here; the kernel stores 15 bytes
        with Map.from_id(m.id) as again:
            assert again.name == "a_long_map_name"
        assert "HASH" in repr(m)
    assert "closed" in repr(m)
    with pytest.raises(ValueError):
        m.fileno()


def test_closing_releases_the_fd():
    m = Map.create(MapType.ARRAY, 4, 4, 1)
    fd = m.fileno()
    assert os.path.exists(f"/proc/self/fd/{fd}")
    m.close()
    m.close()  # a second close is a no-op
    assert not os.path.exists(f"/proc/self/fd/{fd}") or os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:bpf-map"


def test_kernel_internal_errno_is_named():
    with Map.create(MapType.PERF_EVENT_ARRAY, 4, 4, 1) as m:
        with pytest.raises(BpfSyscallError) as e:
            m.lookup(0)
    assert e.value.errno == 524 and "not supported" in str(e.value)


def test_fd_maps_iterate_their_filled_slots_and_refuse_values_the_kernel_keeps():
    with Map.create(MapType.PROG_ARRAY, 4, 4, 4, name="jumps", key_type=u32) as jumps, \
            Program.load(ProgType.SOCKET_FILTER, rt_support.returns(0), name="target") as target, \
            Map.create(MapType.CGROUP_ARRAY, 4, 4, 2, name="cgroups", key_type=u32) as cgroups:
        assert dict(jumps) == {} and list(jumps.keys()) == []      # empty slots are not keys
        jumps[2] = target
        assert dict(jumps) == {2: target.id} and dict(jumps.items()) == {2: target.id}
        assert list(cgroups.keys()) == [0, 1]                      # the slots exist; values never come back
        with pytest.raises(TypeError, match="cgroup_array map 'cgroups': the kernel does not return its values"):
            dict(cgroups.items())
        with pytest.raises(TypeError, match="cgroup_array map 'cgroups'"):
            list(cgroups.values())
