/* kprobe, kretprobe and ksyscall programs: they load on this kernel, attaching needs KPROBES. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 entries = 0, exits = 0;

SEC("kprobe/do_nanosleep")
int on_nanosleep(void *ctx)
{
	entries++;
	return 0;
}

SEC("kretprobe/do_nanosleep")
int on_nanosleep_ret(void *ctx)
{
	exits++;
	return 0;
}

SEC("ksyscall/getppid")
int on_getppid(void *ctx)
{
	entries++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
