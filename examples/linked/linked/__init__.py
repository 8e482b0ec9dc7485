"""Two BPF sources linked into one object, sharing a map and a function."""
