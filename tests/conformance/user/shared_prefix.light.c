#include "light_util.h"
#include "shared_prefix.lskel.h"

int main(void)
{
	struct shared_prefix_bpf *skel;

	errno = 0;
	skel = shared_prefix_bpf__open_and_load();	/* prints why on stderr */
	CHECK(skel == NULL);
	CHECK(errno == EACCES);
	printf("ok\n");
	return 0;
}
