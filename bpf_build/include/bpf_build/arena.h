/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* BPF arenas (BPF_MAP_TYPE_ARENA, Linux 6.9+) for bpf-build's C light skeletons, included by the
 * skeletons of objects that have an arena map, around the loader's run (docs/loader-contract.md,
 * "Arena maps"; the Python runtime's runtime/arena.py follows the same rules and words):
 *
 * the kernel turns a program's arena pointers into this process's addresses, so it must know
 * where the arena sits before the programs are verified, and the loader creates the map and loads
 * the programs in one run. So before the run the kernel is asked whether it can make arenas at
 * all, the arena's address range is reserved here (an inaccessible mapping, at the object's
 * map_extra if it gave one, else anywhere not crossing a 4 GiB boundary, which the kernel refuses)
 * and the address goes into the map's BPF_MAP_CREATE attr (map_extra) in a copy of the blob. After
 * the run the arena's fd is mapped over the reservation (MAP_SHARED | MAP_FIXED) and the __arena
 * globals are copied in. A failure releases the reservation and closes every fd of the load. */
#ifndef __BPF_BUILD_ARENA_H__
#define __BPF_BUILD_ARENA_H__

#include <bpf_build/loader.h>

#define BPF_BUILD_MAP_TYPE_ARENA	33
#define BPF_BUILD_F_MMAPABLE		(1U << 10)
#define BPF_BUILD_ARENA_MAX_SIZE	(1ULL << 32)	/* the kernel's limit, and the boundary not to cross */
#define BPF_BUILD_ARENA_MSG_SIZE	512
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE		0x100000
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE			0x4000
#endif

/* The arena map of a skeleton, filled by X__load(). */
struct bpf_build_arena {
	const char *name;	/* the map's name */
	__u32 map_index;	/* its descriptor among the skeleton's maps */
	__u32 map_attr;		/* where its BPF_MAP_CREATE attr sits in the blob */
	void *address;		/* out: the reservation, then the arena */
	size_t size;		/* out: its bytes (max_entries pages) */
};

/* 0 if this process can create arena maps here, else the kernel's errno for a one-page arena:
 * EINVAL before Linux 6.9 (no such map type), EPERM where a security policy refuses them. */
static inline int bpf_build_arena_create_errno(void)
{
	struct bpf_build_attr_map_create a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_BUILD_MAP_TYPE_ARENA;
	a.max_entries = 1;
	a.map_flags = BPF_BUILD_F_MMAPABLE;
	memcpy(a.map_name, "arena_probe", sizeof("arena_probe"));
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_MAP_CREATE, &a, sizeof(a));
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* Refuse, saying why, where arena maps cannot be created. Returns 0 or -errno with msg. */
static inline int bpf_build_arena_require(const char *name, char *msg, size_t msg_size)
{
	int err = bpf_build_arena_create_errno();
	struct utsname u;

	if (!err)
		return 0;
	if (err == EPERM || err == EACCES)
		bpf_build_msg(msg, msg_size, "map '%s': BPF arena maps (BPF_MAP_TYPE_ARENA): creating one is not permitted "
			 "here (%s: a security policy of this kernel refuses it)", name, err == EPERM ? "EPERM" : "EACCES");
	else if (err == EOPNOTSUPP)
		bpf_build_msg(msg, msg_size, "map '%s': BPF arena maps (BPF_MAP_TYPE_ARENA): this kernel's (%s) BPF JIT "
			 "does not support arenas", name, bpf_build_kernel_release(&u));
	else
		bpf_build_msg(msg, msg_size, "map '%s': BPF arena maps (BPF_MAP_TYPE_ARENA): this kernel (%s) has none: "
			 "they need Linux 6.9+", name, bpf_build_kernel_release(&u));
	return -err;
}

/* An inaccessible range of size bytes at want (the map's map_extra) or, with want 0, anywhere it
 * does not cross a 4 GiB boundary. Returns 0 or -errno with msg. */
static inline int bpf_build_arena_reserve(struct bpf_build_arena *a, __u64 want, char *msg, size_t msg_size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, err;
	size_t spare = 2 * a->size;	/* room to move the start past a 4 GiB boundary */
	unsigned long got, start;
	void *p;

	if (want) {
		p = mmap((void *)(unsigned long)want, a->size, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);
		err = p == MAP_FAILED ? -errno : 0;
		if (!err && (unsigned long)p != want) {	/* kernels before 4.17 take the address as a hint */
			munmap(p, a->size);
			err = -EEXIST;
		}
		if (err) {
			bpf_build_msg(msg, msg_size, "reserve the address range of arena '%s' at %#llx (its map_extra): %s",
				 a->name, (unsigned long long)want, strerror(-err));
			return err;
		}
		a->address = p;
		return 0;
	}
	p = mmap(NULL, spare, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		bpf_build_msg(msg, msg_size, "reserve the address range of arena '%s': %s", a->name, strerror(-err));
		return err;
	}
	got = start = (unsigned long)p;
	if ((__u64)start / BPF_BUILD_ARENA_MAX_SIZE != ((__u64)start + a->size - 1) / BPF_BUILD_ARENA_MAX_SIZE)
		start = (unsigned long)(((__u64)start + a->size - 1) / BPF_BUILD_ARENA_MAX_SIZE * BPF_BUILD_ARENA_MAX_SIZE);
	if (start > got)
		munmap(p, start - got);
	if (got + spare > start + a->size)
		munmap((void *)(start + a->size), got + spare - start - a->size);
	a->address = (void *)start;
	return 0;
}

