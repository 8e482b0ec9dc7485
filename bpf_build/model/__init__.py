"""The in-memory model of a BPF object: ELF, BTF, BTF.ext, instructions. No passes here."""
