#include "light_util.h"
#include "long_sections.lskel.h"

int main(void)
{
	struct long_sections_bpf *skel = long_sections_bpf__open();

	CHECK(skel);
	CHECK(skel->data_read_mostly->read_mostly_var == 123);
	skel->data_read_mostly->read_mostly_var = 456;
	CHECK(long_sections_bpf__load(skel) == 0);
	CHECK(long_sections_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->getpid_calls >= 2);
	CHECK(skel->data_read_mostly->read_mostly_seen == 456);
	CHECK(skel->data_a_rather_long_custom_name->longer_custom_name_value[0] == 'X');
	long_sections_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
