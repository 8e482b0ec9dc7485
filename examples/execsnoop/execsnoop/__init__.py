"""Print every exec as it happens, from a BPF ring buffer."""
