/* Structs with bitfields (kernel structs pulled into shared types; flag words of tools) in global
 * data and as map values: every skeleton must place and size them as BTF says. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bitfields.h"

struct flags current_flags = { .kind = 5, .level = 17, .delta = -3, .tail = 2, .after = 0xabcd, .wide = 0x123456789aULL };
struct flags seen_flags;
__u32 getpid_calls;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flags);
} flag_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int copy_flags(void *ctx)
{
	__u32 key = 0;

	getpid_calls++;
	seen_flags = current_flags;
	seen_flags.delta = current_flags.delta - 1;
	seen_flags.rest = 0xfff;
	bpf_map_update_elem(&flag_map, &key, &seen_flags, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
