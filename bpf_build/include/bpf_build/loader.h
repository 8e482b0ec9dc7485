/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bpf_build/loader.h: the run-time half of bpf-build's C light skeletons (X.lskel.h).
 *
 * Header-only, no libbpf, no libelf. It runs a loader program as the loader contract (version 1,
 * docs/loader-contract.md) describes: create the blob map, load the sleepable syscall loader, run
 * it with BPF_PROG_TEST_RUN on a context that carries the maps' sizes and initial values and gets
 * the fds back. The contract's numbers are stated in bpf_build/runtime/loader_contract.py;
 * tests/loader/test_contract.py checks this header's structs and #defines against them.
 *
 * It also resolves .kconfig externs on the machine that loads (reading /boot/config-$(uname -r)
 * or /proc/config.gz with its own small inflater), and attaches the program types a section name
 * fully describes.
 *
 * Every bpf_attr used here is declared locally with the kernel's layout, so this compiles
 * against old UAPI headers (Debian 12 ships 6.1's).
 *
 * libbpfbuild/ (the loader library for FFI callers) is built on this header too: the running
 * below (bpf_build_run_once, bpf_build_rerun_with_log) is the one implementation of both.
 */
#ifndef __BPF_BUILD_LOADER_H__
#define __BPF_BUILD_LOADER_H__

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdbool.h>	/* global data structs of light skeletons use bool */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <linux/types.h>

#ifndef __NR_bpf
#error "__NR_bpf is not defined for this architecture"
#endif

/* ---- the context, as the loader contract lays it out --------------------------------------- */

struct bpf_build_loader_ctx {
	__u32 sz;		/* total context size */
	__u32 flags;		/* in: BPF_BUILD_CTX_NO_BTF_LOG */
	__u32 log_level;	/* in: verifier/BTF log level */
	__u32 log_size;		/* in: size of log_buf */
	__u64 log_buf;		/* in: address of a log buffer */
	__u32 error_step;	/* out: last step attempted (the failing one on error) */
	__u32 reserved;
};

/* Give the BTF load no log: a retry for a program's verifier log then shows only that. */
#define BPF_BUILD_CTX_NO_BTF_LOG 1U

struct bpf_build_map_desc {
	int map_fd;		/* out */
	__u32 max_entries;	/* in: 0 = as compiled */
	__u64 initial_value;	/* in: address of the value to start with, 0 = as compiled */
};

enum {
	BPF_BUILD_LOAD_DEFAULT = 0,	/* load unless the section was SEC("?...") */
	BPF_BUILD_LOAD_YES = 1,
	BPF_BUILD_LOAD_NO = 2,
};

struct bpf_build_prog_desc {
	int prog_fd;		/* out */
	__u32 load;		/* in: BPF_BUILD_LOAD_* */
};

/* What a skeleton passes to bpf_build_load_and_run(). */
struct bpf_build_load_opts {
	struct bpf_build_loader_ctx *ctx;
	const void *data;		/* the blob */
	const void *insns;		/* the loader's instructions */
	__u32 data_sz;
	__u32 insns_sz;
	const char *name;		/* skeleton name, for messages */
	const char *const *steps;	/* what each step does, for messages */
	__u32 nr_steps;
	int quiet;			/* do not print failures to stderr */
	int btf_step_first;		/* step 1 is the BTF load */
	/* out */
	const char *errstr;
	char *log;			/* the verifier log of a failed load (owned by the caller) */
	/* for runners whose ctx is not a skeleton's (libbpfbuild), zero in a skeleton */
	__u32 ctx_sz;			/* bytes at ctx the kernel gets, if not ctx->sz; with ctx NULL
					 * and ctx_sz 0 the loader runs without a context */
	char *loader_log_buf;		/* verifier log of the loader program itself */
	__u32 loader_log_size;
	__u32 loader_log_level;
};

/* Where a failed load stopped; kept in the skeleton after X__load() fails. */
struct bpf_build_load_error {
	int err;			/* negative errno */
	__u32 step;			/* 0: before the loader ran */
	const char *step_text;
	char *log;			/* verifier/BTF log, or NULL */
};

/* Define to 1 before including a skeleton to keep X__load() from printing why it failed (the
 * reason, failing step and verifier log stay in skel->load_error either way). */
#ifndef BPF_BUILD_LOADER_QUIET
#define BPF_BUILD_LOADER_QUIET 0
#endif

/* The type of tristate .kconfig externs, as libbpf declares it (include <bpf/libbpf.h> first if
 * a file uses both). */
#ifndef __LIBBPF_LIBBPF_H
enum libbpf_tristate {
	TRI_NO = 0,
	TRI_YES = 1,
	TRI_MODULE = 2,
};
#endif

/* ---- bpf(2) ------------------------------------------------------------------------------- */

#define BPF_BUILD_CMD_MAP_CREATE	0
#define BPF_BUILD_CMD_MAP_UPDATE_ELEM	2
#define BPF_BUILD_CMD_PROG_LOAD		5
#define BPF_BUILD_CMD_PROG_TEST_RUN	10
#define BPF_BUILD_CMD_RAW_TP_OPEN	17
#define BPF_BUILD_CMD_MAP_FREEZE	22
#define BPF_BUILD_CMD_LINK_CREATE	28

#define BPF_BUILD_PROG_TYPE_SYSCALL	31
#define BPF_BUILD_MAP_TYPE_ARRAY	2
#define BPF_BUILD_F_SLEEPABLE		(1U << 4)
#define BPF_BUILD_TRACE_ITER		28
#define BPF_BUILD_LOADER_LICENSE	"Dual BSD/GPL"
#define BPF_BUILD_INSN_SIZE		8	/* sizeof(struct bpf_insn) */

struct bpf_build_attr_map_create {
	__u32 map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node;
	char map_name[16];
	__u32 map_ifindex, btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id;
	__u64 map_extra;
};

struct bpf_build_attr_map_elem {
	__u32 map_fd, pad;
	__u64 key, value, flags;
};

struct bpf_build_attr_prog_load {
	__u32 prog_type, insn_cnt;
	__u64 insns, license;
	__u32 log_level, log_size;
	__u64 log_buf;
	__u32 kern_version, prog_flags;
	char prog_name[16];
	__u32 prog_ifindex, expected_attach_type, prog_btf_fd, func_info_rec_size;
	__u64 func_info;
	__u32 func_info_cnt, line_info_rec_size;
	__u64 line_info;
	__u32 line_info_cnt, attach_btf_id, attach_btf_obj_fd, core_relo_cnt;
	__u64 fd_array;
};

struct bpf_build_attr_test_run {
	__u32 prog_fd, retval, data_size_in, data_size_out;
	__u64 data_in, data_out;
	__u32 repeat, duration, ctx_size_in, ctx_size_out;
	__u64 ctx_in, ctx_out;
	__u32 flags, cpu;
};

struct bpf_build_attr_raw_tp {
	__u64 name;
	__u32 prog_fd, pad;
};

struct bpf_build_attr_link_create {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u64 pad[2];
};

static inline long bpf_build_sys_bpf(int cmd, void *attr, unsigned int size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

static inline int bpf_build_closenz(int fd)
{
	return fd > 0 ? close(fd) : -EINVAL;
}

/* Close every fd of a load (nr_maps map descriptors, then nr_progs program descriptors, as the
 * context lays them out) and zero them: for a runner's step after the loader's run that failed. */
static inline void bpf_build_close_load_fds(struct bpf_build_map_desc *maps, __u32 nr_maps,
					    struct bpf_build_prog_desc *progs, __u32 nr_progs)
{
	__u32 i;

	for (i = 0; i < nr_maps; i++) {
		bpf_build_closenz(maps[i].map_fd);
		maps[i].map_fd = 0;
	}
	for (i = 0; progs && i < nr_progs; i++) {
		bpf_build_closenz(progs[i].prog_fd);
		progs[i].prog_fd = 0;
	}
}

#define BPF_BUILD_CMD_OBJ_GET_INFO_BY_FD	15

/* BPF_OBJ_GET_INFO_BY_FD into info (size bytes; the kernel fills what it knows, the rest stays as
 * given). Returns 0 or -errno. */
static inline int bpf_build_obj_info(int fd, void *info, __u32 size)
{
	struct { __u32 bpf_fd, info_len; __u64 info; } a;

	memset(&a, 0, sizeof(a));
	a.bpf_fd = (__u32)fd;
	a.info_len = size;
	a.info = (__u64)(unsigned long)info;
	return bpf_build_sys_bpf(BPF_BUILD_CMD_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0 ? -errno : 0;
}

/* A one-line reason into msg, cut to msg_size (paths and names may be long). */
static inline int __attribute__((format(printf, 3, 4)))
bpf_build_msg(char *msg, size_t msg_size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, msg_size, fmt, ap);
	va_end(ap);
	return n;
}

/* A skeleton call failing with the negative errno err: errno says it too, as libbpf's do. */
static inline int bpf_build_fail(int err)
{
	errno = -err;
	return err;
}

/* ---- small helpers ------------------------------------------------------------------------ */

static inline size_t bpf_build_mmap_size(__u32 value_size, __u32 max_entries)
{
	size_t page = (size_t)sysconf(_SC_PAGE_SIZE);
	size_t sz = (((size_t)value_size + 7) / 8) * 8 * (max_entries ? max_entries : 1);

	return (sz + page - 1) / page * page;
}

/* Anonymous shared memory holding a global-data map's initial value until the map exists. */
static inline void *bpf_build_prep_map_data(const void *val, size_t mmap_sz, size_t val_sz)
{
	void *addr = mmap(NULL, mmap_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (addr == MAP_FAILED)
		return NULL;
	memcpy(addr, val, val_sz);
	return addr;
}

/* Map the created map over the same address, so skel->bss keeps pointing at the live data. */
static inline void *bpf_build_finalize_map_data(__u64 *init_val, size_t mmap_sz, int prot, int fd)
{
	void *addr = mmap((void *)(long)*init_val, mmap_sz, prot, MAP_SHARED | MAP_FIXED, fd, 0);

	return addr == MAP_FAILED ? NULL : addr;
}

static inline void bpf_build_free_map_data(void *p, size_t sz)
{
	if (p)
		munmap(p, sz);
}

static inline int bpf_build_possible_cpus(void)
{
	char buf[256];
	int fd, n = 0, lo, hi;
	ssize_t len;
	char *p;

	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -EINVAL;
	buf[len] = 0;
	for (p = buf; *p && *p != '\n';) {
		char *start = p;

		lo = hi = (int)strtol(p, &p, 10);
		if (p == start)
			return -EINVAL;	/* not a cpulist: stop instead of spinning on it */
		if (*p == '-')
			hi = (int)strtol(p + 1, &p, 10);
		n += hi - lo + 1;
		if (*p == ',')
			p++;
	}
	return n;
}

static inline char *bpf_build_read_file(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = (char *)malloc(cap + 1), *tmp;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			tmp = (char *)realloc(buf, cap * 2 + 1);
			if (!tmp) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = tmp;
			cap *= 2;
		}
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* ---- gunzip, enough for /proc/config.gz (RFC 1951/1952, no dictionary) ------------------- */

struct bpf_build_inflate {
	const unsigned char *in;
	size_t in_len, in_pos;
	__u32 bits, nbits;
	unsigned char *out;
	size_t out_len, out_cap;
	int err;
};

struct bpf_build_huffman {
	short count[16];	/* codes of each length */
	short symbol[320];	/* symbols by code */
};

static inline unsigned bpf_build_getbits(struct bpf_build_inflate *s, unsigned n)
{
	unsigned v;

	while (s->nbits < n) {
		if (s->in_pos >= s->in_len) {
			s->err = -EINVAL;
			return 0;
		}
		s->bits |= (__u32)s->in[s->in_pos++] << s->nbits;
		s->nbits += 8;
	}
	v = s->bits & ((1U << n) - 1);
	s->bits >>= n;
	s->nbits -= n;
	return v;
}

static inline int bpf_build_put(struct bpf_build_inflate *s, unsigned char c)
{
	unsigned char *tmp;

	if (s->out_len == s->out_cap) {
		tmp = (unsigned char *)realloc(s->out, s->out_cap ? s->out_cap * 2 : 1 << 16);
		if (!tmp)
			return s->err = -ENOMEM;
		s->out = tmp;
		s->out_cap = s->out_cap ? s->out_cap * 2 : 1 << 16;
	}
	s->out[s->out_len++] = c;
	return 0;
}

/* Canonical Huffman codes from code lengths; a negative result means an over-full set. */
static inline int bpf_build_huff_build(struct bpf_build_huffman *h, const short *lengths, int n)
{
	short offs[16];
	int len, sym, left = 1;

	memset(h->count, 0, sizeof(h->count));
	for (sym = 0; sym < n; sym++)
		h->count[lengths[sym]]++;
	if (h->count[0] == n)
		return 0;
	for (len = 1; len < 16; len++) {
		left = left * 2 - h->count[len];
		if (left < 0)
			return -1;
	}
	offs[1] = 0;
	for (len = 1; len < 15; len++)
		offs[len + 1] = offs[len] + h->count[len];
	for (sym = 0; sym < n; sym++)
		if (lengths[sym])
			h->symbol[offs[lengths[sym]]++] = (short)sym;
	return left;
}

/* Read one symbol bit by bit: codes of each length are consecutive integers. */
static inline int bpf_build_huff_decode(struct bpf_build_inflate *s, const struct bpf_build_huffman *h)
{
	int code = 0, first = 0, index = 0, len, count;

	for (len = 1; len < 16; len++) {
		code |= (int)bpf_build_getbits(s, 1);
		if (s->err)
			return -1;
		count = h->count[len];
		if (code - first < count)
			return h->symbol[index + code - first];
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	s->err = -EINVAL;
	return -1;
}

static inline int bpf_build_inflate_codes(struct bpf_build_inflate *s,
					  const struct bpf_build_huffman *lit,
					  const struct bpf_build_huffman *dist)
{
	static const short len_base[29] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
	static const short len_extra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3,
		3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
	static const unsigned short dist_base[30] = { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65,
		97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289,
		16385, 24577 };
	static const short dist_extra[30] = { 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
		8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };
	int sym;
	size_t len, d;

	for (;;) {
		sym = bpf_build_huff_decode(s, lit);
		if (s->err || sym < 0)
			return -EINVAL;
		if (sym < 256) {
			if (bpf_build_put(s, (unsigned char)sym))
				return s->err;
			continue;
		}
		if (sym == 256)
			return 0;
		sym -= 257;
		if (sym >= 29)
			return -EINVAL;
		len = (size_t)len_base[sym] + bpf_build_getbits(s, (unsigned)len_extra[sym]);
		sym = bpf_build_huff_decode(s, dist);
		if (s->err || sym < 0 || sym >= 30)
			return -EINVAL;
		d = (size_t)dist_base[sym] + bpf_build_getbits(s, (unsigned)dist_extra[sym]);
		if (s->err || d > s->out_len)
			return -EINVAL;
		while (len--)
			if (bpf_build_put(s, s->out[s->out_len - d]))
				return s->err;
	}
}

static inline int bpf_build_inflate_block(struct bpf_build_inflate *s, unsigned type)
{
	static const unsigned char order[19] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13,
		2, 14, 1, 15 };
	struct bpf_build_huffman lit, dist;
	short lengths[320];
	int i, nlen, ndist, ncode, sym, rep;

	if (type == 1) {	/* fixed codes */
		for (i = 0; i < 144; i++)
			lengths[i] = 8;
		for (; i < 256; i++)
			lengths[i] = 9;
		for (; i < 280; i++)
			lengths[i] = 7;
		for (; i < 288; i++)
			lengths[i] = 8;
		bpf_build_huff_build(&lit, lengths, 288);
		for (i = 0; i < 30; i++)
			lengths[i] = 5;
		bpf_build_huff_build(&dist, lengths, 30);
		return bpf_build_inflate_codes(s, &lit, &dist);
	}
	nlen = (int)bpf_build_getbits(s, 5) + 257;
	ndist = (int)bpf_build_getbits(s, 5) + 1;
	ncode = (int)bpf_build_getbits(s, 4) + 4;
	if (s->err || nlen > 286 || ndist > 30)
		return -EINVAL;
	memset(lengths, 0, sizeof(lengths));
	for (i = 0; i < ncode; i++)
		lengths[order[i]] = (short)bpf_build_getbits(s, 3);
	if (bpf_build_huff_build(&lit, lengths, 19) != 0)
		return -EINVAL;
	for (i = 0; i < nlen + ndist;) {
		sym = bpf_build_huff_decode(s, &lit);
		if (s->err || sym < 0)
			return -EINVAL;
		if (sym < 16) {
			lengths[i++] = (short)sym;
			continue;
		}
		if (sym == 16) {
			if (i == 0)
				return -EINVAL;
			rep = 3 + (int)bpf_build_getbits(s, 2);
			sym = lengths[i - 1];
		} else {
			rep = sym == 17 ? 3 + (int)bpf_build_getbits(s, 3) : 11 + (int)bpf_build_getbits(s, 7);
			sym = 0;
		}
		if (i + rep > nlen + ndist)
			return -EINVAL;
		while (rep--)
			lengths[i++] = (short)sym;
	}
	if (lengths[256] == 0)
		return -EINVAL;
	if (bpf_build_huff_build(&lit, lengths, nlen) < 0 ||
	    bpf_build_huff_build(&dist, lengths + nlen, ndist) < 0)
		return -EINVAL;
	return bpf_build_inflate_codes(s, &lit, &dist);
}

/* Decompress a gzip file's bytes; returns malloc'ed NUL-terminated text or NULL. */
static inline char *bpf_build_gunzip(const unsigned char *in, size_t in_len, size_t *out_len)
{
	struct bpf_build_inflate s;
	unsigned flags, last, type, n;
	size_t pos = 10;

	if (in_len < 18 || in[0] != 0x1f || in[1] != 0x8b || in[2] != 8)
		return NULL;
	flags = in[3];
	if (flags & 4)	/* FEXTRA */
		pos += 2 + (size_t)(in[pos] | in[pos + 1] << 8);
	if (flags & 8)	/* FNAME */
		while (pos < in_len && in[pos++]);
	if (flags & 16)	/* FCOMMENT */
		while (pos < in_len && in[pos++]);
	if (flags & 2)	/* FHCRC */
		pos += 2;
	if (pos >= in_len)
		return NULL;
	memset(&s, 0, sizeof(s));
	s.in = in + pos;
	s.in_len = in_len - pos;
	do {
		last = bpf_build_getbits(&s, 1);
		type = bpf_build_getbits(&s, 2);
		if (s.err)
			break;
		if (type == 0) {	/* stored */
			s.bits = s.nbits = 0;
			if (s.in_pos + 4 > s.in_len) {
				s.err = -EINVAL;
				break;
			}
			n = s.in[s.in_pos] | s.in[s.in_pos + 1] << 8;
			s.in_pos += 4;
			if (s.in_pos + n > s.in_len) {
				s.err = -EINVAL;
				break;
			}
			while (n-- && !s.err)
				bpf_build_put(&s, s.in[s.in_pos++]);
		} else if (type == 3 || bpf_build_inflate_block(&s, type)) {
			s.err = -EINVAL;
		}
	} while (!last && !s.err);
	if (s.err || bpf_build_put(&s, 0)) {
		free(s.out);
		return NULL;
	}
	*out_len = s.out_len - 1;
	return (char *)s.out;
}

/* ---- .kconfig externs, resolved on the machine that loads -------------------------------- */

enum {
	BPF_BUILD_KCFG_BOOL,
	BPF_BUILD_KCFG_TRISTATE,
	BPF_BUILD_KCFG_CHAR,
	BPF_BUILD_KCFG_INT,
	BPF_BUILD_KCFG_CHAR_ARRAY,
};

struct bpf_build_kconfig_var {
	const char *name;
	__u32 type;		/* BPF_BUILD_KCFG_* */
	__u32 size;
	__u32 offset;		/* in the .kconfig map value */
	__u8 is_signed;
	__u8 weak;
};

/* The running kernel's config as text; NULL if neither file can be read. */
static inline char *bpf_build_kernel_config(void)
{
	struct utsname u;
	char path[300];
	size_t len, text_len;
	char *raw, *text;

	if (uname(&u) == 0) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		text = bpf_build_read_file(path, &len);
		if (text)
			return text;
	}
	raw = bpf_build_read_file("/proc/config.gz", &len);
	if (!raw)
		return NULL;
	text = bpf_build_gunzip((const unsigned char *)raw, len, &text_len);
	free(raw);
	return text;
}

/* The value of NAME in config text: "y", "1000", "\"str\"", or "n" for "# NAME is not set". */
static inline const char *bpf_build_config_lookup(const char *config, const char *name, size_t *len)
{
	size_t n = strlen(name);
	const char *p, *line, *end;

	for (line = config; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (strncmp(line, name, n) == 0 && line[n] == '=') {
			p = line + n + 1;
			*len = end ? (size_t)(end - p) : strlen(p);
			return p;
		}
		if (line[0] == '#' && strncmp(line + 2, name, n) == 0 &&
		    strncmp(line + 2 + n, " is not set", 11) == 0) {
			*len = 1;
			return "n";
		}
	}
	return NULL;
}

static inline int bpf_build_kernel_version(void)
{
	struct utsname u;
	int a = 0, b = 0, c = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d.%d", &a, &b, &c) < 2)
		return -EINVAL;
	return (a << 16) | (b << 8) | (c > 255 ? 255 : c);
}

/* Whether a tracepoint program may call bpf_get_attach_cookie() (Linux 5.15): the value of
 * LINUX_HAS_BPF_COOKIE, asked of the kernel as libbpf does, not assumed. */
static inline int bpf_build_has_bpf_cookie(void)
{
	/* call get_attach_cookie (174); r0 = 0; exit -- struct bpf_insn's bytes as u64s: the
	 * opcode is the first byte, imm the last four (no registers or offsets used) */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	static const __u64 insns[3] = { (__u64)0x85 << 56 | 174, (__u64)0xb7 << 56, (__u64)0x95 << 56 };
#else
	static const __u64 insns[3] = { (__u64)174 << 32 | 0x85, 0xb7, 0x95 };
#endif
	struct bpf_build_attr_prog_load attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = 5; /* BPF_PROG_TYPE_TRACEPOINT */
	attr.insn_cnt = 3;
	attr.insns = (__u64)(unsigned long)insns;
	attr.license = (__u64)(unsigned long)"GPL";
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static inline int bpf_build_has_syscall_wrapper(void)
{
#if defined(__x86_64__)
	const char *sym = " __x64_sys_bpf\n";
#elif defined(__aarch64__)
	const char *sym = " __arm64_sys_bpf\n";
#elif defined(__s390x__)
	const char *sym = " __s390x_sys_bpf\n";
#elif defined(__riscv)
	const char *sym = " __riscv_sys_bpf\n";
#else
	const char *sym = NULL;
#endif
	size_t len;
	char *all;
	int found;

	if (!sym)
		return 0;
	all = bpf_build_read_file("/proc/kallsyms", &len);
	if (!all)
		return 0;
	found = strstr(all, sym) != NULL;
	free(all);
	return found;
}

static inline int bpf_build_kcfg_store(const struct bpf_build_kconfig_var *v, void *buf,
				       const char *val, size_t len)
{
	char tmp[64], *end;
	unsigned long long u;
	long long s;
	unsigned char *dst = (unsigned char *)buf + v->offset;
	int tri = len == 1 ? (val[0] == 'y' ? 1 : val[0] == 'n' ? 0 : val[0] == 'm' ? 2 : -1) : -1;

	if (tri >= 0 && v->type != BPF_BUILD_KCFG_INT && v->type != BPF_BUILD_KCFG_CHAR_ARRAY) {
		if (v->type == BPF_BUILD_KCFG_BOOL) {
			if (tri == 2)
				return -EINVAL;	/* a module, but the extern is a bool */
			*dst = (unsigned char)tri;
		} else if (v->type == BPF_BUILD_KCFG_TRISTATE) {
			__u32 t = (__u32)tri;

			memcpy(dst, &t, sizeof(t));
		} else {
			*dst = (unsigned char)val[0];
		}
		return 0;
	}
	if (v->type == BPF_BUILD_KCFG_CHAR_ARRAY) {
		if (len < 2 || val[0] != '"' || val[len - 1] != '"')
			return -EINVAL;
		len -= 2;
		if (len > v->size - 1)
			len = v->size - 1;	/* truncated, always NUL-terminated */
		memset(dst, 0, v->size);
		memcpy(dst, val + 1, len);
		return 0;
	}
	if (v->type != BPF_BUILD_KCFG_INT || len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, val, len);
	tmp[len] = 0;
	errno = 0;
	if (v->is_signed) {
		s = strtoll(tmp, &end, 0);
		if (*end || errno || (v->size < 8 && (s < -(1LL << (v->size * 8 - 1)) ||
						      s >= (1LL << (v->size * 8 - 1)))))
			return -ERANGE;
		u = (unsigned long long)s;
	} else {
		u = strtoull(tmp, &end, 0);
		if (*end || errno || (v->size < 8 && u >> (v->size * 8)))
			return -ERANGE;
	}
	switch (v->size) {
	case 1: { __u8 x = (__u8)u; memcpy(dst, &x, 1); break; }
	case 2: { __u16 x = (__u16)u; memcpy(dst, &x, 2); break; }
	case 4: { __u32 x = (__u32)u; memcpy(dst, &x, 4); break; }
	default: memcpy(dst, &u, 8); break;
	}
	return 0;
}

/* Fill ``buf`` (the .kconfig map value) with this machine's values: LINUX_* from the running
 * kernel, CONFIG_* from its config; a bool or tristate that is not set is "n", any other unset
 * extern is an error unless it is __weak (then it stays 0). Prints what it cannot resolve. */
static inline int bpf_build_kconfig_fill(void *buf, const struct bpf_build_kconfig_var *vars,
					 int n, const char *skel_name)
{
	char *config = NULL, num[24];
	const char *val;
	size_t len;
	int i, err = 0, need_config = 0;

	for (i = 0; i < n; i++)
		need_config |= strncmp(vars[i].name, "CONFIG_", 7) == 0;
	if (need_config)
		config = bpf_build_kernel_config();
	for (i = 0; i < n && !err; i++) {
		const struct bpf_build_kconfig_var *v = &vars[i];

		val = NULL;
		len = 1;
		if (strcmp(v->name, "LINUX_KERNEL_VERSION") == 0) {
			snprintf(num, sizeof(num), "%d", bpf_build_kernel_version());
			val = num;
			len = strlen(num);
		} else if (strcmp(v->name, "LINUX_HAS_BPF_COOKIE") == 0) {
			val = bpf_build_has_bpf_cookie() ? "y" : "n";
		} else if (strcmp(v->name, "LINUX_HAS_SYSCALL_WRAPPER") == 0) {
			val = bpf_build_has_syscall_wrapper() ? "y" : "n";
		} else if (config) {
			val = bpf_build_config_lookup(config, v->name, &len);
		}
		if (!val && (v->type == BPF_BUILD_KCFG_BOOL || v->type == BPF_BUILD_KCFG_TRISTATE)) {
			val = "n";
			len = 1;
		}
		if (!val) {
			if (v->weak)
				continue;
			fprintf(stderr, "%s: kconfig extern %s is not set in this kernel's config%s\n",
				skel_name, v->name, config ? "" : " (no /boot/config-* or /proc/config.gz)");
			err = -ESRCH;
			break;
		}
		err = bpf_build_kcfg_store(v, buf, val, len);
		if (err)
			fprintf(stderr, "%s: kconfig extern %s: value '%.*s' does not fit its type\n",
				skel_name, v->name, (int)len, val);
	}
	free(config);
	return err;
}

/* ---- running the loader ------------------------------------------------------------------- */

/* The ctx bytes a run hands the kernel. */
static inline __u32 bpf_build_ctx_size(const struct bpf_build_load_opts *opts)
{
	if (opts->ctx_sz || !opts->ctx)
		return opts->ctx_sz;
	return opts->ctx->sz;
}

/* One run of the loader (contract steps 1, 2, 5 and 6): a fresh blob map, the loader program, and
 * BPF_PROG_TEST_RUN on the ctx, which the kernel's copy overwrites; the blob map and the loader
 * are closed whatever happens (on failure the loader has closed what it created). Returns the
 * loader's result (>= 0: success) or -errno with opts->errstr saying what failed; *step is the
 * loader's error_step when the loader itself returned the error and the ctx holds it, else 0. */
static inline int bpf_build_run_once(struct bpf_build_load_opts *opts, int *step)
{
	struct bpf_build_attr_map_create mc;
	struct bpf_build_attr_map_elem me;
	struct bpf_build_attr_prog_load pl;
	struct bpf_build_attr_test_run tr;
	__u32 ctx_sz = bpf_build_ctx_size(opts);
	int map_fd = -1, prog_fd = -1, key = 0, err;

	*step = 0;
	memset(&mc, 0, sizeof(mc));
	mc.map_type = BPF_BUILD_MAP_TYPE_ARRAY;
	mc.key_size = 4;
	mc.value_size = opts->data_sz;
	mc.max_entries = 1;
	memcpy(mc.map_name, "__loader.map", sizeof("__loader.map"));
	map_fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_CREATE, &mc, sizeof(mc));
	if (map_fd < 0) {
		opts->errstr = "failed to create loader map";
		return -errno;
	}
	memset(&me, 0, sizeof(me));
	me.map_fd = (__u32)map_fd;
	me.key = (__u64)(unsigned long)&key;
	me.value = (__u64)(unsigned long)opts->data;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_UPDATE_ELEM, &me, sizeof(me)) < 0) {
		err = -errno;
		opts->errstr = "failed to update loader map";
		goto out;
	}
	/* the blob is the loader's input: nothing may change it between load and run */
	memset(&me, 0, sizeof(me));
	me.map_fd = (__u32)map_fd;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_FREEZE, &me, 4) < 0) {
		err = -errno;
		opts->errstr = "failed to freeze loader map";
		goto out;
	}
	memset(&pl, 0, sizeof(pl));
	pl.prog_type = BPF_BUILD_PROG_TYPE_SYSCALL;
	pl.insns = (__u64)(unsigned long)opts->insns;
	pl.insn_cnt = opts->insns_sz / BPF_BUILD_INSN_SIZE;
	pl.license = (__u64)(unsigned long)BPF_BUILD_LOADER_LICENSE;
	/* bpf_sys_bpf() may sleep (it loads programs), so the loader must be sleepable */
	pl.prog_flags = BPF_BUILD_F_SLEEPABLE;
	pl.log_level = opts->loader_log_level;
	pl.log_size = opts->loader_log_size;
	pl.log_buf = (__u64)(unsigned long)opts->loader_log_buf;
	memcpy(pl.prog_name, "__loader.prog", sizeof("__loader.prog"));
	/* the loader addresses its blob as map index 0 of fd_array */
	pl.fd_array = (__u64)(unsigned long)&map_fd;
	prog_fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_LOAD, &pl, sizeof(pl));
	if (prog_fd < 0) {
		err = -errno;
		/* before 5.14 the kernel has no SYSCALL program type (EINVAL) and no fd_array, which
		 * sits past the end of its bpf_attr (E2BIG): say what is missing */
		opts->errstr = err == -EINVAL || err == -E2BIG
			? "failed to load loader prog: this kernel cannot run loader programs "
			  "(BPF_PROG_TYPE_SYSCALL with bpf_sys_bpf, Linux 5.14+)"
			: "failed to load loader prog";
		goto out;
	}
	memset(&tr, 0, sizeof(tr));
	tr.prog_fd = (__u32)prog_fd;
	/* a syscall program's ctx is copied back to ctx_in after the run */
	tr.ctx_in = ctx_sz ? (__u64)(unsigned long)opts->ctx : 0;
	tr.ctx_size_in = ctx_sz;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_TEST_RUN, &tr, sizeof(tr)) < 0) {
		err = -errno;
		opts->errstr = "failed to execute loader prog";
		goto out;
	}
	err = (int)tr.retval;
	if (err < 0) {
		if (ctx_sz >= offsetof(struct bpf_build_loader_ctx, error_step) + sizeof(__u32))
			*step = (int)opts->ctx->error_step;
		opts->errstr = "error returned by loader prog";
	}
