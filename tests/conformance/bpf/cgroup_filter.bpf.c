/* libbpf-tools' `-c CGROUP` filter (13 tools): a CGROUP_ARRAY that user space fills with a cgroup
 * directory's fd, checked with bpf_current_task_under_cgroup. The kernel never returns the
 * values of this map type to user space. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} cgroup_map SEC(".maps");

const volatile bool filter_cg = false;
const volatile __u32 targ_tgid = 0;
__u64 matched;

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_in_cgroup(void *ctx)
{
	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	if (filter_cg && !bpf_current_task_under_cgroup(&cgroup_map, 0))
		return 0;
	matched++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
