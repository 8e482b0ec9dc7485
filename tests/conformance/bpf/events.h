/* The event record both sides use. */
#ifndef CONFORMANCE_EVENTS_H
#define CONFORMANCE_EVENTS_H

#include <linux/types.h>

#define TASK_COMM_LEN 16

struct event {
	__u32 pid;
	__u32 seq;
	char comm[TASK_COMM_LEN];
	__u64 payload;
};

#endif
