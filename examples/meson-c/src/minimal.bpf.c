// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Count the getpid() calls of one process: the pid comes from .rodata, set before load.
 * A raw tracepoint (light skeletons attach raw_tp/tp_btf/fentry programs themselves). */
#include <linux/bpf.h>
#include <asm/unistd.h>
#include <bpf/bpf_helpers.h>
#include "minimal.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile int watched_pid = 0;
__u64 getpid_calls;

SEC("raw_tp/sys_enter")
int count_getpid(struct bpf_raw_tracepoint_args *ctx)
{
	/* sys_enter(struct pt_regs *regs, long id) */
	if (ctx->args[1] != __NR_getpid || (bpf_get_current_pid_tgid() >> 32) != watched_pid)
		return 0;
	if (getpid_calls < MAX_COUNTED)
		__sync_fetch_and_add(&getpid_calls, 1);
	return 0;
}
