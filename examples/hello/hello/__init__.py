"""Count getpid() calls with a BPF tracepoint program."""
