/* A reno-like TCP congestion control as a struct_ops map (tests/runtime/test_struct_ops.py).
 * Only the members used are declared: the runner matches them to the kernel's struct
 * tcp_congestion_ops by name. The reno kfuncs do the arithmetic; the counters show the
 * kernel called us. NAME and SECTION are replaced by the test (link and legacy forms). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	unsigned int flags;
	char name[16];
};

extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

__u64 cong_avoid_calls;
__u64 init_calls;

SEC("struct_ops/ca_ssthresh")
__u32 BPF_PROG(ca_ssthresh, struct sock *sk)
{
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops/ca_cong_avoid")
void BPF_PROG(ca_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	__sync_fetch_and_add(&cong_avoid_calls, 1);
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops/ca_undo_cwnd")
__u32 BPF_PROG(ca_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC("struct_ops/ca_init")
void BPF_PROG(ca_init, struct sock *sk)
{
	__sync_fetch_and_add(&init_calls, 1);
}

/* not referenced by the map: it does not load (libbpf's rule) */
SEC("struct_ops/ca_unused")
void BPF_PROG(ca_unused, struct sock *sk)
{
}

SEC(SECTION)
struct tcp_congestion_ops ca_ops = {
	.ssthresh = (void *)ca_ssthresh,
	.cong_avoid = (void *)ca_cong_avoid,
	.undo_cwnd = (void *)ca_undo_cwnd,
	.init = (void *)ca_init,
	.name = NAME,
};

char LICENSE[] SEC("license") = "GPL";
