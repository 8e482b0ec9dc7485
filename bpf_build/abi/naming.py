"""Which exported names a library following libbpf's naming convention may use.

libbpf's README: every non-static symbol starts with one of its API prefixes; object APIs are
``object__method`` (``bpf_object__open``, ``ring_buffer__poll``). A policy is a set of plain
prefixes plus object names whose ``name__method`` functions are allowed.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional, Tuple

DEFAULT_PREFIXES = ("bpf_", "btf_", "libbpf_", "xsk_", "perf_buffer_", "ring_buffer_", "user_ring_buffer_")
# Objects whose names do not start with a prefix above (libbpf >= 1.3 exports ring__consume & co).
DEFAULT_OBJECTS = ("ring",)


class NamingPolicy(NamedTuple):
    prefixes: Tuple[str, ...] = DEFAULT_PREFIXES
    objects: Tuple[str, ...] = DEFAULT_OBJECTS

    @classmethod
    def from_options(cls, prefixes: Iterable[str] = (), objects: Iterable[str] = ()) -> "NamingPolicy":
        """Options replace the defaults of their own kind only: --prefix foo_ means only the foo_
        prefix, and still the default object names; --object replaces those."""
        prefixes, objects = tuple(prefixes), tuple(o.rstrip("_") for o in objects)
        return cls(prefixes=prefixes or DEFAULT_PREFIXES, objects=objects or DEFAULT_OBJECTS)

    def allows(self, name: str) -> bool:
        if any(name.startswith(p) and len(name) > len(p) for p in self.prefixes):
            return True
        return any(name.startswith(o + "__") and len(name) > len(o) + 2 for o in self.objects)

    def describe(self) -> str:
        allowed = [f"{p}*" for p in self.prefixes] + [f"{o}__*" for o in self.objects]
        return ", ".join(allowed)


def versioned_name(name: str, version: Optional[str], default: bool) -> str:
    """The spelling users see in `readelf --dyn-syms`: name@@V, name@V or name."""
    if version is None:
        return name
    return f"{name}{'@@' if default else '@'}{version}"
