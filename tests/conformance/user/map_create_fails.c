#include <errno.h>
#include "c_util.h"
#include "map_create_fails.skel.h"

int main(void)
{
	struct map_create_fails_bpf *skel;

	errno = 0;
	skel = map_create_fails_bpf__open_and_load();
	CHECK(skel == NULL);
	CHECK(errno == E2BIG);
	printf("ok\n");
	return 0;
}
