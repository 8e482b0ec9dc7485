#include "common.h"
#include <sys/utsname.h>
#include SKEL_HEADER

/* argv: CONFIG_HZ, address of bpf_iter_num_new, address of __x64_sys_getpid (from the test) */
int main(int argc, char **argv)
{
	struct externs_bpf *skel = externs_bpf__open_and_load();
	struct utsname u;
	int a = 0, b = 0, c = 0;
	__u64 ctx = 0;

	CHECK(argc == 4, "usage");
	CHECK(skel, "open_and_load");
	CHECK(t_run(skel->progs.read_externs.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run");
	uname(&u);
	sscanf(u.release, "%d.%d.%d", &a, &b, &c);
	CHECK(skel->bss->kernel_version == (__u64)((a << 16) | (b << 8) | (c > 255 ? 255 : c)), "version");
	CHECK(skel->bss->bpf_syscall == 1, "CONFIG_BPF_SYSCALL");
	CHECK(skel->bss->hz == strtoull(argv[1], NULL, 0), "hz %llu", (unsigned long long)skel->bss->hz);
	CHECK(skel->bss->no_option == 0 && skel->bss->no_number == 0, "weak kconfig");
	CHECK(skel->bss->iter_new_addr == strtoull(argv[2], NULL, 16), "typed ksym");
	CHECK(skel->bss->getpid_addr == strtoull(argv[3], NULL, 16), "typeless ksym");
	CHECK(skel->bss->missing_var_addr == 0 && skel->bss->missing_func_addr == 0, "weak ksyms");
	CHECK(skel->bss->iter_sum == 10 && skel->bss->no_kfunc == 1, "kfuncs");
	CHECK(skel->kconfig->CONFIG_HZ == (int)strtol(argv[1], NULL, 0), "skel->kconfig");
	externs_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
