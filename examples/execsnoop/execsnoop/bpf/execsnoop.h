/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The event the BPF program sends and the command decodes: shared by both sides. */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 127

struct exec_event {
	int pid;
	int ppid;
	unsigned int uid;
	unsigned long long timestamp_ns; /* bpf_ktime_get_ns() at exec */
	char comm[TASK_COMM_LEN];
	char filename[MAX_FILENAME_LEN + 1];
};

#endif
