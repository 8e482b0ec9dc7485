/* What every conformance user shares, whichever skeleton it is built on: causing getpid()
 * events and failing with the file, line and condition. Valid C and C++. */
#ifndef CONFORMANCE_CHECK_H
#define CONFORMANCE_CHECK_H

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void trigger_getpid(int times)
{
	while (times-- > 0)
		syscall(SYS_getpid);
}

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return 1;                                                          \
		}                                                                          \
	} while (0)

#endif
