/* Externs resolved when the loader runs: kconfig values, a typed ksym (the address of a kfunc, found
 * through kernel BTF), a typeless ksym (kallsyms), kfuncs (open-coded iterator), and weak ones that
 * do not exist. Typed ksyms of variables need data symbols in kallsyms (CONFIG_KALLSYMS_ALL), which
 * the test kernel lacks, so only a weak missing one is used. */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_VETH __kconfig;
extern int CONFIG_HZ __kconfig;
extern bool CONFIG_NO_SUCH_OPTION __kconfig __weak;
extern int CONFIG_NO_SUCH_NUMBER __kconfig __weak;

extern const void __x64_sys_getpid __ksym;
extern const int no_such_percpu_var __ksym __weak;
extern const void no_such_function __ksym __weak;

struct bpf_iter_num { __u64 __opaque[1]; } __attribute__((aligned(8)));
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpf_no_such_kfunc(void) __ksym __weak;

__u64 kernel_version, bpf_syscall, veth, hz, no_option, no_number;
__u64 iter_new_addr, getpid_addr, missing_var_addr, missing_func_addr;
__u64 iter_sum, no_kfunc;

SEC("syscall")
int read_externs(void *ctx)
{
	struct bpf_iter_num it;
	int *v;

	kernel_version = LINUX_KERNEL_VERSION;
	bpf_syscall = CONFIG_BPF_SYSCALL;
	veth = CONFIG_VETH;
	hz = CONFIG_HZ;
	no_option = CONFIG_NO_SUCH_OPTION;
	no_number = CONFIG_NO_SUCH_NUMBER;

	iter_new_addr = (__u64)&bpf_iter_num_new;
	getpid_addr = (__u64)&__x64_sys_getpid;
	missing_var_addr = (__u64)&no_such_percpu_var;
	missing_func_addr = (__u64)&no_such_function;

	bpf_iter_num_new(&it, 0, 5);
	while ((v = bpf_iter_num_next(&it)))
		iter_sum += *v;
	bpf_iter_num_destroy(&it);
	if (bpf_no_such_kfunc)
		bpf_no_such_kfunc();
	else
		no_kfunc = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
