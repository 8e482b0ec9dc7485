// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Count getpid() calls system-wide: a tracepoint program and one global counter in .bss. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Zero-initialised, so it lives in .bss; user space reads it through the mmapped map. */
__u64 getpid_calls;

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__sync_fetch_and_add(&getpid_calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
