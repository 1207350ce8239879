// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * live.bpf.c - the `xdp-live` engine of `xdpnet pktgen`.
 *
 * Userspace runs this program with BPF_PROG_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES (the xdp-trafficgen mechanism): the kernel
 * builds `repeat` frames from one template in a page pool, runs the
 * program on each, and transmits every frame the program returns XDP_TX
 * for out of the ingress device given in the context (xdp_md
 * ingress_ifindex) through its ndo_xdp_xmit, without an skb.
 *
 * Per frame the program picks the next flow (round-robin over
 * live_flows), writes the flow's addresses, ports and IPv4 header checksum,
 * and writes the 16-byte stamp at the start of the UDP payload in the
 * format of the xsk engine (src/app/pktgen/mod.rs): magic 0xbe9be955
 * (already in the template), the flow's sequence number (u32 big endian)
 * and bpf_ktime_get_ns() (CLOCK_MONOTONIC, u64 big endian). The UDP
 * checksum is recomputed from the flow's checksum over a zero stamp
 * (RFC 1624 incremental update), so every field the program writes is
 * absolute: a page the pool recycles with an earlier frame's bytes still
 * gets a correct frame.
 *
 * One loaded instance serves all generator threads: live_state has one
 * entry per thread (its index comes in the frame's XDP metadata) and each
 * thread its own range of live_flows, so every entry is written by one
 * thread's runs only.
 *
 * The loader also attaches this program (generic XDP) to the namespace's
 * lo while it runs: BPF_PROG_RUN adds the program to the kernel's XDP
 * dispatcher and removes it again on every call, two image rewrites with
 * synchronize_rcu() each (tens of ms), unless the program is already
 * there because it is attached somewhere. On lo, and for any frame that
 * did not come from a run (no metadata, or an ingress_ifindex other than
 * the configured device), it returns XDP_PASS and changes nothing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "live.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_LEN 14
#define IPV4_LEN 20
#define IPV6_LEN 40
#define UDP_LEN 8
#define STAMP_LEN 16

/* Flow index -> flow (max_entries set by the loader to the flow count). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct live_flow);
} live_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct live_state);
} live_state SEC(".maps");

static __always_inline __u32 fold_add(__u32 sum, __u16 word)
{
	return sum + word;
}

SEC("xdp")
int xdpnet_live(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	/*
	 * The loader puts the generator thread's index into 4 bytes of XDP
	 * metadata in front of the template (the kernel gives live frames a
	 * fake rxq with queue index 0, so rx_queue_index cannot tell the
	 * threads apart). A frame without it did not come from a run.
	 */
	void *meta = (void *)(long)ctx->data_meta;
	if (meta + sizeof(__u32) > data)
		return XDP_PASS;
	__u32 q = *(__u32 *)meta;
	struct live_state *st = bpf_map_lookup_elem(&live_state, &q);
	if (!st || st->ifindex == 0 || ctx->ingress_ifindex != st->ifindex)
		return XDP_PASS;

	__u32 i = st->next;
	if (i >= st->nflows)
		i = 0;
	st->next = i + 1 >= st->nflows ? 0 : i + 1;
	i += st->first;
	struct live_flow *f = bpf_map_lookup_elem(&live_flows, &i);
	if (!f)
		goto bad;

	__u8 *udp;
	if (st->ipv6) {
		if (data + ETH_LEN + IPV6_LEN + UDP_LEN + STAMP_LEN > end)
			goto bad;
		__u8 *ip = (__u8 *)data + ETH_LEN;
		__builtin_memcpy(ip + 8, f->src_addr, 16);
		__builtin_memcpy(ip + 24, f->dst_addr, 16);
		udp = ip + IPV6_LEN;
	} else {
		if (data + ETH_LEN + IPV4_LEN + UDP_LEN + STAMP_LEN > end)
			goto bad;
		__u8 *ip = (__u8 *)data + ETH_LEN;
		__builtin_memcpy(ip + 10, &f->ip_csum, 2);
		__builtin_memcpy(ip + 12, f->src_addr, 4);
		__builtin_memcpy(ip + 16, f->dst_addr, 4);
		udp = ip + IPV4_LEN;
	}
	__builtin_memcpy(udp, &f->src_port, 2);
	__builtin_memcpy(udp + 2, &f->dst_port, 2);

	__u32 seq = bpf_htonl(f->seq);
	__u64 t = bpf_ktime_get_ns();
	__u64 now = bpf_cpu_to_be64(t);
	f->seq += 1;
	__u8 *stamp = udp + UDP_LEN;
	__builtin_memcpy(stamp + 4, &seq, 4);
	__builtin_memcpy(stamp + 8, &now, 8);

	/*
	 * RFC 1624 eqn. 3 with the old stamp words all zero:
	 * HC' = ~(~HC + m'). The one's complement sum is byte-order
	 * independent (RFC 1071 2.(B)), so the words are summed as they
	 * lie in memory and the result stored the same way.
	 */
	__u32 sum = (__u16)~f->udp_csum0;
	sum = fold_add(sum, (__u16)seq);
	sum = fold_add(sum, (__u16)(seq >> 16));
	sum = fold_add(sum, (__u16)now);
	sum = fold_add(sum, (__u16)(now >> 16));
	sum = fold_add(sum, (__u16)(now >> 32));
	sum = fold_add(sum, (__u16)(now >> 48));
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	__u16 csum = (__u16)~sum;
	/* RFC 768: a computed zero is sent as all ones (IPv6: RFC 8200 8.1). */
	if (csum == 0)
		csum = 0xffff;
	__builtin_memcpy(udp + 6, &csum, 2);

	if (st->sent == 0)
		st->first_ns = t;
	st->last_ns = t;
	st->sent += 1;
	return XDP_TX;

bad:
	st->aborted += 1;
	return XDP_ABORTED;
}
