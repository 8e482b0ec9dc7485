/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the two halves of the linked object agree on. */
#ifndef LINKED_H
#define LINKED_H

enum syscall_kind {
	KIND_GETPID = 0,
	KIND_GETPPID = 1,
	KIND_COUNT,
};

#endif