static inline void bpf_build_arena_release(struct bpf_build_arena *a)
{
	if (a->address)
		munmap(a->address, a->size);
	a->address = NULL;
	a->size = 0;
}

/* Before the run: refuse a kernel without arenas, reserve the arena's range and write its address
 * into the map's attr in *blob (a copy of data made here, or one made before, patched in place).
 * On failure releases what it reserved, frees *blob, prints why (unless quiet), returns -errno. */
static inline int bpf_build_arena_prepare(struct bpf_build_arena *a, const void *data, __u32 size,
					  const struct bpf_build_map_desc *descs, const char *skel_name,
					  int quiet, void **blob)
{
	size_t page = (size_t)sysconf(_SC_PAGE_SIZE);
	struct bpf_build_attr_map_create attr;
	char msg[BPF_BUILD_ARENA_MSG_SIZE];
	__u32 pages;
	int err;

	err = bpf_build_arena_require(a->name, msg, sizeof(msg));
	if (!err && (__u64)a->map_attr + sizeof(attr) > size) {
		bpf_build_msg(msg, sizeof(msg), "map '%s': the skeleton's blob offsets are out of range", a->name);
		err = -EINVAL;
	}
	if (!err && !*blob) {
		*blob = malloc(size);
		if (*blob)
			memcpy(*blob, data, size);
		else
			err = -ENOMEM;
		if (err)
			bpf_build_msg(msg, sizeof(msg), "map '%s': out of memory", a->name);
	}
	if (!err) {
		memcpy(&attr, (unsigned char *)*blob + a->map_attr, sizeof(attr));
		pages = descs[a->map_index].max_entries ? descs[a->map_index].max_entries : attr.max_entries;
		a->size = (size_t)pages * page;
		if (!pages || (__u64)pages * page > BPF_BUILD_ARENA_MAX_SIZE) {
			bpf_build_msg(msg, sizeof(msg), "map '%s': an arena holds 1 to %llu pages, not %u", a->name,
				 (unsigned long long)(BPF_BUILD_ARENA_MAX_SIZE / page), pages);
			err = -E2BIG;
		}
	}
	if (!err)
		err = bpf_build_arena_reserve(a, attr.map_extra, msg, sizeof(msg));
	if (!err) {
		attr.map_extra = (__u64)(unsigned long)a->address;
		memcpy((unsigned char *)*blob + a->map_attr, &attr, sizeof(attr));
		return 0;
	}
	a->address = NULL;
	a->size = 0;
	free(*blob);
	*blob = NULL;
	if (!quiet)
		fprintf(stderr, "%s: %s\n", skel_name, msg);
	return err;
}

/* After the run (err: its result): a failed run releases the reservation; a successful one maps
 * the arena there and copies the globals_size bytes at globals in at globals_offset. If that
 * fails, releases the range, closes every fd of the load (nr_maps map descriptors, nr_progs
 * program descriptors) and prints why unless quiet. Returns 0 or -errno. */
static inline int bpf_build_arena_finish(struct bpf_build_arena *a, int err, const void *globals,
					 size_t globals_size, size_t globals_offset,
					 struct bpf_build_map_desc *descs, __u32 nr_maps,
					 struct bpf_build_prog_desc *progs, __u32 nr_progs,
					 const char *skel_name, int quiet)
{
	char msg[BPF_BUILD_ARENA_MSG_SIZE];
	void *p;

	if (err < 0) {
		bpf_build_arena_release(a);
		return err;
	}
	if (globals_offset + globals_size > a->size) {
		bpf_build_msg(msg, sizeof(msg), "map '%s': %zu bytes of arena cannot hold its %zu bytes of __arena globals",
			 a->name, a->size, globals_size);
		err = -E2BIG;
	} else {
		p = mmap(a->address, a->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 descs[a->map_index].map_fd, 0);
		if (p != MAP_FAILED) {
			if (globals_size)
				memcpy((char *)p + globals_offset, globals, globals_size);
			return 0;
		}
		err = -errno;
		bpf_build_msg(msg, sizeof(msg), "mmap arena '%s': %s", a->name, strerror(-err));
	}
	bpf_build_arena_release(a);
	bpf_build_close_load_fds(descs, nr_maps, progs, nr_progs);
	if (!quiet)
		fprintf(stderr, "%s: %s\n", skel_name, msg);
	return err;
}

#endif /* __BPF_BUILD_ARENA_H__ */
