"""Where bpf-build's C headers are (``bpf_build/include``, shipped in the wheel).

Light C skeletons include ``<bpf_build/loader.h>``; ``bpf-build include-dir`` prints this place
for ``-I``. Kept apart from the skeleton generator so printing a path imports nothing else."""

import os


def include_dir() -> str:
    """The directory to pass to the C compiler with ``-I``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
