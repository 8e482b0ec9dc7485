/* libbpf-tools' configuration: `const volatile bool targ_per_cpu = false;` next to integers and a
 * comm filter, set by user space before load. 19 of 24 tools have a const volatile bool. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile bool filter_by_tgid = false;
const volatile bool count_twice = false;
const volatile __u32 targ_tgid = 0;
const volatile char targ_comm[16] = {};
const volatile long multiplier = 1;

__u64 matched;
bool saw_event;

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (filter_by_tgid && tgid != targ_tgid)
		return 0;
	matched += multiplier * (count_twice ? 2 : 1);
	saw_event = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