out:
	close(map_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}

/* Run again after the loader failed at *step (> 0, so the ctx holds the contract's header), with
 * the ctx's log at log_buf: the buffer then ends with the failing load's verifier (or BTF) log.
 * Every load shares that buffer, and the BTF load logs every type, enough to overflow it and fail
 * with ENOSPC itself; so unless the failing step is the BTF load, BPF_BUILD_CTX_NO_BTF_LOG keeps
 * the BTF load unlogged. The ctx's log settings are cleared afterwards. */
static inline int bpf_build_rerun_with_log(struct bpf_build_load_opts *opts, int *step,
					   char *log_buf, __u32 log_size, __u32 log_level)
{
	struct bpf_build_loader_ctx *ctx = opts->ctx;
	int err;

	ctx->log_level = log_level;
	ctx->log_size = log_size;
	ctx->log_buf = (__u64)(unsigned long)log_buf;
	if (*step > 1 || !opts->btf_step_first)
		ctx->flags |= BPF_BUILD_CTX_NO_BTF_LOG;
	err = bpf_build_run_once(opts, step);
	ctx->log_level = 0;
	ctx->log_size = 0;
	ctx->log_buf = 0;
	ctx->flags &= ~BPF_BUILD_CTX_NO_BTF_LOG;
	return err;
}

