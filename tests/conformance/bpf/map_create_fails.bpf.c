/* A load that fails at map creation, after the BTF (with a forward declaration the kernel logs)
 * was loaded: the error must name the map step with the kernel's errno, without any log line of
 * the BTF load, and a light skeleton's X__open_and_load must leave errno set. The hash map asks
 * for more key bytes than the kernel allows (KMALLOC_MAX_SIZE), so BPF_MAP_CREATE says E2BIG. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct audit_context;		/* a FWD in BTF, as vmlinux types pulled in by tools are */

struct too_big_key {
	char bytes[1 << 23];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct too_big_key);
	__type(value, __u32);
} refused SEC(".maps");

struct audit_context *last_ctx;	/* pointer to the FWD: compiles in any skeleton */
__u64 last;

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	last++;
	return bpf_map_lookup_elem(&refused, &last) != 0;
}

char LICENSE[] SEC("license") = "GPL";
