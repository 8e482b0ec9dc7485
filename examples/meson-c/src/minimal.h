/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared by the BPF program and its loader: a change here rebuilds both (depfiles). */
#ifndef MINIMAL_H
#define MINIMAL_H

/* getpid() calls the BPF program counts before it stops counting. */
#define MAX_COUNTED 1000000

#endif
