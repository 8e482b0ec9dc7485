"""The linked BTF keeps one string object per name text, whichever input a record came from:
inputs built against one vmlinux.h repeat thousands of names, and holding a copy of each for
every record cost megabytes (the output's records are read back from the dedup's bytes, one
string a name offset)."""

from __future__ import annotations

from bpf_build.link import link

SOURCE = r"""
struct %(tag)s_node { int count; struct %(tag)s_node *next; };
struct %(tag)s_node %(tag)s_head SEC(".data");
SEC("raw_tp/sys_enter") int %(tag)s_prog(void *ctx) { return %(tag)s_head.count; }
"""


def _names(btf):
    for t in btf.types:
        yield t.name
        for item in t.members or t.enums or t.params:
            yield item.name


def test_equal_names_from_two_inputs_are_one_object(link_pair):
    # Two structs that dedup keeps apart (their names differ), with members of the same names.
    paths = link_pair(SOURCE % {"tag": "a"}, SOURCE % {"tag": "b"})
    out = link(paths)
    kept = [t for t in out.btf.types if t.name in ("a_node", "b_node")]
    assert len(kept) == 2
    first, second = (t.members for t in kept)
    assert [m.name for m in first] == [m.name for m in second] == ["count", "next"]
    assert all(m1.name is m2.name for m1, m2 in zip(first, second))
    objects = {}
    for name in _names(out.btf):
        assert objects.setdefault(name, name) is name, f"two string objects for {name!r}"