/* Run the loader; on failure run it again with a verifier log (unless the caller asked for its
 * own), and report which step failed. Returns 0 or a negative errno. */
static inline int bpf_build_load_and_run(struct bpf_build_load_opts *opts,
					 struct bpf_build_load_error *error)
{
	struct bpf_build_loader_ctx *ctx = opts->ctx;
	int step = 0, err, own_log = ctx->log_level == 0;
	__u32 size = 1U << 24;
	char *log = NULL;

	err = bpf_build_run_once(opts, &step);
	if (err < 0 && step && own_log) {
		log = (char *)calloc(1, size);
		if (log)
			err = bpf_build_rerun_with_log(opts, &step, log, size, 1);
	}
	if (err >= 0) {
		free(log);
		return 0;
	}
	if (error) {
		error->err = err;
		error->step = (__u32)step;
		error->step_text = step > 0 && (__u32)step <= opts->nr_steps ? opts->steps[step - 1] : NULL;
		error->log = log;
	}
	if (!opts->quiet) {
		fprintf(stderr, "%s: %s%s%s%s: %s\n", opts->name, opts->errstr,
			step ? " (step " : "", step ? (error && error->step_text ? error->step_text : "?") : "",
			step ? ")" : "", strerror(-err));
		if (log && log[0])
			fprintf(stderr, "-- verifier log --\n%s-- end of verifier log --\n", log);
	}
	if (!error)
		free(log);
	return err;
}

