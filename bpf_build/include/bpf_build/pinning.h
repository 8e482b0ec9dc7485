/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps pinned by name (LIBBPF_PIN_BY_NAME) for bpf-build's C light skeletons, included by the
 * skeletons of objects that have such maps, around the loader's run (docs/loader-contract.md,
 * "Maps pinned by name"; the Python runtime's runtime/pinning.py follows the same rules and words):
 *
 * before the run, each pinned map's path (<root>/<name>, root /sys/fs/bpf unless the skeleton's
 * pin_root_path says otherwise, or the map's own pin path) must be on a BPF file system; a map
 * pinned there must match the one the loader would create (type, key size, value size,
 * max_entries, map_flags, map_extra: libbpf's map_is_reuse_compat) and its fd goes into the map's
 * context descriptor, where the loader's reuse_map step takes it instead of creating the map.
 * After a successful run the maps the loader created are pinned, all or none; a failure closes
 * every fd the load made and never removes a pin this load did not make. */
#ifndef __BPF_BUILD_PINNING_H__
#define __BPF_BUILD_PINNING_H__

#include <bpf_build/loader.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define BPF_BUILD_CMD_OBJ_PIN			6
#define BPF_BUILD_CMD_OBJ_GET			7
#define BPF_BUILD_BPF_FS_MAGIC			0xcafe4a11
#define BPF_BUILD_MAP_TYPE_PERF_EVENT_ARRAY	4
#define BPF_BUILD_MAP_TYPE_DEVMAP		14
#define BPF_BUILD_MAP_TYPE_DEVMAP_HASH		25
#define BPF_BUILD_F_RDONLY_PROG			(1U << 7)	/* DEVMAPs report it whether or not asked */

#ifndef BPF_BUILD_DEFAULT_PIN_ROOT
#define BPF_BUILD_DEFAULT_PIN_ROOT "/sys/fs/bpf"
#endif

struct bpf_build_attr_obj {
	__u64 pathname;
	__u32 bpf_fd, file_flags;
};

/* struct bpf_map_info up to map_extra (older kernels fill less and leave the rest 0) */
struct bpf_build_map_info {
	__u32 type, id, key_size, value_size, max_entries, map_flags;
	char name[16];
	__u32 ifindex, btf_vmlinux_value_type_id;
	__u64 netns_dev, netns_ino;
	__u32 btf_id, btf_key_type_id, btf_value_type_id, btf_vmlinux_id;
	__u64 map_extra;
};

/* One pinned map of a skeleton, a row of the table X__load() builds. */
struct bpf_build_pinned_map {
	const char *name;	/* the map's name: the last part of its default path */
	__u32 map_index;	/* its descriptor among the skeleton's maps */
	__u32 map_attr;		/* where its BPF_MAP_CREATE attr sits in the blob */
	const char *path;	/* the skeleton's pin path for it: NULL <root>/<name>, "" not pinned */
	char *resolved;		/* out: the path used (freed by bpf_build_pins_finish) */
	int reused;		/* out: its map_fd was opened from the pin */
};

#define BPF_BUILD_PIN_MSG_SIZE 1024


/* The directory part of path, in dir (dir_size > 1). */
static inline void bpf_build_pin_dir(const char *path, char *dir, size_t dir_size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, dir_size, ".");
	else if (slash == path)
		snprintf(dir, dir_size, "/");
	else
		snprintf(dir, dir_size, "%.*s", (int)(slash - path), path);
}

/* libbpf pins only on a BPF file system: say so before anything is created. */
static inline int bpf_build_pin_require_bpffs(const struct bpf_build_pinned_map *p, char *msg, size_t msg_size)
{
	char dir[4096];
	struct statfs st;
	struct stat s;

	bpf_build_pin_dir(p->resolved, dir, sizeof(dir));
	if (stat(dir, &s) < 0 || !S_ISDIR(s.st_mode) || statfs(dir, &st) < 0) {
		bpf_build_msg(msg, msg_size, "map '%s': cannot pin at %s: %s is not a directory", p->name, p->resolved, dir);
		return -ENOENT;
	}
	if ((__u32)st.f_type != BPF_BUILD_BPF_FS_MAGIC) {
		bpf_build_msg(msg, msg_size, "map '%s': cannot pin at %s: %s is not on a BPF file system (its file "
			 "system's magic is %#lx; mount one with 'mount -t bpf bpf %s')", p->name, p->resolved, dir,
			 (unsigned long)st.f_type, dir);
		return -EINVAL;
	}
	return 0;
}

/* A map's fdinfo has a map_type line (programs have prog_type, links link_type); without fdinfo
 * to read, the comparison of the map's info decides. */
static inline int bpf_build_fd_is_map(int fd)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 1;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, "map_type:", 9) == 0;
	fclose(f);
	return found;
}

