/* Shared by the users of C skeletons (libbpf): the same code builds against bpftool's
 * `gen skeleton` header and ours. */
#ifndef CONFORMANCE_C_UTIL_H
#define CONFORMANCE_C_UTIL_H

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "check.h"

#endif