/* ---- attaching ---------------------------------------------------------------------------- */

static inline int bpf_build_raw_tracepoint_open(const char *name, int prog_fd)
{
	struct bpf_build_attr_raw_tp a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.name = (__u64)(unsigned long)name;
	a.prog_fd = (__u32)prog_fd;
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_RAW_TP_OPEN, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

static inline int bpf_build_link_create(int prog_fd, int target_fd, __u32 attach_type)
{
	struct bpf_build_attr_link_create a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.target_fd = (__u32)target_fd;
	a.attach_type = attach_type;
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* SEC("kprobe.multi/FUNC"): one fprobe-based link (Linux 5.18+, CONFIG_FPROBE). Exact function
 * names only: a glob needs tracefs' function list, which the Python runtime expands. */
struct bpf_build_attr_link_kprobe_multi {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u32 multi_flags, cnt;
	__u64 syms, addrs, cookies;
};

static inline int bpf_build_attach_kprobe_multi(const char *func, int retprobe, int prog_fd)
{
	struct bpf_build_attr_link_kprobe_multi a;
	const char *syms[1] = { func };
	int fd;

	if (strpbrk(func, "*?["))
		return -EOPNOTSUPP;
	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.attach_type = 42; /* BPF_TRACE_KPROBE_MULTI */
	a.multi_flags = retprobe ? 1 : 0; /* BPF_F_KPROBE_MULTI_RETURN */
	a.cnt = 1;
	a.syms = (__u64)(unsigned long)syms;
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* perf_event_attr's first 64 bytes: all a tracepoint or kprobe event needs. */
struct bpf_build_perf_attr {
	__u32 type, size;
	__u64 config, sample_period, sample_type, read_format, flags;
	__u32 wakeup_events, bp_type;
	__u64 config1, config2;
};

#define BPF_BUILD_PERF_TYPE_TRACEPOINT	2
#define BPF_BUILD_PERF_IOC_ENABLE	0x2400
#define BPF_BUILD_PERF_IOC_SET_BPF	0x40042408

static inline int bpf_build_perf_event_attach(struct bpf_build_perf_attr *pa, int prog_fd)
{
	int fd, err;

	pa->size = sizeof(*pa);
	fd = (int)syscall(__NR_perf_event_open, pa, -1 /* any pid */, 0 /* cpu */, -1,
			  8 /* PERF_FLAG_FD_CLOEXEC */);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BPF_BUILD_PERF_IOC_SET_BPF, prog_fd) < 0 ||
	    ioctl(fd, BPF_BUILD_PERF_IOC_ENABLE, 0) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;	/* closing it detaches the program */
}

static inline long bpf_build_read_number(const char *path)
{
	size_t len;
	char *text = bpf_build_read_file(path, &len);
	long v;

	if (!text)
		return -ENOENT;
	v = strtol(text, NULL, 0);
	free(text);
	return v;
}

/* "category/name" of SEC("tp/category/name"). */
static inline int bpf_build_attach_tracepoint(const char *target, int prog_fd)
{
	struct bpf_build_perf_attr pa;
	char path[512];
	long id = -ENOENT;
	const char *roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	unsigned i;

	for (i = 0; i < 2 && id < 0; i++) {
		snprintf(path, sizeof(path), "%s/events/%s/id", roots[i], target);
		id = bpf_build_read_number(path);
	}
	if (id < 0)
		return (int)id;
	memset(&pa, 0, sizeof(pa));
	pa.type = BPF_BUILD_PERF_TYPE_TRACEPOINT;
	pa.config = (__u64)id;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	return bpf_build_perf_event_attach(&pa, prog_fd);
}

/* "function" or "function+offset" of SEC("kprobe/...") through the kprobe PMU. */
static inline int bpf_build_attach_kprobe(const char *target, int retprobe, int prog_fd)
{
	struct bpf_build_perf_attr pa;
	char func[256];
	const char *plus = strchr(target, '+');
	long type, bit;
	size_t n = plus ? (size_t)(plus - target) : strlen(target);

	type = bpf_build_read_number("/sys/bus/event_source/devices/kprobe/type");
	if (type < 0)
		return (int)type;
	if (n >= sizeof(func))
		return -ENAMETOOLONG;
	memcpy(func, target, n);
	func[n] = 0;
	memset(&pa, 0, sizeof(pa));
	pa.type = (__u32)type;
	if (retprobe) {
		size_t len;
		char *fmt = bpf_build_read_file("/sys/bus/event_source/devices/kprobe/format/retprobe", &len);

		bit = fmt && strncmp(fmt, "config:", 7) == 0 ? strtol(fmt + 7, NULL, 10) : 0;
		free(fmt);
		pa.config |= 1ULL << bit;
	}
	pa.config1 = (__u64)(unsigned long)func;
	pa.config2 = plus ? strtoull(plus + 1, NULL, 0) : 0;
	return bpf_build_perf_event_attach(&pa, prog_fd);
}

/* SEC("ksyscall/NAME"): a kprobe on this architecture's entry point of syscall NAME (the
 * pt_regs wrapper every kernel since 4.17 has on these architectures). */
static inline int bpf_build_attach_ksyscall(const char *name, int retprobe, int prog_fd)
{
#if defined(__x86_64__)
	static const char prefix[] = "__x64_sys_";
#elif defined(__aarch64__)
	static const char prefix[] = "__arm64_sys_";
#elif defined(__s390x__)
	static const char prefix[] = "__s390x_sys_";
#elif defined(__riscv)
	static const char prefix[] = "__riscv_sys_";
#else
	static const char prefix[] = "sys_";
#endif
	char func[128];

	if ((size_t)snprintf(func, sizeof(func), "%s%s", prefix, name) >= sizeof(func))
		return -ENAMETOOLONG;
	return bpf_build_attach_kprobe(func, retprobe, prog_fd);
}

/* ---- struct_ops maps: the kernel's BTF, the value laid out for it, attach and unregister ---- */
/*
 * A struct_ops map's value is the kernel's struct bpf_struct_ops_<name>, whose layout and member
 * indices only the machine that loads knows. Before the run, bpf_build_struct_ops_prepare()
 * reads that kernel's BTF and writes into a copy of the blob what the loader contract asks
 * ("struct_ops maps" in docs/loader-contract.md): the map's value size and vmlinux value type id,
 * and each program's attach_btf_id and expected_attach_type (its member's index). It also lays
 * out the value for attach (struct bpf_build_struct_ops_value): the data members at the kernel's
 * offsets (matched by name, sizes equal), and the kernel offset of each program member. The BTF
 * reader below checks every offset it follows: a truncated or corrupt BTF is an error, never a
 * read out of bounds.
 *
 * The loader only creates the map and loads the programs, as libbpf's load does. At attach,
 * bpf_build_struct_ops_register() stores the programs' fds in the value and writes it at key 0
 * (libbpf's bpf_map__attach_struct_ops): that registers a legacy .struct_ops map, until key 0 is
 * deleted (bpf_build_struct_ops_unregister); a .struct_ops.link map then registers with a BPF
 * link (Linux 6.4+) for as long as the link lives.
 *
 * A map whose autocreate is off (the skeleton's struct_ops_autocreate.<map>; off by default for
 * SEC("?.struct_ops") and SEC("?.struct_ops.link")) is created as a one-slot placeholder array
 * instead (a loader cannot skip a step; the skeleton closes it after the run), is not looked up
 * in the kernel's BTF and is never attached; as with libbpf, a struct_ops program then loads only
 * if a created map points at it (bpf_build_struct_ops_autoload).
 */

/* Where the kernel's BTF is read from; a test may point it at a stand-in. */
#ifndef BPF_BUILD_KERNEL_BTF_PATH
#define BPF_BUILD_KERNEL_BTF_PATH "/sys/kernel/btf/vmlinux"
#endif

#define BPF_BUILD_BTF_MAGIC		0xeB9F
#define BPF_BUILD_BTF_KIND_INT		1
#define BPF_BUILD_BTF_KIND_PTR		2
#define BPF_BUILD_BTF_KIND_ARRAY	3
#define BPF_BUILD_BTF_KIND_STRUCT	4
#define BPF_BUILD_BTF_KIND_UNION	5
#define BPF_BUILD_BTF_KIND_ENUM		6
#define BPF_BUILD_BTF_KIND_FWD		7
#define BPF_BUILD_BTF_KIND_TYPEDEF	8
#define BPF_BUILD_BTF_KIND_VOLATILE	9
#define BPF_BUILD_BTF_KIND_CONST	10
#define BPF_BUILD_BTF_KIND_RESTRICT	11
#define BPF_BUILD_BTF_KIND_FUNC		12
#define BPF_BUILD_BTF_KIND_FUNC_PROTO	13
#define BPF_BUILD_BTF_KIND_VAR		14
#define BPF_BUILD_BTF_KIND_DATASEC	15
#define BPF_BUILD_BTF_KIND_FLOAT	16
#define BPF_BUILD_BTF_KIND_DECL_TAG	17
#define BPF_BUILD_BTF_KIND_TYPE_TAG	18
#define BPF_BUILD_BTF_KIND_ENUM64	19
#define BPF_BUILD_BTF_MAX_CHAIN		64	/* typedef/modifier/array hops followed at most */

struct bpf_build_btf_type {
	__u32 name_off;
	__u32 info;		/* kind << 24 | vlen, kind_flag in bit 31 */
	__u32 size_or_type;
};

struct bpf_build_btf_member {
	__u32 name_off, type;
	__u32 offset;		/* bits; with kind_flag: bitfield_size << 24 | bit offset */
};

struct bpf_build_btf_array {
	__u32 type, index_type, nelems;
};

/* A parsed BTF: every type id's place in the type section, checked once. */
struct bpf_build_btf {
	unsigned char *data;	/* the whole file (owned) */
	size_t size;
	const unsigned char *types;
	const char *strs;
	__u32 types_len, strs_len;
	__u32 nr_types;		/* ids 1 .. nr_types - 1; 0 is void */
	__u32 *offsets;		/* offsets[id]: where type id starts in types */
};

static inline void bpf_build_btf_free(struct bpf_build_btf *btf)
{
	free(btf->data);
	free(btf->offsets);
	memset(btf, 0, sizeof(*btf));
}

static inline __u32 bpf_build_btf_kind(const struct bpf_build_btf_type *t)
{
	return (t->info >> 24) & 0x1f;
}

static inline __u32 bpf_build_btf_vlen(const struct bpf_build_btf_type *t)
{
	return t->info & 0xffff;
}

/* The bytes following a type's header, which depend on its kind; -1 for a kind unknown here. */
static inline long bpf_build_btf_trailer(const struct bpf_build_btf_type *t)
{
	long vlen = (long)bpf_build_btf_vlen(t);

	switch (bpf_build_btf_kind(t)) {
	case BPF_BUILD_BTF_KIND_INT:
	case BPF_BUILD_BTF_KIND_VAR:
	case BPF_BUILD_BTF_KIND_DECL_TAG:
		return 4;
	case BPF_BUILD_BTF_KIND_ARRAY:
		return (long)sizeof(struct bpf_build_btf_array);
	case BPF_BUILD_BTF_KIND_STRUCT:
	case BPF_BUILD_BTF_KIND_UNION:
	case BPF_BUILD_BTF_KIND_DATASEC:
	case BPF_BUILD_BTF_KIND_ENUM64:
		return 12 * vlen;
	case BPF_BUILD_BTF_KIND_ENUM:
	case BPF_BUILD_BTF_KIND_FUNC_PROTO:
		return 8 * vlen;
	case BPF_BUILD_BTF_KIND_PTR:
	case BPF_BUILD_BTF_KIND_FWD:
	case BPF_BUILD_BTF_KIND_TYPEDEF:
	case BPF_BUILD_BTF_KIND_VOLATILE:
	case BPF_BUILD_BTF_KIND_CONST:
	case BPF_BUILD_BTF_KIND_RESTRICT:
	case BPF_BUILD_BTF_KIND_FUNC:
	case BPF_BUILD_BTF_KIND_FLOAT:
	case BPF_BUILD_BTF_KIND_TYPE_TAG:
		return 0;
	default:
		return -1;
	}
}

/* Walk the type section once: count the types (offsets NULL) or record where each starts. */
static inline const char *bpf_build_btf_walk(const struct bpf_build_btf *btf, __u32 *count, __u32 *offsets)
{
	size_t pos = 0;
	__u32 n = 1;
	long trailer;

	while (pos < btf->types_len) {
		const struct bpf_build_btf_type *t = (const struct bpf_build_btf_type *)(btf->types + pos);

		if (btf->types_len - pos < sizeof(*t))
			return "the type section ends inside a type";
		trailer = bpf_build_btf_trailer(t);
		if (trailer < 0)
			return "a type of a kind this reader does not know";
		if ((size_t)trailer > btf->types_len - pos - sizeof(*t))
			return "the type section ends inside a type";
		if (n == 0x7fffffff)
			return "too many types";
		if (offsets)
			offsets[n] = (__u32)pos;
		n++;
		pos += sizeof(*t) + (size_t)trailer;
	}
	*count = n;
	return NULL;
}

/* Check the header and the sections' bounds, and index the types of btf->data (btf->size
 * bytes, owned by btf from now on). Returns NULL or why the BTF is unusable. */
static inline const char *bpf_build_btf_parse(struct bpf_build_btf *btf)
{
	__u16 magic;
	__u32 hdr_len, type_off, type_len, str_off, str_len, count = 0;
	const char *why;

	if (btf->size < 24)
		return "shorter than a BTF header";
	memcpy(&magic, btf->data, 2);
	if (magic != BPF_BUILD_BTF_MAGIC)
		return magic == 0x9FeB ? "in the other byte order" : "no BTF magic";
	if (btf->data[2] != 1)
		return "a BTF version other than 1";
	memcpy(&hdr_len, btf->data + 4, 4);
	memcpy(&type_off, btf->data + 8, 4);
	memcpy(&type_len, btf->data + 12, 4);
	memcpy(&str_off, btf->data + 16, 4);
	memcpy(&str_len, btf->data + 20, 4);
	if (hdr_len < 24 || hdr_len > btf->size ||
	    (__u64)type_off + type_len > btf->size - hdr_len ||
	    (__u64)str_off + str_len > btf->size - hdr_len)
		return "a section runs past the end of the file";
	if ((hdr_len + type_off) % 4)
		return "the type section is not 4-byte aligned";
	btf->types = btf->data + hdr_len + type_off;
	btf->types_len = type_len;
	btf->strs = (const char *)btf->data + hdr_len + str_off;
	btf->strs_len = str_len;
	if (str_len == 0 || btf->strs[0] || btf->strs[str_len - 1])
		return "the string section does not start and end with a NUL";
	why = bpf_build_btf_walk(btf, &count, NULL);
	if (why)
		return why;
	btf->offsets = (__u32 *)calloc(count, sizeof(__u32));
	if (!btf->offsets)
		return "out of memory";
	btf->nr_types = count;
	return bpf_build_btf_walk(btf, &count, btf->offsets);
}

/* The type of an id, or NULL (void, or an id this BTF does not have). */
static inline const struct bpf_build_btf_type *bpf_build_btf_type_by_id(const struct bpf_build_btf *btf, __u32 id)
{
	if (id == 0 || id >= btf->nr_types)
		return NULL;
	return (const struct bpf_build_btf_type *)(btf->types + btf->offsets[id]);
}

/* A name in the string section ("" for one outside it: the section ends with a NUL, so any
 * offset inside it starts a terminated string). */
static inline const char *bpf_build_btf_name(const struct bpf_build_btf *btf, __u32 name_off)
{
	return name_off < btf->strs_len ? btf->strs + name_off : "";
}

static inline const struct bpf_build_btf_member *bpf_build_btf_members(const struct bpf_build_btf_type *t)
{
	return (const struct bpf_build_btf_member *)(t + 1);
}

/* The first STRUCT called name, 0 if none. */
static inline __u32 bpf_build_btf_find_struct(const struct bpf_build_btf *btf, const char *name)
{
	__u32 id;

	for (id = 1; id < btf->nr_types; id++) {
		const struct bpf_build_btf_type *t = bpf_build_btf_type_by_id(btf, id);

		if (bpf_build_btf_kind(t) == BPF_BUILD_BTF_KIND_STRUCT &&
		    strcmp(bpf_build_btf_name(btf, t->name_off), name) == 0)
			return id;
	}
	return 0;
}

/* Through typedefs and modifiers to the type they name: 0 for void, a missing id or a loop. */
static inline __u32 bpf_build_btf_skip_mods(const struct bpf_build_btf *btf, __u32 id)
{
	int hops;

	for (hops = 0; hops < BPF_BUILD_BTF_MAX_CHAIN; hops++) {
		const struct bpf_build_btf_type *t = bpf_build_btf_type_by_id(btf, id);

		if (!t)
			return 0;
		switch (bpf_build_btf_kind(t)) {
		case BPF_BUILD_BTF_KIND_TYPEDEF:
		case BPF_BUILD_BTF_KIND_VOLATILE:
		case BPF_BUILD_BTF_KIND_CONST:
		case BPF_BUILD_BTF_KIND_RESTRICT:
		case BPF_BUILD_BTF_KIND_TYPE_TAG:
			id = t->size_or_type;
			break;
		default:
			return id;
		}
	}
	return 0;
}

static inline int bpf_build_btf_is_func_ptr(const struct bpf_build_btf *btf, __u32 id)
{
	const struct bpf_build_btf_type *t = bpf_build_btf_type_by_id(btf, bpf_build_btf_skip_mods(btf, id));

	if (!t || bpf_build_btf_kind(t) != BPF_BUILD_BTF_KIND_PTR)
		return 0;
	t = bpf_build_btf_type_by_id(btf, bpf_build_btf_skip_mods(btf, t->size_or_type));
	return t && bpf_build_btf_kind(t) == BPF_BUILD_BTF_KIND_FUNC_PROTO;
}

/* Bytes a value of the type takes (through typedefs, modifiers and arrays); -1 for a type
 * without a size, a chain too long or a size past 4 GiB. */
static inline long long bpf_build_btf_size(const struct bpf_build_btf *btf, __u32 id)
{
	unsigned long long nelems = 1;
	int hops;

	for (hops = 0; hops < BPF_BUILD_BTF_MAX_CHAIN; hops++) {
		const struct bpf_build_btf_type *t = bpf_build_btf_type_by_id(btf, bpf_build_btf_skip_mods(btf, id));
		const struct bpf_build_btf_array *a;

		if (!t)
			return -1;
		switch (bpf_build_btf_kind(t)) {
		case BPF_BUILD_BTF_KIND_INT:
		case BPF_BUILD_BTF_KIND_STRUCT:
		case BPF_BUILD_BTF_KIND_UNION:
		case BPF_BUILD_BTF_KIND_ENUM:
		case BPF_BUILD_BTF_KIND_ENUM64:
		case BPF_BUILD_BTF_KIND_FLOAT:
		case BPF_BUILD_BTF_KIND_DATASEC:
			nelems *= t->size_or_type;
			return nelems >> 32 ? -1 : (long long)nelems;
		case BPF_BUILD_BTF_KIND_PTR:
			nelems *= sizeof(void *);	/* the kernel's pointers are this machine's */
			return nelems >> 32 ? -1 : (long long)nelems;
		case BPF_BUILD_BTF_KIND_ARRAY:
			a = (const struct bpf_build_btf_array *)(t + 1);
			nelems *= a->nelems;
			if (nelems >> 32)
				return -1;
			id = a->type;
			break;
		default:
			return -1;
		}
	}
	return -1;
}

/* Read and index the kernel's BTF; returns 0, or -errno with *why saying what went wrong. */
static inline int bpf_build_btf_load_kernel(struct bpf_build_btf *btf, const char **why)
{
	memset(btf, 0, sizeof(*btf));
	errno = 0;
	btf->data = (unsigned char *)bpf_build_read_file(BPF_BUILD_KERNEL_BTF_PATH, &btf->size);
	if (!btf->data) {
		int err = errno ? -errno : -ENOMEM;

		*why = strerror(-err);
		return err;
	}
	*why = bpf_build_btf_parse(btf);
	if (*why) {
		bpf_build_btf_free(btf);
		return -EINVAL;
	}
	return 0;
}

/* ---- the skeleton's description of its struct_ops maps (the generator's LoaderStructOps) --- */

#define BPF_BUILD_STRUCT_OPS_DATA	0xffffffffU	/* prog_attr and prog of a data member */
#define BPF_BUILD_CMD_MAP_UPDATE_ELEM	2
#define BPF_BUILD_CMD_MAP_DELETE_ELEM	3
#define BPF_BUILD_STRUCT_OPS_ATTACH	44		/* BPF_STRUCT_OPS, the link's attach type */

struct bpf_build_struct_ops_member {
	const char *name;
	__u32 offset, size;	/* in the object's struct */
	__u32 prog_attr;	/* blob offset of its program's BPF_PROG_LOAD attr, or
				 * BPF_BUILD_STRUCT_OPS_DATA */
	__u32 prog;		/* its program's index (context order), or BPF_BUILD_STRUCT_OPS_DATA */
};

struct bpf_build_struct_ops_map {
	const char *map_name;
	const char *type_name;		/* struct <type_name> in the kernel */
	__u32 link;			/* SEC(".struct_ops.link") */
	__u32 map_attr;			/* blob offset of its BPF_MAP_CREATE attr */
	const void *data;		/* the object's bytes of the struct */
	__u32 data_size;
	const struct bpf_build_struct_ops_member *members;
	__u32 nr_members;
	__u32 create;			/* autocreate: 0 = a placeholder, neither laid out nor attached */
};

/* A map's value laid out for this kernel by bpf_build_struct_ops_prepare, written at attach. */
struct bpf_build_struct_ops_value {
	unsigned char *value;	/* struct bpf_struct_ops_<name>: data members set, program pointers NULL */
	__u32 size;
	__u32 nr_progs;
	__u32 *progs;		/* per program member: its program's index, then its offset in value */
};

static inline void bpf_build_struct_ops_values_free(struct bpf_build_struct_ops_value *values, __u32 nr)
{
	__u32 i;

	for (i = 0; i < nr; i++) {
		free(values[i].value);
		free(values[i].progs);
		memset(&values[i], 0, sizeof(values[i]));
	}
}

/* What this kernel says of one struct_ops type. */
struct bpf_build_struct_ops_kernel {
	__u32 struct_id;	/* struct <name>: the programs' attach_btf_id */
	__u32 value_id;		/* struct bpf_struct_ops_<name>: btf_vmlinux_value_type_id */
	__u32 value_size;
	__u32 data_offset;	/* of the value's "data" member */
	const struct bpf_build_btf_type *st;
};

static inline const char *bpf_build_kernel_release(struct utsname *u)
{
	return uname(u) == 0 ? u->release : "?";
}

/* Find struct <name> and struct bpf_struct_ops_<name> in the kernel's BTF, as the Python runtime
 * does (runtime/struct_ops.py: kernel_layout), with the same wording when they are missing. */
static inline int bpf_build_struct_ops_kernel_layout(const struct bpf_build_btf *btf,
						     const struct bpf_build_struct_ops_map *m,
						     struct bpf_build_struct_ops_kernel *k,
						     char *msg, size_t msg_size)
{
	const struct bpf_build_btf_type *value;
	const struct bpf_build_btf_member *mem;
	struct utsname u;
	char value_name[160];
	__u32 i;

	memset(k, 0, sizeof(*k));
	snprintf(value_name, sizeof(value_name), "bpf_struct_ops_%s", m->type_name);
	k->value_id = bpf_build_btf_find_struct(btf, value_name);
	if (!k->value_id) {
		if (!bpf_build_btf_find_struct(btf, "bpf_struct_ops_common_value") &&
		    !bpf_build_btf_find_struct(btf, "bpf_struct_ops_value"))
			snprintf(msg, msg_size, "struct_ops map '%s': struct_ops cannot load on this kernel (%s): "
				 "it has no struct_ops support (Linux 5.6+ with CONFIG_BPF_JIT)",
				 m->map_name, bpf_build_kernel_release(&u));
		else
			snprintf(msg, msg_size, "struct_ops map '%s': struct_ops cannot load on this kernel (%s): "
				 "it registers no struct_ops type 'struct %s' ('struct %s' is not in its BTF)",
				 m->map_name, bpf_build_kernel_release(&u), m->type_name, value_name);
		return -EOPNOTSUPP;
	}
	if (m->link && !bpf_build_btf_find_struct(btf, "bpf_struct_ops_link")) {
		snprintf(msg, msg_size, "struct_ops map '%s': SEC(\".struct_ops.link\") cannot load on this kernel "
			 "(%s): it has no BPF links for struct_ops (Linux 6.4+); SEC(\".struct_ops\") registers "
			 "without one", m->map_name, bpf_build_kernel_release(&u));
		return -EOPNOTSUPP;
	}
	k->struct_id = bpf_build_btf_find_struct(btf, m->type_name);
	value = bpf_build_btf_type_by_id(btf, k->value_id);
	mem = bpf_build_btf_members(value);
	for (i = 0; i < bpf_build_btf_vlen(value); i++)
		if (strcmp(bpf_build_btf_name(btf, mem[i].name_off), "data") == 0)
			break;
	if (!k->struct_id || i == bpf_build_btf_vlen(value)) {
		snprintf(msg, msg_size, "struct_ops map '%s': the kernel's 'struct %s' has no 'data' of 'struct %s'",
			 m->map_name, value_name, m->type_name);
		return -EOPNOTSUPP;
	}
	k->data_offset = (value->info >> 31 ? mem[i].offset & 0xffffff : mem[i].offset) / 8;
	k->value_size = value->size_or_type;
	k->st = bpf_build_btf_type_by_id(btf, k->struct_id);
	return 0;
}

static inline void bpf_build_put_u32(unsigned char *blob, __u32 offset, __u32 v)
{
	memcpy(blob + offset, &v, sizeof(v));
}

/* Patch one map's and its programs' attrs in blob (blob_size bytes), as the contract says, and
 * lay out its value in *v (freed by bpf_build_struct_ops_values_free, on failure too). */
static inline int bpf_build_struct_ops_fill(const struct bpf_build_btf *btf, unsigned char *blob, __u32 blob_size,
					    const struct bpf_build_struct_ops_map *m,
					    struct bpf_build_struct_ops_value *v, char *msg, size_t msg_size)
{
	const struct bpf_build_btf_member *km;
	struct bpf_build_struct_ops_kernel k;
	unsigned char *value;
	struct utsname u;
	__u32 i, j, nr_progs = 0, offset, kernel_members;
	long long size;
	int err;

	if ((__u64)m->map_attr + sizeof(struct bpf_build_attr_map_create) > blob_size) {
		snprintf(msg, msg_size, "struct_ops map '%s': the skeleton's blob offsets are out of range", m->map_name);
		return -EINVAL;
	}
	err = bpf_build_struct_ops_kernel_layout(btf, m, &k, msg, msg_size);
	if (err)
		return err;
	if (k.data_offset > k.value_size) {
		snprintf(msg, msg_size, "struct_ops map '%s': the kernel's value is %u bytes, its 'data' at %u",
			 m->map_name, k.value_size, k.data_offset);
		return -EOPNOTSUPP;
	}
	v->value = (unsigned char *)calloc(1, k.value_size ? k.value_size : 1);
	v->progs = (__u32 *)calloc(2 * (m->nr_members ? m->nr_members : 1), sizeof(__u32));
	if (!v->value || !v->progs) {
		snprintf(msg, msg_size, "struct_ops: out of memory");
		return -ENOMEM;
	}
	v->size = k.value_size;
	value = v->value;
	km = bpf_build_btf_members(k.st);
	kernel_members = bpf_build_btf_vlen(k.st);
	for (i = 0; i < m->nr_members; i++) {
		const struct bpf_build_struct_ops_member *mine = &m->members[i];
		const unsigned char *bytes = (const unsigned char *)m->data + mine->offset;
		int is_prog = mine->prog_attr != BPF_BUILD_STRUCT_OPS_DATA, zero = 1;
		__u32 bit_offset, bitfield_size;

		if ((__u64)mine->offset + mine->size > m->data_size ||
		    (is_prog && (__u64)mine->prog_attr + sizeof(struct bpf_build_attr_prog_load) > blob_size)) {
			snprintf(msg, msg_size, "struct_ops map '%s': member '%s' is out of the skeleton's range",
				 m->map_name, mine->name);
			return -EINVAL;
		}
		for (j = 0; j < mine->size; j++)
			zero &= !bytes[j];
		for (j = 0; j < kernel_members; j++)
			if (strcmp(bpf_build_btf_name(btf, km[j].name_off), mine->name) == 0)
				break;
		if (j == kernel_members) {
			if (!is_prog && zero)
				continue;	/* a zero member this kernel lacks: nothing is lost (libbpf's rule) */
			snprintf(msg, msg_size, "struct_ops map '%s' (struct %s): this kernel (%s) has no member '%s'",
				 m->map_name, m->type_name, bpf_build_kernel_release(&u), mine->name);
			return -EOPNOTSUPP;
		}
		bit_offset = k.st->info >> 31 ? km[j].offset & 0xffffff : km[j].offset;
		bitfield_size = k.st->info >> 31 ? km[j].offset >> 24 : 0;
		if (bitfield_size || bit_offset % 8) {
			snprintf(msg, msg_size, "struct_ops map '%s' (struct %s): the kernel's member '%s' is a bitfield",
				 m->map_name, m->type_name, mine->name);
			return -EOPNOTSUPP;
		}
		offset = k.data_offset + bit_offset / 8;
		if (is_prog) {
			if (!bpf_build_btf_is_func_ptr(btf, km[j].type)) {
				snprintf(msg, msg_size, "struct_ops map '%s' (struct %s): member '%s' holds a program here, "
					 "but the kernel's is not a function pointer", m->map_name, m->type_name, mine->name);
				return -EOPNOTSUPP;
			}
			if ((__u64)offset + 8 > k.value_size) {
				snprintf(msg, msg_size, "struct_ops map '%s': the kernel's member '%s' lies outside its value",
					 m->map_name, mine->name);
				return -EINVAL;
			}
			v->progs[2 * nr_progs] = mine->prog;
			v->progs[2 * nr_progs++ + 1] = offset;
			v->nr_progs = nr_progs;
			bpf_build_put_u32(blob, mine->prog_attr + offsetof(struct bpf_build_attr_prog_load, attach_btf_id),
					  k.struct_id);
			bpf_build_put_u32(blob, mine->prog_attr +
					  offsetof(struct bpf_build_attr_prog_load, expected_attach_type), j);
			continue;
		}
		if (bpf_build_btf_is_func_ptr(btf, km[j].type))
			continue;	/* a NULL function pointer */
		size = bpf_build_btf_size(btf, km[j].type);
		if (size != (long long)mine->size) {
			snprintf(msg, msg_size, "struct_ops map '%s' (struct %s): member '%s' is %u bytes in the object, "
				 "%lld in this kernel", m->map_name, m->type_name, mine->name, mine->size, size);
			return -EOPNOTSUPP;
		}
		if ((__u64)offset + mine->size > k.value_size) {
			snprintf(msg, msg_size, "struct_ops map '%s': the kernel's member '%s' lies outside its value",
				 m->map_name, mine->name);
			return -EINVAL;
		}
		memcpy(value + offset, bytes, mine->size);
	}
	bpf_build_put_u32(blob, m->map_attr + offsetof(struct bpf_build_attr_map_create, value_size), k.value_size);
	bpf_build_put_u32(blob, m->map_attr + offsetof(struct bpf_build_attr_map_create, btf_vmlinux_value_type_id),
			  k.value_id);
	return 0;
}

/* Turn a map whose autocreate is off into the placeholder the loader creates instead: a
 * one-slot array of u32 without BTF (the Python runner's settings do the same). */
static inline int bpf_build_struct_ops_placeholder(unsigned char *blob, __u32 blob_size,
						   const struct bpf_build_struct_ops_map *m, char *msg, size_t msg_size)
{
	static const struct { __u32 offset, value; } fields[] = {
		{ offsetof(struct bpf_build_attr_map_create, map_type), BPF_BUILD_MAP_TYPE_ARRAY },
		{ offsetof(struct bpf_build_attr_map_create, key_size), 4 },
		{ offsetof(struct bpf_build_attr_map_create, value_size), 4 },
		{ offsetof(struct bpf_build_attr_map_create, max_entries), 1 },
		{ offsetof(struct bpf_build_attr_map_create, map_flags), 0 },
		{ offsetof(struct bpf_build_attr_map_create, btf_key_type_id), 0 },
		{ offsetof(struct bpf_build_attr_map_create, btf_value_type_id), 0 },
		{ offsetof(struct bpf_build_attr_map_create, btf_vmlinux_value_type_id), 0 },
	};
	__u32 i;

	if ((__u64)m->map_attr + sizeof(struct bpf_build_attr_map_create) > blob_size) {
		snprintf(msg, msg_size, "struct_ops map '%s': the skeleton's blob offsets are out of range", m->map_name);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		bpf_build_put_u32(blob, m->map_attr + fields[i].offset, fields[i].value);
	return 0;
}

/* libbpf's rule for struct_ops programs, once some map is not created: a program the maps point
 * at loads if a created map points at it and not otherwise, whatever progs[].load said (libbpf
 * overwrites the program's autoload too). progs: the context's program descriptors. */
static inline void bpf_build_struct_ops_autoload(const struct bpf_build_struct_ops_map *maps, __u32 nr_maps,
						 struct bpf_build_prog_desc *progs)
{
	__u32 i, j, k, l, used;

	for (i = 0; i < nr_maps && maps[i].create; i++)
		;
	if (i == nr_maps)
		return;	/* every map created: each program keeps its setting */
	for (i = 0; i < nr_maps; i++)
		for (j = 0; j < maps[i].nr_members; j++) {
			__u32 prog = maps[i].members[j].prog;

			if (prog == BPF_BUILD_STRUCT_OPS_DATA)
				continue;
			used = 0;
			for (k = 0; k < nr_maps && !used; k++)
				for (l = 0; maps[k].create && l < maps[k].nr_members && !used; l++)
					used = maps[k].members[l].prog == prog;
			progs[prog].load = used ? BPF_BUILD_LOAD_YES : BPF_BUILD_LOAD_NO;
		}
}

/* A copy of the blob (data, size bytes) with every struct_ops map's attrs patched for this kernel,
 * in *blob_out (the caller frees it), and each map's value laid out in values[] (nr_maps, freed
 * first: a second load lays them out again); a map not created (create 0) becomes the placeholder
 * and gets no value, and with none created the kernel's BTF is not read. On failure prints why
 * (unless quiet), frees both and returns -errno. */
static inline int bpf_build_struct_ops_prepare(const void *data, __u32 size,
					       const struct bpf_build_struct_ops_map *maps, __u32 nr_maps,
					       const char *skel_name, int quiet, void **blob_out,
					       struct bpf_build_struct_ops_value *values)
{
	struct bpf_build_btf btf;
	const char *why = NULL;
	unsigned char *blob;
	char msg[512];
	__u32 i, created = 0;
	int err = 0;

	*blob_out = NULL;
	bpf_build_struct_ops_values_free(values, nr_maps);
	memset(&btf, 0, sizeof(btf));
	for (i = 0; i < nr_maps; i++)
		created += !!maps[i].create;
	if (created)
		err = bpf_build_btf_load_kernel(&btf, &why);
	if (err) {
		snprintf(msg, sizeof(msg), "struct_ops needs the kernel's BTF: %s: %s", BPF_BUILD_KERNEL_BTF_PATH, why);
		goto out;
	}
	blob = (unsigned char *)malloc(size ? size : 1);
	if (!blob) {
		err = -ENOMEM;
		snprintf(msg, sizeof(msg), "struct_ops: out of memory");
		goto out;
	}
	memcpy(blob, data, size);
	for (i = 0; i < nr_maps && !err; i++)
		err = maps[i].create ? bpf_build_struct_ops_fill(&btf, blob, size, &maps[i], &values[i], msg, sizeof(msg))
				     : bpf_build_struct_ops_placeholder(blob, size, &maps[i], msg, sizeof(msg));
	if (err) {
		free(blob);
		bpf_build_struct_ops_values_free(values, nr_maps);
	} else
		*blob_out = blob;
out:
	bpf_build_btf_free(&btf);
	if (err && !quiet)
		fprintf(stderr, "%s: %s\n", skel_name, msg);
	return err;
}

/* Attach a struct_ops map: its value v, with the fd of each program in progs (the context's
 * descriptors; a program not loaded leaves its pointer NULL), written at key 0, which registers a
 * legacy map (returns 0); for a .struct_ops.link map (link), the link that registers it for as
 * long as its fd (returned) stays open. On failure -errno. */
static inline int bpf_build_struct_ops_register(int map_fd, struct bpf_build_struct_ops_value *v,
						const struct bpf_build_prog_desc *progs, int link)
{
	struct bpf_build_attr_map_elem a;
	__u32 key = 0, i;
	__u64 fd;

	if (!v->value)
		return -EINVAL;	/* not laid out: the skeleton was not loaded */
	for (i = 0; i < v->nr_progs; i++) {
		fd = progs[v->progs[2 * i]].prog_fd > 0 ? (__u64)progs[v->progs[2 * i]].prog_fd : 0;
		memcpy(v->value + v->progs[2 * i + 1], &fd, sizeof(fd));
	}
	memset(&a, 0, sizeof(a));
	a.map_fd = (__u32)map_fd;
	a.key = (__u64)(unsigned long)&key;
	a.value = (__u64)(unsigned long)v->value;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_UPDATE_ELEM, &a, sizeof(a)) < 0)
		return -errno;
	return link ? bpf_build_link_create(map_fd, 0, BPF_BUILD_STRUCT_OPS_ATTACH) : 0;
}

/* Unregister a legacy .struct_ops map (attach's write registered it, and the registration
 * keeps the map alive after its last fd closes); nothing if it is not registered. */
static inline void bpf_build_struct_ops_unregister(int map_fd)
{
	struct bpf_build_attr_map_elem a;
	__u32 key = 0;
	int saved = errno;

	if (map_fd <= 0)
		return;
	memset(&a, 0, sizeof(a));
	a.map_fd = (__u32)map_fd;
	a.key = (__u64)(unsigned long)&key;
	bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_DELETE_ELEM, &a, sizeof(a));
	errno = saved;	/* not registered (ENOENT) is no failure of the caller's */
}

#endif /* __BPF_BUILD_LOADER_H__ */