/* The fd of the map pinned at p->resolved, 0 if nothing is, or -errno with msg. */
static inline int bpf_build_pin_open(const struct bpf_build_pinned_map *p, char *msg, size_t msg_size)
{
	struct bpf_build_attr_obj a;
	int fd, err;

	memset(&a, 0, sizeof(a));
	a.pathname = (__u64)(unsigned long)p->resolved;
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_OBJ_GET, &a, sizeof(a));
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		bpf_build_msg(msg, msg_size, "map '%s': cannot open the map pinned at %s: %s", p->name, p->resolved,
			 strerror(-err));
		return err;
	}
	if (!bpf_build_fd_is_map(fd)) {
		close(fd);
		bpf_build_msg(msg, msg_size, "map '%s': what is pinned at %s is not a BPF map", p->name, p->resolved);
		return -EINVAL;
	}
	return fd;
}

/* Compare the pinned map fd with the map the loader would create (its attr in the blob, as
 * patched; max_entries the descriptor's override). */
static inline int bpf_build_pin_check(const struct bpf_build_pinned_map *p, int fd,
				      const struct bpf_build_attr_map_create *want, __u32 max_entries,
				      char *msg, size_t msg_size)
{
	static const char *const fields[] = { "type", "key_size", "value_size", "max_entries", "map_flags",
					      "map_extra" };
	struct bpf_build_map_info info;
	unsigned long long found[6], expected[6];
	size_t used;
	int i, differ = 0;

	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_build_obj_info(fd, &info, sizeof(info));
	if (err) {
		bpf_build_msg(msg, msg_size, "map '%s': cannot get info of the map pinned at %s: %s", p->name,
			 p->resolved, strerror(-err));
		return err;
	}
	expected[0] = want->map_type;
	expected[1] = want->key_size;
	expected[2] = want->value_size;
	expected[3] = max_entries ? max_entries : want->max_entries;
	expected[4] = want->map_flags;
	expected[5] = want->map_extra;
	if (!expected[3] && want->map_type == BPF_BUILD_MAP_TYPE_PERF_EVENT_ARRAY) {
		int cpus = bpf_build_possible_cpus();	/* what the skeleton gives the loader */

		expected[3] = cpus > 0 ? (unsigned long long)cpus : 0;
	}
	found[0] = info.type;
	found[1] = info.key_size;
	found[2] = info.value_size;
	found[3] = info.max_entries;
	found[4] = info.map_flags;
	found[5] = info.map_extra;
	if (want->map_type == BPF_BUILD_MAP_TYPE_DEVMAP || want->map_type == BPF_BUILD_MAP_TYPE_DEVMAP_HASH)
		found[4] &= ~(unsigned long long)BPF_BUILD_F_RDONLY_PROG;
	used = (size_t)bpf_build_msg(msg, msg_size, "map '%s': the map pinned at %s does not match this object's "
				"definition (", p->name, p->resolved);
	for (i = 0; i < 6; i++) {
		if (found[i] == expected[i])
			continue;
		if (used < msg_size)
			used += (size_t)snprintf(msg + used, msg_size - used, i == 4 ? "%s%s %#llx there, %#llx here"
						 : "%s%s %llu there, %llu here", differ ? "; " : "", fields[i],
						 found[i], expected[i]);
		differ = 1;
	}
	if (!differ)
		return 0;
	if (used < msg_size)
		snprintf(msg + used, msg_size - used, "): remove the pin or give the map another pin path");
	return -EINVAL;
}

/* One pinned map before the run: its path, checks, and the pinned map's fd in its descriptor. */
static inline int bpf_build_pin_prepare(struct bpf_build_pinned_map *pins, __u32 i, const char *root,
					struct bpf_build_map_desc *descs, const unsigned char *blob,
					__u32 blob_size, char *msg, size_t msg_size)
{
	struct bpf_build_pinned_map *p = &pins[i];
	struct bpf_build_attr_map_create want;
	size_t len;
	__u32 j;
	int fd, err;

	if (p->path && !p->path[0])
		return 0;	/* not pinned this load */
	if (p->path) {
		p->resolved = strdup(p->path);
	} else {
		len = strlen(root) + strlen(p->name) + 2;
		p->resolved = (char *)malloc(len);
		if (p->resolved)
			snprintf(p->resolved, len, "%s/%s", root, p->name);
	}
	if (!p->resolved) {
		bpf_build_msg(msg, msg_size, "map '%s': out of memory", p->name);
		return -ENOMEM;
	}
	for (j = 0; j < i; j++) {
		if (pins[j].resolved && strcmp(pins[j].resolved, p->resolved) == 0) {
			bpf_build_msg(msg, msg_size, "maps '%s' and '%s' have the same pin path %s", pins[j].name, p->name,
				 p->resolved);
			return -EINVAL;
		}
	}
	if ((__u64)p->map_attr + sizeof(want) > blob_size) {
		bpf_build_msg(msg, msg_size, "map '%s': the skeleton's blob offsets are out of range", p->name);
		return -EINVAL;
	}
	err = bpf_build_pin_require_bpffs(p, msg, msg_size);
	if (err)
		return err;
	fd = bpf_build_pin_open(p, msg, msg_size);
	if (fd <= 0)
		return fd;
	memcpy(&want, blob + p->map_attr, sizeof(want));
	err = bpf_build_pin_check(p, fd, &want, descs[p->map_index].max_entries, msg, msg_size);
	if (err) {
		close(fd);
		return err;
	}
	descs[p->map_index].map_fd = fd;
	p->reused = 1;
	return 0;
}

