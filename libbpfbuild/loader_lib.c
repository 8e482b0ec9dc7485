// SPDX-License-Identifier: BSD-2-Clause
/*
 * libbpfbuild: the runtime light skeletons need, as a shared library for FFI callers.
 *
 * Self-contained on purpose: it talks to the kernel with the raw bpf() syscall and defines the
 * few bpf_attr layouts it uses, so it builds against any libc and any (or no) kernel headers,
 * including headers older than the fields it sets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_loader.h"

#ifndef __NR_bpf
#if defined(__x86_64__)
#define __NR_bpf 321
#elif defined(__aarch64__) || defined(__riscv)
#define __NR_bpf 280
#elif defined(__i386__)
#define __NR_bpf 357
#else
#error "__NR_bpf unknown for this architecture"
#endif
#endif

/* Kernel UAPI values (linux/bpf.h); they are ABI and never change. */
enum {
	CMD_MAP_CREATE = 0,
	CMD_MAP_UPDATE_ELEM = 2,
	CMD_PROG_LOAD = 5,
	CMD_PROG_TEST_RUN = 10,
	CMD_MAP_FREEZE = 22,
};
#define MAP_TYPE_ARRAY 2
#define PROG_TYPE_SYSCALL 31
#define F_SLEEPABLE (1U << 4)
#define INSN_SIZE 8
#define MAX_CTX_SIZE 65535 /* the kernel bounds a syscall program's ctx by U16_MAX */

/* bpf_build/gen_loader.py contract v1: the ctx layout and the serialised LoaderProgram. */
#define CTX_HEADER_SIZE 32
#define CTX_MAP_SIZE 16
#define CTX_PROG_SIZE 8
#define CTX_LOG_LEVEL 8
#define CTX_LOG_SIZE 12
#define CTX_LOG_BUF 16
#define CTX_MAP_MAX_ENTRIES 4
#define SERIAL_MAGIC "BPFBLDR1"
#define SERIAL_HEADER_SIZE 48 /* magic + 10 little-endian u32 */
#define SERIAL_MAP_SIZE 44    /* 11 u32: name, ident, kind, type, key_size, value_size, max_entries, ... */
#define SERIAL_MAP_TYPE 12
#define SERIAL_MAP_MAX_ENTRIES 24
#define SERIAL_PROG_SIZE 28
#define SERIAL_KCONFIG_SIZE 24
#define SERIAL_OP_SIZE 16
#define SERIAL_BIG_ENDIAN 1
#define MAP_TYPE_PERF_EVENT_ARRAY 4
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* one source of truth: the header's release macros, which bpf-abi checks against libbpf.map */
#define LIB_VERSION STRINGIFY(LIBBPF_BUILD_MAJOR_VERSION) "." STRINGIFY(LIBBPF_BUILD_MINOR_VERSION) ".0"

/* Prefixes of union bpf_attr, field for field; the kernel accepts a shorter attr and treats
 * the missing tail as zero. */
struct map_create_attr {
	uint32_t map_type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	uint32_t inner_map_fd;
	uint32_t numa_node;
	char map_name[16];
};

struct map_elem_attr {
	uint32_t map_fd;
	uint32_t pad;
	uint64_t key;
	uint64_t value;
	uint64_t flags;
};

struct map_freeze_attr {
	uint32_t map_fd;
};

struct prog_load_attr {
	uint32_t prog_type;
	uint32_t insn_cnt;
	uint64_t insns;
	uint64_t license;
	uint32_t log_level;
	uint32_t log_size;
	uint64_t log_buf;
	uint32_t kern_version;
	uint32_t prog_flags;
	char prog_name[16];
	uint32_t prog_ifindex;
	uint32_t expected_attach_type;
	uint32_t prog_btf_fd;
	uint32_t func_info_rec_size;
	uint64_t func_info;
	uint32_t func_info_cnt;
	uint32_t line_info_rec_size;
	uint64_t line_info;
	uint32_t line_info_cnt;
	uint32_t attach_btf_id;
	uint32_t attach_prog_fd;
	uint32_t core_relo_cnt;
	uint64_t fd_array;
};
_Static_assert(offsetof(struct prog_load_attr, fd_array) == 120, "bpf_attr.fd_array is at 120");

struct test_run_attr {
	uint32_t prog_fd;
	uint32_t retval;
	uint32_t data_size_in;
	uint32_t data_size_out;
	uint64_t data_in;
	uint64_t data_out;
	uint32_t repeat;
	uint32_t duration;
	uint32_t ctx_size_in;
	uint32_t ctx_size_out;
	uint64_t ctx_in;
	uint64_t ctx_out;
	uint32_t flags;
	uint32_t cpu;
	uint32_t batch_size;
};
_Static_assert(offsetof(struct test_run_attr, ctx_in) == 48, "bpf_attr.test.ctx_in is at 48");

