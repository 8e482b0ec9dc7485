// SPDX-License-Identifier: BSD-2-Clause
/*
 * libbpfbuild: the runtime light skeletons need, as a shared library for FFI callers.
 *
 * It is the C light skeletons' runtime, <bpf_build/loader.h>: running a loader program (the bpf()
 * calls, the bpf_attr layouts, the ctx, the retry with a verifier log) happens there; this file
 * adds what an FFI caller needs on top: argument checks, opts, a loader object that keeps the
 * ctx, reading the serialised format of bpf_build.loader.gen, and errno + errstr reporting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf_build/loader.h>

#include "bpf_loader.h"

#define MAX_CTX_SIZE 65535 /* the kernel bounds a syscall program's ctx by U16_MAX */

/* The serialised LoaderProgram (LoaderProgram.to_bytes, "BPFBLDR1"): a header of magic and ten
 * little-endian u32, then insns, blob, maps, progs, kconfig vars, ops, strings, values. The
 * layout is stated in bpf_build/runtime/loader_contract.py (docs/loader-contract.md);
 * tests/loader/test_contract.py checks these numbers against it. */
#define SERIAL_MAGIC "BPFBLDR1"
#define SERIAL_HEADER_SIZE 48
#define SERIAL_HEADER_FLAGS 8 /* offsets of the header's u32 fields */
#define SERIAL_HEADER_INSN_CNT 12
#define SERIAL_HEADER_BLOB_SIZE 16
#define SERIAL_HEADER_NR_MAPS 20
#define SERIAL_HEADER_NR_PROGS 24
#define SERIAL_HEADER_NR_KCONFIG 28
#define SERIAL_HEADER_NR_OPS 32
#define SERIAL_HEADER_STRINGS_SIZE 40
#define SERIAL_HEADER_VALUES_SIZE 44
#define SERIAL_MAP_SIZE 44    /* 11 u32: name, ident, kind, type, key_size, value_size, max_entries, ... */
#define SERIAL_MAP_TYPE 12
#define SERIAL_MAP_MAX_ENTRIES 24
#define SERIAL_PROG_SIZE 28
#define SERIAL_KCONFIG_SIZE 24
#define SERIAL_OP_SIZE 16     /* step, kind (string offset), index, text (string offset) */
#define SERIAL_OP_KIND 4
#define SERIAL_BIG_ENDIAN 1
#define MAP_TYPE_PERF_EVENT_ARRAY 4
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* one source of truth: the header's release macros, which bpf-abi checks against libbpf.map */
#define LIB_VERSION STRINGIFY(LIBBPF_BUILD_MAJOR_VERSION) "." STRINGIFY(LIBBPF_BUILD_MINOR_VERSION) ".0"

struct bpf_loader {
	size_t ctx_sz;
	unsigned char ctx[]; /* after the run: what the loader program wrote, fds included */
};
/* the ctx is run in place, as the header's struct bpf_build_loader_ctx */
_Static_assert(offsetof(struct bpf_loader, ctx) % _Alignof(struct bpf_build_loader_ctx) == 0,
	       "loader ctx is aligned for the contract's header");

static __thread const char *last_errstr = "no error";

