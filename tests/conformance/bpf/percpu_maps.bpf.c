/* Per-CPU maps with struct values (runqlen/softirqs count per CPU; bcc's drop counters): user
 * space reads one value per possible CPU. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 calls;
	__u32 last_cpu;
	__u32 marker;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct counters);
} per_cpu_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu_by_tgid SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_per_cpu(void *ctx)
{
	__u32 key = 0, tgid = bpf_get_current_pid_tgid() >> 32;
	struct counters *c = bpf_map_lookup_elem(&per_cpu_counters, &key);
	__u64 one = 1, *n;

	if (c) {
		c->calls++;
		c->last_cpu = bpf_get_smp_processor_id();
		c->marker = 0xc0ffee;
	}
	n = bpf_map_lookup_elem(&per_cpu_by_tgid, &tgid);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&per_cpu_by_tgid, &tgid, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
