/* sigsnoop's bpf_task_from_pid/bpf_task_release: kernel functions called from a tracing program.
 * Upstream relies on bpftool >= 7.4's vmlinux.h, which declares every kfunc (DECL_TAG bpf_kfunc)
 * unless BPF_NO_KFUNC_PROTOTYPES; KFUNCS_FROM_VMLINUX_H selects that, otherwise they are
 * declared here as older vmlinux.h users do. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifndef KFUNCS_FROM_VMLINUX_H
extern struct task_struct *bpf_task_from_pid(s32 pid) __weak __ksym;
extern void bpf_task_release(struct task_struct *p) __weak __ksym;
#endif

const volatile pid_t targ_tgid = 0;
pid_t found_tgid;
__u64 lookups;

SEC("tp_btf/sys_enter")
int BPF_PROG(look_up_self, struct pt_regs *regs, long id)
{
	struct task_struct *task;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	task = bpf_task_from_pid(targ_tgid);
	if (!task)
		return 0;
	found_tgid = task->tgid;
	lookups++;
	bpf_task_release(task);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
