/* The bitfield struct both sides use. */
#ifndef CONFORMANCE_BITFIELDS_H
#define CONFORMANCE_BITFIELDS_H

#include <linux/types.h>

struct flags {
	unsigned int kind : 3;
	unsigned int level : 5;
	int delta : 7;		/* signed */
	unsigned int : 0;	/* next field starts a new unit */
	unsigned char tail : 2;
	__u16 after;
	__u64 wide : 40;
	__u64 rest : 24;
};

#endif
