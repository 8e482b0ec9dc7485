"""Trace openat() calls with a latency histogram, from a BPF ring buffer on asyncio."""
