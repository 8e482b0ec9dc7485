/* Types the BPF side and user space share (as upstream tools keep them in X.h). */
#ifndef CONFORMANCE_DUNDER_NAMES_H
#define CONFORMANCE_DUNDER_NAMES_H

#include <stdbool.h>
#include <linux/types.h>

struct __arg_spec {
	__u64 val_off;
	__u8 arg_type;
	short reg_off;
	bool arg_signed;
	char arg_bitshift;
};

/* the same name with one underscore less: a Python skeleton stripping underscores must not merge them */
struct _arg_spec {
	int only_one;
};

struct __event_spec {
	struct __arg_spec args[3];
	__u64 cookie;
	short arg_cnt;
};

struct __node {
	struct __node *next;
	union {
		unsigned int u_flags;
		struct {
			__u16 __lo;
			__u16 __hi;
		};
	};
	int __src;
};

#endif