/* Before the run: every pinned map's checks, the reused fds in their descriptors. On failure
 * closes what it opened, prints why (unless quiet) and returns -errno. */
static inline int bpf_build_pins_open(struct bpf_build_pinned_map *pins, __u32 nr, const char *root,
				      struct bpf_build_map_desc *descs, const void *blob, __u32 blob_size,
				      const char *skel_name, int quiet)
{
	char msg[BPF_BUILD_PIN_MSG_SIZE];
	__u32 i;
	int err = 0;

	for (i = 0; i < nr && !err; i++)
		err = bpf_build_pin_prepare(pins, i, root ? root : BPF_BUILD_DEFAULT_PIN_ROOT, descs,
					    (const unsigned char *)blob, blob_size, msg, sizeof(msg));
	if (!err)
		return 0;
	for (i = 0; i < nr; i++) {
		if (pins[i].reused) {
			close(descs[pins[i].map_index].map_fd);
			descs[pins[i].map_index].map_fd = 0;
			pins[i].reused = 0;
		}
	}
	if (!quiet)
		fprintf(stderr, "%s: %s\n", skel_name, msg);
	return err;
}

/* After a successful run: pin each map the loader created, all or none (on a failure unpin what
 * this call pinned). Returns 0 or -errno with msg. */
static inline int bpf_build_pins_pin_created(const struct bpf_build_pinned_map *pins, __u32 nr,
					     const struct bpf_build_map_desc *descs, char *msg, size_t msg_size)
{
	struct bpf_build_attr_obj a;
	__u32 i, j;
	int err;

	for (i = 0; i < nr; i++) {
		if (!pins[i].resolved || pins[i].reused)
			continue;
		memset(&a, 0, sizeof(a));
		a.pathname = (__u64)(unsigned long)pins[i].resolved;
		a.bpf_fd = (__u32)descs[pins[i].map_index].map_fd;
		if (bpf_build_sys_bpf(BPF_BUILD_CMD_OBJ_PIN, &a, sizeof(a)) == 0)
			continue;
		err = -errno;
		for (j = 0; j < i; j++)
			if (pins[j].resolved && !pins[j].reused)
				unlink(pins[j].resolved);
		bpf_build_msg(msg, msg_size, "map '%s': cannot pin at %s: %s", pins[i].name, pins[i].resolved,
			 err == -EEXIST ? "something was pinned there while this load ran; load again to reuse it"
					: strerror(-err));
		return err;
	}
	return 0;
}

/* After the run (err: its result): a failed run closes the reused fds (the loader closed the rest;
 * the pins stay); a successful one pins the maps it created, and if that fails closes every fd of
 * the load (nr_maps map descriptors, then nr_progs program descriptors, as the context lays them
 * out) and prints why unless quiet. Frees the paths. Returns 0 or -errno. */
static inline int bpf_build_pins_finish(struct bpf_build_pinned_map *pins, __u32 nr, int err,
					struct bpf_build_map_desc *descs, __u32 nr_maps,
					struct bpf_build_prog_desc *progs, __u32 nr_progs,
					const char *skel_name, int quiet)
{
	char msg[BPF_BUILD_PIN_MSG_SIZE];
	__u32 i;

	if (err < 0) {
		for (i = 0; i < nr; i++)
			if (pins[i].reused)
				bpf_build_closenz(descs[pins[i].map_index].map_fd);
		for (i = 0; i < nr_maps; i++)
			descs[i].map_fd = 0;
	} else {
		err = bpf_build_pins_pin_created(pins, nr, descs, msg, sizeof(msg));
		if (err < 0) {
			bpf_build_close_load_fds(descs, nr_maps, progs, nr_progs);
			if (!quiet)
				fprintf(stderr, "%s: %s\n", skel_name, msg);
		}
	}
	for (i = 0; i < nr; i++) {
		free(pins[i].resolved);
		pins[i].resolved = NULL;
		pins[i].reused = 0;
	}
	return err;
}

#endif /* __BPF_BUILD_PINNING_H__ */