static int fail(int err, const char *what)
{
	last_errstr = what;
	errno = err;
	return -err;
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

struct serial_loader {
	const unsigned char *insns, *blob, *maps;
	uint32_t insn_cnt, blob_size, nr_maps, nr_progs, nr_kconfig;
	int btf_step_first; /* step 1 loads BTF: a retry for its log must log the BTF load */
};

/* Both entry points: run the loader on the loader object's copy of ctx and give the caller the
 * kernel's copy, on failure too (error_step says which step failed). own_ctx_of is the parsed
 * file when this library built the ctx: then a failed step runs again with the opts log in the
 * ctx, as a light skeleton does (a caller's own ctx carries the caller's own log settings). */
static struct bpf_loader *load_and_run(const void *insns, size_t insns_sz, const void *data,
				       size_t data_sz, void *ctx, size_t ctx_sz,
				       const struct bpf_loader_opts *opts,
				       const struct serial_loader *own_ctx_of)
{
	struct bpf_build_load_opts run;
	struct bpf_loader_opts o;
	struct bpf_loader *loader;
	int step, err;

	if (!insns || !insns_sz || insns_sz % BPF_BUILD_INSN_SIZE || insns_sz > UINT32_MAX) {
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

	memset(&run, 0, sizeof(run));
	run.ctx = ctx_sz ? (struct bpf_build_loader_ctx *)loader->ctx : NULL;
	run.ctx_sz = (__u32)ctx_sz;
	run.insns = insns;
	run.insns_sz = (__u32)insns_sz;
	run.data = data;
	run.data_sz = (__u32)data_sz;
	run.loader_log_buf = o.log_buf;
	run.loader_log_size = o.log_size;
	run.loader_log_level = o.log_level;
	err = bpf_build_run_once(&run, &step);
	if (err < 0 && step && own_ctx_of && o.log_buf && o.log_level) {
		run.btf_step_first = own_ctx_of->btf_step_first;
		err = bpf_build_rerun_with_log(&run, &step, o.log_buf, o.log_size, o.log_level);
	}
	if (ctx_sz)
		memcpy(ctx, loader->ctx, ctx_sz);
	if (err < 0) {
		free(loader);
		fail(-err, run.errstr);
		return NULL;
	}
	last_errstr = "no error";
	return loader;
}

LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run(const void *insns, size_t insns_sz, const void *data, size_t data_sz,
			 void *ctx, size_t ctx_sz, const struct bpf_loader_opts *opts)
{
	return load_and_run(insns, insns_sz, data, data_sz, ctx, ctx_sz, opts, NULL);
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

static int parse_serialised(const unsigned char *buf, size_t size, struct serial_loader *out)
{
	static const char load_btf[] = "load_btf";
	const int host_big_endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	const unsigned char *ops, *strings;
	uint32_t nr_ops, strings_size, kind;
	uint64_t total;

	if (size < SERIAL_HEADER_SIZE || memcmp(buf, SERIAL_MAGIC, 8))
		return fail(EINVAL, "not a serialised loader program (bad magic)");
	if (!(le32(buf + SERIAL_HEADER_FLAGS) & SERIAL_BIG_ENDIAN) != !host_big_endian)
		return fail(EINVAL, "loader program built for the other byte order");
	out->insn_cnt = le32(buf + SERIAL_HEADER_INSN_CNT);
	out->blob_size = le32(buf + SERIAL_HEADER_BLOB_SIZE);
	out->nr_maps = le32(buf + SERIAL_HEADER_NR_MAPS);
	out->nr_progs = le32(buf + SERIAL_HEADER_NR_PROGS);
	out->nr_kconfig = le32(buf + SERIAL_HEADER_NR_KCONFIG);
	nr_ops = le32(buf + SERIAL_HEADER_NR_OPS);
	strings_size = le32(buf + SERIAL_HEADER_STRINGS_SIZE);
	total = SERIAL_HEADER_SIZE + (uint64_t)out->insn_cnt * BPF_BUILD_INSN_SIZE + out->blob_size +
		(uint64_t)out->nr_maps * SERIAL_MAP_SIZE + (uint64_t)out->nr_progs * SERIAL_PROG_SIZE +
		(uint64_t)out->nr_kconfig * SERIAL_KCONFIG_SIZE + (uint64_t)nr_ops * SERIAL_OP_SIZE +
		strings_size + le32(buf + SERIAL_HEADER_VALUES_SIZE);
	if (total != size)
		return fail(EINVAL, "loader file size does not match its header");
	out->insns = buf + SERIAL_HEADER_SIZE;
	out->blob = out->insns + (size_t)out->insn_cnt * BPF_BUILD_INSN_SIZE;
	out->maps = out->blob + out->blob_size;
	ops = out->maps + (size_t)out->nr_maps * SERIAL_MAP_SIZE +
	      (size_t)out->nr_progs * SERIAL_PROG_SIZE + (size_t)out->nr_kconfig * SERIAL_KCONFIG_SIZE;
	strings = ops + (size_t)nr_ops * SERIAL_OP_SIZE;
	kind = nr_ops ? le32(ops + SERIAL_OP_KIND) : UINT32_MAX;
	out->btf_step_first = kind < strings_size && strings_size - kind >= sizeof(load_btf) &&
			      !memcmp(strings + kind, load_btf, sizeof(load_btf));
	return 0;
}

/* The ctx contract v1 asks of a runner that has no kconfig values to give: zeroed, sz set, and
 * PERF_EVENT_ARRAY maps sized by the possible CPUs as a light skeleton sizes them. */
static unsigned char *default_ctx(const struct serial_loader *l, size_t *ctx_sz)
{
	uint64_t size = sizeof(struct bpf_build_loader_ctx) +
			(uint64_t)l->nr_maps * sizeof(struct bpf_build_map_desc) +
			(uint64_t)l->nr_progs * sizeof(struct bpf_build_prog_desc);
	struct bpf_build_map_desc *maps;
	unsigned char *ctx;
	int cpus;

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
	((struct bpf_build_loader_ctx *)ctx)->sz = (__u32)size;
	maps = (struct bpf_build_map_desc *)(ctx + sizeof(struct bpf_build_loader_ctx));
	for (uint32_t i = 0; i < l->nr_maps; i++) {
		const unsigned char *map = l->maps + (size_t)i * SERIAL_MAP_SIZE;

		if (le32(map + SERIAL_MAP_TYPE) != MAP_TYPE_PERF_EVENT_ARRAY ||
		    le32(map + SERIAL_MAP_MAX_ENTRIES) != 0)
			continue;
		cpus = bpf_build_possible_cpus();
		if (cpus < 0) {
			free(ctx);
			fail(-cpus, "cannot count possible CPUs for a PERF_EVENT_ARRAY map");
			return NULL;
		}
		maps[i].max_entries = (__u32)cpus;
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
		own_ctx = default_ctx(&l, &ctx_sz);
		if (!own_ctx)
			goto out;
		ctx = own_ctx;
	}
	loader = load_and_run(l.insns, (size_t)l.insn_cnt * BPF_BUILD_INSN_SIZE, l.blob, l.blob_size,
			      ctx, ctx_sz, opts, own_ctx ? &l : NULL);
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