struct bpf_loader {
	size_t ctx_sz;
	unsigned char ctx[]; /* after the run: what the loader program wrote, fds included */
};

static __thread const char *last_errstr = "no error";

static int fail(int err, const char *what)
{
	last_errstr = what;
	errno = err;
	return -err;
}

static int sys_bpf(int cmd, void *attr, size_t size)
{
	long ret = syscall(__NR_bpf, cmd, attr, size);

	return ret < 0 ? -errno : (int)ret;
}

/* Read opts the libbpf way: fields past the caller's sz are absent, and bytes past the fields
 * this version knows must be zero (the caller asked for something we cannot do). */
static int read_opts(const struct bpf_loader_opts *opts, struct bpf_loader_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (!opts)
		return 0;
	if (opts->sz < sizeof(opts->sz))
		return fail(EINVAL, "bpf_loader_opts.sz is too small");
	if (opts->sz > sizeof(*out)) {
		const unsigned char *tail = (const unsigned char *)opts + sizeof(*out);

		for (size_t i = 0; i < opts->sz - sizeof(*out); i++)
			if (tail[i])
				return fail(EINVAL, "bpf_loader_opts has unknown non-zero fields");
	}
	memcpy(out, opts, opts->sz < sizeof(*out) ? opts->sz : sizeof(*out));
	return 0;
}

static int create_blob_map(const void *data, size_t data_sz)
{
	struct map_create_attr create = {
		.map_type = MAP_TYPE_ARRAY,
		.key_size = 4,
		.value_size = (uint32_t)data_sz,
		.max_entries = 1,
	};
	struct map_elem_attr update = { 0 };
	struct map_freeze_attr freeze = { 0 };
	uint32_t key = 0;
	int map_fd, err;

	memcpy(create.map_name, "__loader.map", sizeof("__loader.map"));
	map_fd = sys_bpf(CMD_MAP_CREATE, &create, sizeof(create));
	if (map_fd < 0)
		return fail(-map_fd, "failed to create loader map");

	update.map_fd = (uint32_t)map_fd;
	update.key = (uint64_t)(uintptr_t)&key;
	update.value = (uint64_t)(uintptr_t)data;
	err = sys_bpf(CMD_MAP_UPDATE_ELEM, &update, sizeof(update));
	if (err < 0) {
		close(map_fd);
		return fail(-err, "failed to update loader map");
	}
	/* The blob is the program's input: nothing may change it between load and run. */
	freeze.map_fd = (uint32_t)map_fd;
	err = sys_bpf(CMD_MAP_FREEZE, &freeze, sizeof(freeze));
	if (err < 0) {
		close(map_fd);
		return fail(-err, "failed to freeze loader map");
	}
	return map_fd;
}

static int load_loader_prog(const void *insns, size_t insns_sz, int map_fd,
			    const struct bpf_loader_opts *opts)
{
	struct prog_load_attr load = {
		.prog_type = PROG_TYPE_SYSCALL,
		.insn_cnt = (uint32_t)(insns_sz / INSN_SIZE),
		.insns = (uint64_t)(uintptr_t)insns,
		.license = (uint64_t)(uintptr_t)"Dual BSD/GPL",
		.log_level = opts->log_level,
		.log_size = opts->log_size,
		.log_buf = (uint64_t)(uintptr_t)opts->log_buf,
		/* bpf_sys_bpf() may sleep (it loads programs), so the loader must be sleepable */
		.prog_flags = F_SLEEPABLE,
		/* the loader addresses its blob as map index 0 of fd_array */
		.fd_array = (uint64_t)(uintptr_t)&map_fd,
	};
	int prog_fd;

	memcpy(load.prog_name, "__loader.prog", sizeof("__loader.prog"));
	prog_fd = sys_bpf(CMD_PROG_LOAD, &load, sizeof(load));
	if (prog_fd < 0)
		return fail(-prog_fd, "failed to load loader prog");
	return prog_fd;
}

static int run_loader_prog(int prog_fd, struct bpf_loader *loader)
{
	struct test_run_attr run = {
		.prog_fd = (uint32_t)prog_fd,
		.ctx_size_in = (uint32_t)loader->ctx_sz,
		/* a syscall program's ctx is copied back to ctx_in after the run */
		.ctx_in = loader->ctx_sz ? (uint64_t)(uintptr_t)loader->ctx : 0,
	};
	int err;

	err = sys_bpf(CMD_PROG_TEST_RUN, &run, sizeof(run));
	if (err < 0)
		return fail(-err, "failed to execute loader prog");
	if ((int)run.retval < 0)
		return fail(-(int)run.retval, "error returned by loader prog");
	return 0;
}

LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run(const void *insns, size_t insns_sz, const void *data, size_t data_sz,
			 void *ctx, size_t ctx_sz, const struct bpf_loader_opts *opts)
{
	struct bpf_loader_opts o;
	struct bpf_loader *loader;
	int map_fd, prog_fd, err;

	if (!insns || !insns_sz || insns_sz % INSN_SIZE || insns_sz / INSN_SIZE > UINT32_MAX) {
		fail(EINVAL, "insns must be a non-empty array of 8-byte instructions");
		return NULL;
	}
	if (!data || !data_sz || data_sz > UINT32_MAX) {
		fail(EINVAL, "the loader needs a non-empty data blob");
		return NULL;
	}
	if (ctx_sz > MAX_CTX_SIZE || (ctx_sz && !ctx)) {
		fail(EINVAL, "ctx must be at most 65535 bytes");
		return NULL;
	}
	if (read_opts(opts, &o))
		return NULL;

	loader = calloc(1, sizeof(*loader) + ctx_sz);
	if (!loader) {
		fail(ENOMEM, "out of memory");
		return NULL;
	}
	loader->ctx_sz = ctx_sz;
	if (ctx_sz)
		memcpy(loader->ctx, ctx, ctx_sz);

	map_fd = create_blob_map(data, data_sz);
	if (map_fd < 0)
		goto err_free;
	prog_fd = load_loader_prog(insns, insns_sz, map_fd, &o);
	if (prog_fd < 0) {
		close(map_fd);
		goto err_free;
	}
	err = run_loader_prog(prog_fd, loader);
	/* the objects the loader created hold their own references to what they need */
	close(prog_fd);
	close(map_fd);
	/* the caller sees what the loader wrote, error_step included when it failed */
	if (ctx_sz)
		memcpy(ctx, loader->ctx, ctx_sz);
	if (err)
		goto err_free;
	last_errstr = "no error";
	return loader;

err_free:
	err = errno;
	free(loader);
	errno = err;
	return NULL;
}

static int read_all(int fd, unsigned char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v)); /* the ctx is in the target's (= host's) byte order */
}

/* The kernel sizes per-CPU perf buffers by possible CPUs: the highest index in
 * /sys/devices/system/cpu/possible ("0-3", "0,2-7") plus one. */
static uint32_t possible_cpus(void)
{
	char buf[256];
	long highest = -1;
	ssize_t n;
	int fd;

	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			for (char *p = buf; *p;) {
				char *end;
				long v = strtol(p, &end, 10);

				if (end == p)
					break;
				if (v > highest)
					highest = v;
				p = *end ? end + 1 : end;
			}
		}
	}
	if (highest < 0)
		highest = sysconf(_SC_NPROCESSORS_CONF) - 1;
	return highest < 0 ? 1 : (uint32_t)highest + 1;
}

struct serial_loader {
	const unsigned char *insns, *blob, *maps;
	uint32_t insn_cnt, blob_size, nr_maps, nr_progs, nr_kconfig;
};

static int parse_serialised(const unsigned char *buf, size_t size, struct serial_loader *out)
{
	const int host_big_endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	uint64_t total;

	if (size < SERIAL_HEADER_SIZE || memcmp(buf, SERIAL_MAGIC, 8))
		return fail(EINVAL, "not a serialised loader program (bad magic)");
	if (!(le32(buf + 8) & SERIAL_BIG_ENDIAN) != !host_big_endian)
		return fail(EINVAL, "loader program built for the other byte order");
	out->insn_cnt = le32(buf + 12);
	out->blob_size = le32(buf + 16);
	out->nr_maps = le32(buf + 20);
	out->nr_progs = le32(buf + 24);
	out->nr_kconfig = le32(buf + 28);
	total = SERIAL_HEADER_SIZE + (uint64_t)out->insn_cnt * INSN_SIZE + out->blob_size +
		(uint64_t)out->nr_maps * SERIAL_MAP_SIZE + (uint64_t)out->nr_progs * SERIAL_PROG_SIZE +
		(uint64_t)out->nr_kconfig * SERIAL_KCONFIG_SIZE +
		(uint64_t)le32(buf + 32) * SERIAL_OP_SIZE + le32(buf + 40) + le32(buf + 44);
	if (total != size)
		return fail(EINVAL, "loader file size does not match its header");
	out->insns = buf + SERIAL_HEADER_SIZE;
	out->blob = out->insns + (size_t)out->insn_cnt * INSN_SIZE;
	out->maps = out->blob + out->blob_size;
	return 0;
}

