/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libbpfbuild: run light-skeleton loader programs from any language with a C FFI.
 *
 * A loader program is a BPF_PROG_TYPE_SYSCALL program plus a data blob (bpf_attr's, BTF,
 * map values, program instructions) that replays libbpf's loading steps through the
 * bpf_sys_bpf() helper. Running it creates the maps and programs and writes their fds into
 * its context (ctx); read them back with bpf_loader__fd(). The blob map, the loader program
 * and the ctx layout follow loader contract v1 (docs/loader-contract.md): a 32-byte header
 * (sz, flags, log_level, log_size, log_buf, error_step), then 16 bytes per map (fd at +0)
 * and 8 bytes per program (fd at +0). The running is the C light skeletons' own runtime,
 * bpf_build/include/bpf_build/loader.h.
 *
 * Errors: functions returning a pointer return NULL and set errno; functions returning int
 * return a negative errno (and set errno). libbpf_build_errstr() says which step failed.
 */
#ifndef __LIBBPFBUILD_BPF_LOADER_H
#define __LIBBPFBUILD_BPF_LOADER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LIBBPF_BUILD_API
#define LIBBPF_BUILD_API __attribute__((visibility("default")))
#endif

/* The release; the newest node of libbpf.map is LIBBPF_<MAJOR>.<MINOR>.0. */
#define LIBBPF_BUILD_MAJOR_VERSION 0
#define LIBBPF_BUILD_MINOR_VERSION 1

struct bpf_loader;

/* Options follow libbpf's opts convention: set sz to sizeof(struct bpf_loader_opts) and zero
 * the rest, so the struct can grow at its end without breaking older callers. */
struct bpf_loader_opts {
	size_t sz;
	/* verifier log of the loader program itself, for debugging a loader that is rejected; and,
	 * in bpf_loader__load_and_run_file with ctx NULL, of the step that failed */
	char *log_buf;
	unsigned int log_size;
	unsigned int log_level;
};

/* Load the loader program (insns_sz bytes of struct bpf_insn) with its data blob and run it
 * once on ctx (ctx_sz <= 65535 bytes, may be 0). The kernel's updated ctx is copied back into
 * ctx, on failure too (error_step tells which step of the loader failed), and kept in the
 * returned loader. */
LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run(const void *insns, size_t insns_sz, const void *data, size_t data_sz,
			 void *ctx, size_t ctx_sz, const struct bpf_loader_opts *opts);

/* The same for a loader program serialised by bpf_build.loader.gen (LoaderProgram.to_bytes(),
 * magic "BPFBLDR1"). With ctx NULL the library builds the contract's ctx itself: zeroed, sz set,
 * and possible-CPU counts for PERF_EVENT_ARRAY maps; a loader that needs kconfig values then
 * fails with EOPNOTSUPP (build that ctx with bpf_build.runtime instead). That ctx has no log;
 * when a step fails and opts has a log, the loader runs again with the opts log in the ctx, as a
 * light skeleton does, so the log ends with the failing program's verifier log (or the BTF log
 * if the BTF load failed; other loads keep the BTF load unlogged, ctx flags bit 0). */
LIBBPF_BUILD_API struct bpf_loader *
bpf_loader__load_and_run_file(const char *path, void *ctx, size_t ctx_sz,
			      const struct bpf_loader_opts *opts);

/* The fd the loader program stored as an int at byte offset ctx_offset of its ctx. The fd
 * belongs to the caller: bpf_loader__free() does not close it. */
LIBBPF_BUILD_API int bpf_loader__fd(const struct bpf_loader *loader, size_t ctx_offset);

/* The ctx as the loader program left it. */
LIBBPF_BUILD_API const void *bpf_loader__ctx(const struct bpf_loader *loader, size_t *ctx_sz);

LIBBPF_BUILD_API void bpf_loader__free(struct bpf_loader *loader);

/* Which step of the last failed call in this thread failed, e.g. "failed to load loader prog". */
LIBBPF_BUILD_API const char *libbpf_build_errstr(void);

/* "MAJOR.MINOR.PATCH" of this library. */
LIBBPF_BUILD_API const char *libbpf_build_version(void);

#ifdef __cplusplus
}
#endif

#endif /* __LIBBPFBUILD_BPF_LOADER_H */
