#include <stdlib.h>
#include <string.h>
#include "c_util.h"
#include "uprobe_args.skel.h"

/* The libc this process runs on, from its mappings (its path differs between architectures). */
static const char *libc_path(void)
{
	static char path[4096];
	char line[4096 + 128];
	FILE *maps = fopen("/proc/self/maps", "r");

	while (maps && fgets(line, sizeof(line), maps)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libc.so.6")) {
			p[strcspn(p, "\n")] = 0;
			snprintf(path, sizeof(path), "%s", p);
			break;
		}
	}
	if (maps)
		fclose(maps);
	return path;
}

int main(void)
{
	struct uprobe_args_bpf *skel = uprobe_args_bpf__open();
	LIBBPF_OPTS(bpf_uprobe_opts, entry_opts, .func_name = "getenv", .retprobe = false);
	LIBBPF_OPTS(bpf_uprobe_opts, return_opts, .func_name = "getenv", .retprobe = true);

	const char *libc = libc_path();

	CHECK(skel && libc[0] == '/');
	skel->rodata->targ_tgid = getpid();
	CHECK(uprobe_args_bpf__load(skel) == 0);
	skel->links.on_getenv = bpf_program__attach_uprobe_opts(skel->progs.on_getenv, getpid(), libc, 0, &entry_opts);
	skel->links.on_getenv_return = bpf_program__attach_uprobe_opts(skel->progs.on_getenv_return, getpid(), libc,
								      0, &return_opts);
	CHECK(skel->links.on_getenv && skel->links.on_getenv_return);
	setenv("CONFORMANCE_UPROBE_KEY", "1", 1);
	CHECK(getenv("CONFORMANCE_UPROBE_KEY") != NULL);
	CHECK(skel->bss->entries >= 1 && skel->bss->returns >= 1);
	CHECK(strcmp(skel->bss->seen_name, "CONFORMANCE_UPROBE_KEY") == 0 && skel->bss->last_result_nonnull == 1);
	uprobe_args_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
