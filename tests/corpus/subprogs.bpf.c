/* Subprograms: static and global functions, one shared by two entry programs, nested calls,
 * and a bpf_loop() callback (a function address, not a call). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 results[4] = {};

static __noinline __u64 square(__u64 x)
{
	return x * x;
}

static __noinline __u64 sum_of_squares(__u64 a, __u64 b)
{
	return square(a) + square(b);
}

__noinline int global_triple(int x)
{
	return x * 3;
}

static int add_index(__u32 index, void *ctx)
{
	*(__u64 *)ctx += index;
	return 0;
}

SEC("syscall")
int first(void *ctx)
{
	results[0] = sum_of_squares(3, 4);
	results[1] = global_triple(5);
	return 0;
}

SEC("syscall")
int second(void *ctx)
{
	__u64 total = 0;

	bpf_loop(10, add_index, &total, 0);
	results[2] = total;
	results[3] = square(9) + global_triple(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
