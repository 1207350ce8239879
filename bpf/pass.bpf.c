// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pass.bpf.c - XDP_PASS for every frame.
 *
 * `xdpnet bench veth` attaches it (native mode) to the kernel DUT's
 * ingress veth end when the generator is the xdp-live engine: frames a
 * veth peer transmits with ndo_xdp_xmit (BPF_PROG_RUN live frames) reach
 * an end only while an XDP program is attached there, otherwise veth
 * drops them. With this program they take the kernel's ordinary receive
 * path: the end's NAPI builds an skb from each frame and hands it to the
 * stack, which forwards it. This is what xdp-trafficgen users do to
 * drive a kernel receiver over veth.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdpnet_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
