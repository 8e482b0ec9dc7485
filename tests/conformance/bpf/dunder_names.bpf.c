/* usdt.bpf.h's `struct __bpf_usdt_spec` holding `struct __bpf_usdt_arg_spec`, maps such as
 * `__bpf_usdt_specs`, nested anonymous members of kernel structs (call_single_node's union):
 * names with two leading underscores everywhere, which Python mangles inside class bodies. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "dunder_names.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, int);
	__type(value, struct __event_spec);
} __specs SEC(".maps");

struct __event_spec __last_spec;
struct __node __last_node;
__u32 __calls;
struct _arg_spec _shadow;

SEC("tracepoint/syscalls/sys_enter_getpid")
int __on_getpid(void *ctx)
{
	int key = 0;
	struct __event_spec *spec = bpf_map_lookup_elem(&__specs, &key);

	__calls++;
	if (spec) {
		__last_spec = *spec;
		__last_node.__lo = spec->arg_cnt;
		__last_node.__hi = 7;
		__last_node.__src = spec->args[0].reg_off;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