/* The ctx contract v1 asks of a runner that has no kconfig values to give. */
static unsigned char *default_ctx(const struct serial_loader *l, const struct bpf_loader_opts *o,
				  size_t *ctx_sz)
{
	uint64_t size = CTX_HEADER_SIZE + (uint64_t)l->nr_maps * CTX_MAP_SIZE +
			(uint64_t)l->nr_progs * CTX_PROG_SIZE;
	unsigned char *ctx;

	if (l->nr_kconfig) {
		fail(EOPNOTSUPP, "the loader needs kconfig values: pass a ctx built by bpf_build.runtime");
		return NULL;
	}
	if (size > MAX_CTX_SIZE) {
		fail(E2BIG, "too many maps and programs for one loader ctx");
		return NULL;
	}
	ctx = calloc(1, size);
	if (!ctx) {
		fail(ENOMEM, "out of memory");
		return NULL;
	}
	put_u32(ctx, (uint32_t)size);
	put_u32(ctx + CTX_LOG_LEVEL, o->log_level);
	put_u32(ctx + CTX_LOG_SIZE, o->log_size);
	memcpy(ctx + CTX_LOG_BUF, &(uint64_t){ (uint64_t)(uintptr_t)o->log_buf }, sizeof(uint64_t));
	for (uint32_t i = 0; i < l->nr_maps; i++) {
		const unsigned char *map = l->maps + (size_t)i * SERIAL_MAP_SIZE;

		if (le32(map + SERIAL_MAP_TYPE) == MAP_TYPE_PERF_EVENT_ARRAY &&
		    le32(map + SERIAL_MAP_MAX_ENTRIES) == 0)
			put_u32(ctx + CTX_HEADER_SIZE + (size_t)i * CTX_MAP_SIZE + CTX_MAP_MAX_ENTRIES,
				possible_cpus());
	}
	*ctx_sz = (size_t)size;
	return ctx;
}

LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run_file(const char *path, void *ctx, size_t ctx_sz,
			      const struct bpf_loader_opts *opts)
{
	struct bpf_loader *loader = NULL;
	unsigned char *buf = NULL, *own_ctx = NULL;
	struct serial_loader l;
	struct bpf_loader_opts o;
	struct stat st;
	int fd, err;

	if (!path) {
		fail(EINVAL, "no loader file given");
		return NULL;
	}
	if (read_opts(opts, &o))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(errno, "cannot open loader file");
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		fail(errno, "cannot stat loader file");
		goto out;
	}
	if (st.st_size < SERIAL_HEADER_SIZE || (uint64_t)st.st_size > UINT32_MAX) {
		fail(EINVAL, "not a serialised loader program (bad size)");
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		fail(ENOMEM, "out of memory");
		goto out;
	}
	err = read_all(fd, buf, (size_t)st.st_size);
	if (err) {
		fail(-err, "cannot read loader file");
		goto out;
	}
	if (parse_serialised(buf, (size_t)st.st_size, &l))
		goto out;
	if (!ctx) {
		own_ctx = default_ctx(&l, &o, &ctx_sz);
		if (!own_ctx)
			goto out;
		ctx = own_ctx;
	}
	loader = bpf_loader__load_and_run(l.insns, (size_t)l.insn_cnt * INSN_SIZE, l.blob, l.blob_size,
					  ctx, ctx_sz, opts);
out:
	err = errno;
	free(own_ctx);
	free(buf);
	close(fd);
	errno = err;
	return loader;
}

LIBBPF_BUILD_API int bpf_loader__fd(const struct bpf_loader *loader, size_t ctx_offset)
{
	int fd;

	if (!loader || ctx_offset > loader->ctx_sz || loader->ctx_sz - ctx_offset < sizeof(fd))
		return fail(EINVAL, "ctx offset outside the loader's ctx");
	memcpy(&fd, loader->ctx + ctx_offset, sizeof(fd));
	return fd;
}

LIBBPF_BUILD_API const void *bpf_loader__ctx(const struct bpf_loader *loader, size_t *ctx_sz)
{
	if (!loader) {
		fail(EINVAL, "no loader");
		return NULL;
	}
	if (ctx_sz)
		*ctx_sz = loader->ctx_sz;
	return loader->ctx;
}

LIBBPF_BUILD_API void bpf_loader__free(struct bpf_loader *loader)
{
	free(loader);
}

LIBBPF_BUILD_API const char *libbpf_build_errstr(void)
{
	return last_errstr;
}

LIBBPF_BUILD_API const char *libbpf_build_version(void)
{
	return LIB_VERSION;
}
