/* A custom data section whose name is longer than a kernel map name (15 bytes), as in
 * SEC(".data.read_mostly"); and a .rodata holding only string literals (bpf_printk formats): the
 * skeletons name the member after the whole section and keep an (empty) rodata member. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int read_mostly_var SEC(".data.read_mostly") = 123;
__u64 read_mostly_seen SEC(".data.read_mostly");
char longer_custom_name_value[4] SEC(".data.a_rather_long_custom_name") = "abc";
__u32 getpid_calls;

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	getpid_calls++;
	read_mostly_seen = read_mostly_var;
	longer_custom_name_value[0] = 'X';
	bpf_printk("getpid seen, read_mostly_var=%d", read_mostly_var);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
