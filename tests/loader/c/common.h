/* Helpers for the C light-skeleton tests. Only the bpf(2) syscall and the UAPI header, so the same
 * test compiles against bpftool's light skeletons (skel_internal.h) and ours (bpf_build/loader.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#ifdef BPFTOOL_SKEL
#include <bpf/libbpf.h> /* enum libbpf_tristate, which skel_internal.h does not declare */
#endif

#define CHECK(cond, ...) do {							\
	if (!(cond)) {								\
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		fprintf(stderr, __VA_ARGS__);					\
		fprintf(stderr, "\n");						\
		exit(1);							\
	}									\
} while (0)

static inline int t_lookup(int fd, const void *key, void *value)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (__u64)(unsigned long)key;
	a.value = (__u64)(unsigned long)value;
	return syscall(__NR_bpf, BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
}

/* BPF_PROG_TEST_RUN with packet data (XDP, tc, socket) or a context (syscall, raw_tp). */
static inline int t_run(int prog_fd, void *data, __u32 size, void *out, void *ctx, __u32 ctx_size,
			__u32 *retval)
{
	union bpf_attr a;
	int err;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = prog_fd;
	a.test.data_in = (__u64)(unsigned long)data;
	a.test.data_size_in = size;
	a.test.data_out = (__u64)(unsigned long)out;
	a.test.data_size_out = out ? size + 256 : 0;
	a.test.ctx_in = (__u64)(unsigned long)ctx;
	a.test.ctx_size_in = ctx_size;
	err = syscall(__NR_bpf, BPF_PROG_TEST_RUN, &a, sizeof(a));
	if (retval)
		*retval = a.test.retval;
	return err;
}

static inline void t_packet(unsigned char *pkt, __u32 size, __u16 proto)
{
	memset(pkt, 0, size);
	memset(pkt, 2, 6);
	memset(pkt + 6, 4, 6);
	pkt[12] = proto >> 8;
	pkt[13] = proto & 0xff;
}

static inline int t_count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}
