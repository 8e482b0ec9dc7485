/* SEC("?...") programs are not loaded unless asked for; bpftool's light skeleton drops them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 ran_always = 0, ran_optional = 0;

SEC("syscall")
int always(void *ctx)
{
	ran_always++;
	return 0;
}

SEC("?syscall")
int optional_prog(void *ctx)
{
	ran_optional++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
