/* runqlat/biolatency/hardirqs keep a zeroed template and counters in `static` globals: their
 * .bss (and here .data) hold no global variable, so libbpf creates those maps without
 * BPF_F_MMAPABLE and the skeleton has no bss/data member; they must still load and be readable
 * through the map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct hist {
	__u32 slots[8];
};

static struct hist zero_hist;		/* .bss, static only: never mmapped */
static __u64 getpid_hits;		/* .bss */
static volatile __u32 seed = 0x5eed;	/* .data, static only (volatile: kept, not folded) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 key = 0, seed_key = 1, tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 seen = __sync_add_and_fetch(&getpid_hits, 1), seed_value = seed;
	struct hist *h;

	bpf_map_update_elem(&results, &key, &seen, BPF_ANY);
	bpf_map_update_elem(&results, &seed_key, &seed_value, BPF_ANY);
	bpf_map_update_elem(&hists, &tgid, &zero_hist, BPF_NOEXIST);
	h = bpf_map_lookup_elem(&hists, &tgid);
	if (h)
		__sync_fetch_and_add(&h->slots[seen & 7], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
