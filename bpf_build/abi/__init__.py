"""ABI tooling for C shared libraries that follow libbpf's conventions (`bpf-abi`).

Modules, one job each:

- ``versionscript``: parse GNU ld version scripts (``libbpf.map``) with line numbers.
- ``inputs``: read input files safely (regular files only, size limits).
- ``elfread``: read what a shared library really exports and what objects define (``struct``).
- ``dwarf``: a small DWARF reader; ``dwarftypes``: the type surface of the exports from it.
- ``public``: the public headers filter (what is opaque, where things are declared).
- ``snapshot``: the comparable ABI model and its JSON baseline form.
- ``naming`` / ``release``: the symbol prefix policy and the release version.
- ``check`` / ``diff`` / ``typediff``: the rules; they return findings with a severity, never
  raise for them (``findings``: incompatible / compatible / note and the exit status).
- ``suppress``: reviewed findings from a TOML file; ``settings``: ``[tool.bpf-abi]``.
- ``report``: render findings as text, JSON or GitHub annotations.

A release CI runs bpf-abi on every change, so what ``bpf-abi diff`` imports is kept small: the
records on its path are NamedTuples or plain classes (importing dataclasses and decorating a
dozen classes cost a run about 10 ms), and each command imports only the modules it uses.
"""
