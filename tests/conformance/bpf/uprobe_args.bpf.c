/* libbpf-bootstrap's uprobe example and bashreadline/gethostlatency: BPF_KPROBE/BPF_KRETPROBE on a
 * user-space function, arguments read through PT_REGS_PARMn, which needs __TARGET_ARCH_<arch>
 * (the compile driver's default target must define it, as the upstream Makefiles do). Attached by
 * user space to libc's getenv(). */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 targ_tgid = 0;
char seen_name[32];
__u32 entries, returns;
__u64 last_result_nonnull;

SEC("uprobe")
int BPF_KPROBE(on_getenv, const char *name)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	bpf_probe_read_user_str(seen_name, sizeof(seen_name), name);
	entries++;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_getenv_return, const char *result)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	last_result_nonnull = result != 0;
	returns++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
