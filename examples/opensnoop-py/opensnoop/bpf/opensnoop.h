/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the BPF program shares with the command: the event it sends and the histogram's shape. */
#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#define TASK_COMM_LEN 16
#define NAME_LEN 128
#define LATENCY_SLOTS 32 /* log2 buckets of microseconds: slot n counts [2^n, 2^(n+1)) us */

struct open_event {
	unsigned int pid;
	unsigned int tid;
	int ret;             /* the fd, or -errno */
	int flags;           /* open flags */
	unsigned long long latency_ns;
	char comm[TASK_COMM_LEN];
	char name[NAME_LEN]; /* as passed to openat(), cut at NAME_LEN - 1 bytes */
};

#endif
