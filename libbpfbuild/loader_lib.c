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

#define FILE_MAGIC "BPFLDR1\n"
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
			 const void *ctx, size_t ctx_sz, const struct bpf_loader_opts *opts)
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

LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run_file(const char *path, const void *ctx, size_t ctx_sz,
			      const struct bpf_loader_opts *opts)
{
	struct { char magic[8]; uint32_t insns_sz; uint32_t data_sz; } header;
	struct bpf_loader *loader = NULL;
	unsigned char *body = NULL;
	struct stat st;
	size_t body_sz;
	int fd, err;

	if (!path) {
		fail(EINVAL, "no loader file given");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(errno, "cannot open loader file");
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		err = fail(errno, "cannot stat loader file");
		goto out;
	}
	err = read_all(fd, (unsigned char *)&header, sizeof(header));
	if (err || memcmp(header.magic, FILE_MAGIC, sizeof(header.magic))) {
		err = fail(EINVAL, "not a loader file (bad magic)");
		goto out;
	}
	body_sz = (size_t)header.insns_sz + header.data_sz;
	if ((uint64_t)st.st_size != sizeof(header) + (uint64_t)body_sz) {
		err = fail(EINVAL, "loader file size does not match its header");
		goto out;
	}
	body = malloc(body_sz ? body_sz : 1);
	if (!body) {
		err = fail(ENOMEM, "out of memory");
		goto out;
	}
	err = read_all(fd, body, body_sz);
	if (err) {
		fail(-err, "cannot read loader file");
		goto out;
	}
	loader = bpf_loader__load_and_run(body, header.insns_sz, body + header.insns_sz,
					  header.data_sz, ctx, ctx_sz, opts);
out:
	err = errno;
	free(body);
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
