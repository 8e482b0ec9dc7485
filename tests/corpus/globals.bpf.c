/* Global data of every kind: .data, .rodata, .bss, custom .data.* and .rodata.* sections, static
 * and hidden variables, a string literal, structs and arrays. copy_all() copies what it reads into
 * .bss so a test can compare both sides. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct point {
	int x, y;
};

int counter = 40;                                   /* .data */
struct point origin = { .x = -1, .y = 2 };          /* .data */
const volatile int limit = 1000;                    /* .rodata */
const volatile char greeting[16] = "hi there";      /* .rodata */
__u64 total = 0;                                    /* .bss */
struct point seen_origin;                           /* .bss */
int seen_limit, seen_counter, seen_custom, seen_custom_ro, seen_static, seen_hidden;
char seen_greeting[16];
char seen_literal[8];
int custom SEC(".data.custom") = 11;
const volatile int custom_ro SEC(".rodata.custom") = 22;
static volatile int static_var = 33;
__hidden int hidden_var = 44;

SEC("syscall")
int copy_all(void *ctx)
{
	static const char literal[] = "literal";

	counter++;
	total += limit;
	seen_origin = origin;
	seen_limit = limit;
	seen_counter = counter;
	seen_custom = custom;
	seen_custom_ro = custom_ro;
	seen_static = static_var;
	seen_hidden = hidden_var;
	__builtin_memcpy(seen_greeting, (const char *)greeting, sizeof(seen_greeting));
	__builtin_memcpy(seen_literal, literal, sizeof(literal));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
