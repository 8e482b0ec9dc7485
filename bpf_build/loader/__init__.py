"""libbpf's open phase over an object, and the loader program generated from it."""
