"""ABI tooling for C shared libraries that follow libbpf's conventions (`bpf-abi`).

Modules, one job each:

- ``versionscript``: parse GNU ld version scripts (``libbpf.map``) with line numbers.
- ``elfread``: read what a shared library really exports (lief) and what objects define.
- ``dwarftypes``: the type surface of the exports (DWARF, via pyelftools).
- ``snapshot``: the comparable ABI model and its JSON baseline form.
- ``naming`` / ``release``: the symbol prefix policy and the release version.
- ``check`` / ``diff`` / ``typediff``: the rules; they return findings, never raise for them.
- ``report``: render findings as text, JSON or GitHub annotations.
"""
