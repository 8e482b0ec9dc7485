/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* freplace programs (BPF_PROG_TYPE_EXT) for bpf-build's C light skeletons, included by the
 * skeletons of objects that have them; the Python runtime's runtime/freplace.py follows the same
 * rules and words. The target is only known where the object loads: the caller sets
 * skel->attach_targets.<prog> = { target program fd, "function" (NULL: the one SEC("freplace/...")
 * names) } before X__load. Before the loader runs, the function's FUNC id is found in the target
 * program's BTF (BPF_OBJ_GET_INFO_BY_FD on the program gives its BTF id, BPF_BTF_GET_FD_BY_ID opens
 * that, BPF_OBJ_GET_INFO_BY_FD on it reads the BTF back) and the target's fd and that id go into the
 * program's BPF_PROG_LOAD attr in a copy of the blob. X__<prog>__attach links the program to the
 * same target (BPF_LINK_CREATE with target_fd and target_btf_id); the target's fd must stay open
 * until then. */
#ifndef __BPF_BUILD_FREPLACE_H__
#define __BPF_BUILD_FREPLACE_H__

#include <bpf_build/loader.h>

#define BPF_BUILD_CMD_BTF_GET_FD_BY_ID		19
#define BPF_BUILD_PROG_INFO_BTF_ID		128	/* offset of btf_id in struct bpf_prog_info (5.0) */

/* What an freplace program replaces: set before X__load. */
struct bpf_build_freplace_target {
	int prog_fd;		/* the target program */
	const char *func;	/* its global function; NULL: the one the section names */
	__u32 btf_id;		/* out: the function's FUNC id in the target's BTF */
};

/* One freplace program of a skeleton, a row of the table X__load() builds. */
struct bpf_build_freplace_prog {
	const char *name;		/* the program's */
	const char *section;
	const char *default_func;	/* what SEC("freplace/...") names, or NULL */
	__u32 prog_attr;		/* where its BPF_PROG_LOAD attr sits in the blob */
	int loads;			/* whether it loads this time */
	struct bpf_build_freplace_target *target;
};

struct bpf_build_attr_get_id {
	__u32 id, next_id, open_flags;
};

struct bpf_build_btf_info {
	__u64 btf;
	__u32 btf_size, id;
	__u64 name;
	__u32 name_len, kernel_btf;
};



/* The BTF the program prog_fd was loaded with, read back from the kernel into btf (parsed). */
static inline int bpf_build_read_prog_btf(int prog_fd, struct bpf_build_btf *btf, const char *where,
					  char *msg, size_t msg_size)
{
	unsigned char prog_info[BPF_BUILD_PROG_INFO_BTF_ID + 4];
	struct bpf_build_attr_get_id get;
	struct bpf_build_btf_info info;
	const char *why;
	__u32 btf_id;
	int btf_fd, err;

	memset(prog_info, 0, sizeof(prog_info));
	err = bpf_build_obj_info(prog_fd, prog_info, sizeof(prog_info));
	if (err) {
		bpf_build_msg(msg, msg_size, "%s: get info of target program fd %d: %s", where, prog_fd,
				       strerror(-err));
		return err;
	}
	memcpy(&btf_id, prog_info + BPF_BUILD_PROG_INFO_BTF_ID, 4);
	if (!btf_id) {
		bpf_build_msg(msg, msg_size, "%s: the target program (fd %d) has no BTF; freplace needs a "
				       "target compiled with -g and loaded with its BTF", where, prog_fd);
		return -EINVAL;
	}
	memset(&get, 0, sizeof(get));
	get.id = btf_id;
	btf_fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_BTF_GET_FD_BY_ID, &get, sizeof(get));
	if (btf_fd < 0) {
		err = -errno;
		bpf_build_msg(msg, msg_size, "%s: open BTF %u of the target: %s", where, btf_id, strerror(-err));
		return err;
	}
	memset(&info, 0, sizeof(info));
	err = bpf_build_obj_info(btf_fd, &info, sizeof(info));
	if (!err) {
		btf->size = info.btf_size;
		btf->data = (unsigned char *)calloc(1, btf->size ? btf->size : 1);
		memset(&info, 0, sizeof(info));
		info.btf = (__u64)(unsigned long)btf->data;
		info.btf_size = (__u32)btf->size;
		err = btf->data ? bpf_build_obj_info(btf_fd, &info, sizeof(info)) : -ENOMEM;
	}
	close(btf_fd);
	if (err) {
		bpf_build_msg(msg, msg_size, "%s: read BTF %u of the target: %s", where, btf_id, strerror(-err));
		return err;
	}
	why = bpf_build_btf_parse(btf);
	if (why) {
		bpf_build_msg(msg, msg_size, "%s: BTF %u of the target program: %s", where, btf_id, why);
		return -EINVAL;
	}
	return 0;
}

