"""The static linker: BPF objects in, one object out (libbpf's linker.c rules). Never touches files."""