/* The id of FUNC func in the BTF of the program prog_fd (libbpf's libbpf_find_prog_btf_id). */
static inline int bpf_build_func_btf_id(int prog_fd, const char *func, const char *where, __u32 *id,
					char *msg, size_t msg_size)
{
	const struct bpf_build_btf_type *t;
	struct bpf_build_btf btf;
	__u32 i;
	int err;

	memset(&btf, 0, sizeof(btf));
	err = bpf_build_read_prog_btf(prog_fd, &btf, where, msg, msg_size);
	for (i = 1; !err && i < btf.nr_types; i++) {
		t = bpf_build_btf_type_by_id(&btf, i);
		if (bpf_build_btf_kind(t) == BPF_BUILD_BTF_KIND_FUNC && strcmp(bpf_build_btf_name(&btf, t->name_off), func) == 0)
			break;
	}
	if (!err && i == btf.nr_types) {
		bpf_build_msg(msg, msg_size, "%s: the target program (fd %d) has no function '%s' in its BTF "
				       "(only global functions of programs compiled with -g can be replaced)",
				       where, prog_fd, func);
		err = -ENOENT;
	}
	bpf_build_btf_free(&btf);
	if (!err)
		*id = i;
	return err;
}

/* One program's target into its BPF_PROG_LOAD attr in blob (attach_prog_fd shares its place with
 * attach_btf_obj_fd). */
static inline int bpf_build_freplace_fill(const struct bpf_build_freplace_prog *p, unsigned char *blob, __u32 size,
					  char *msg, size_t msg_size)
{
	struct bpf_build_freplace_target *t = p->target;
	const char *func = t->func ? t->func : p->default_func;
	char where[128];
	int err;

	bpf_build_msg(where, sizeof(where), "program '%s' (SEC(\"%s\"))", p->name, p->section);
	if (t->prog_fd <= 0) {
		bpf_build_msg(msg, msg_size, "%s is an freplace program: set its attach target "
				       "(skel->attach_targets.%s = { target_prog_fd, \"function\" }) before load, the "
				       "program whose function it replaces", where, p->name);
		return -EINVAL;
	}
	if (!func || !func[0]) {
		bpf_build_msg(msg, msg_size, "%s: its attach target names no function and SEC(\"%s\") none "
				       "either: set skel->attach_targets.%s.func", where, p->section, p->name);
		return -EINVAL;
	}
	if ((__u64)p->prog_attr + sizeof(struct bpf_build_attr_prog_load) > size) {
		bpf_build_msg(msg, msg_size, "%s: the skeleton's blob offsets are out of range", where);
		return -EINVAL;
	}
	err = bpf_build_func_btf_id(t->prog_fd, func, where, &t->btf_id, msg, msg_size);
	if (err)
		return err;
	bpf_build_put_u32(blob, p->prog_attr + offsetof(struct bpf_build_attr_prog_load, attach_btf_obj_fd),
			  (__u32)t->prog_fd);
	bpf_build_put_u32(blob, p->prog_attr + offsetof(struct bpf_build_attr_prog_load, attach_btf_id), t->btf_id);
	return 0;
}

/* The blob with every loading freplace program's target filled in: *blob is a copy of data made
 * here, or one made before (struct_ops), patched in place. On failure frees *blob, prints why
 * (unless quiet) and returns -errno. */
static inline int bpf_build_freplace_prepare(const void *data, __u32 size, const struct bpf_build_freplace_prog *progs,
					     __u32 nr, const char *skel_name, int quiet, void **blob)
{
	char msg[1024];
	__u32 i;
	int err = 0;

	if (!*blob) {
		*blob = malloc(size ? size : 1);
		if (*blob)
			memcpy(*blob, data, size);
	}
	if (!*blob) {
		err = -ENOMEM;
		bpf_build_msg(msg, sizeof(msg), "freplace: out of memory");
	}
	for (i = 0; i < nr && !err; i++)
		if (progs[i].loads)
			err = bpf_build_freplace_fill(&progs[i], (unsigned char *)*blob, size, msg, sizeof(msg));
	if (!err)
		return 0;
	free(*blob);
	*blob = NULL;
	if (!quiet)
		fprintf(stderr, "%s: %s\n", skel_name, msg);
	return err;
}

/* The kernel refused an freplace program's load with EPERM: say why, as for fentry. */
static inline void bpf_build_freplace_eperm(const char *skel_name, const char *prog, int quiet)
{
	if (!quiet)
		fprintf(stderr, "%s: program '%s': this kernel does not permit freplace programs: they run through BPF "
			"trampolines, which it refuses before verification (as for fentry/fexit); freplace needs a "
			"kernel that allows them (Linux 5.10+)\n", skel_name, prog);
}

/* The program prog_fd in place of its target's function for as long as the returned link lives. */
static inline int bpf_build_freplace_attach(int prog_fd, const struct bpf_build_freplace_target *t)
{
	struct bpf_build_attr_link_create a;
	__u32 btf_id = t->btf_id;
	int fd;

	if (t->prog_fd <= 0 || !btf_id)
		return -EINVAL;	/* no target was resolved at load */
	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.target_fd = (__u32)t->prog_fd;
	memcpy(&a.pad[0], &btf_id, sizeof(btf_id));	/* link_create.target_btf_id */
	fd = (int)bpf_build_sys_bpf(BPF_BUILD_CMD_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

#endif /* __BPF_BUILD_FREPLACE_H__ */
