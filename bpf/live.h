/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * live.h - types shared by the xdp-live generator program (live.bpf.c) and
 * its userspace loader (src/app/pktgen/engine_live.rs).
 *
 * libbpf-cargo turns the BTF of these types into Rust
 * (`types::live_flow`, `types::live_state`); keep them free of implicit
 * padding.
 */
#ifndef XDPNET_LIVE_H
#define XDPNET_LIVE_H

#include <linux/types.h>

/*
 * One flow: the fields that differ between the flows' frames. Every
 * other byte of the frame (MACs, lengths, TTL, payload, the stamp magic) is
 * the same for all flows and comes from the template frame given to
 * BPF_PROG_RUN. Multi-byte fields are stored exactly as they appear on the
 * wire (the loader writes the template's bytes), so the program copies
 * them without byte swapping.
 */
struct live_flow {
	/* Source address: IPv4 in the first 4 bytes, else IPv6. */
	__u8 src_addr[16];
	/* Destination address. */
	__u8 dst_addr[16];
	/* UDP source and destination port, wire order. */
	__u16 src_port;
	__u16 dst_port;
	/* The flow's UDP checksum over its frame with a zero sequence number
	 * and time (wire order): the base of the incremental fix (RFC 1624). */
	__u16 udp_csum0;
	/* IPv4 header checksum (wire order); unused for IPv6. */
	__u16 ip_csum;
	/* Next sequence number (host order). */
	__u32 seq;
	__u32 reserved;
};

/*
 * live_state[t]: configuration and counters of generator thread t (the
 * index the runs carry in their XDP metadata). Written by that thread's
 * runs only.
 */
struct live_state {
	/* The device the runs name as ingress (and XDP_TX sends out of):
	 * frames from anywhere else pass untouched (the program is also
	 * attached to lo, see live.bpf.c). 0: queue unused. */
	__u32 ifindex;
	/* This queue's flows: live_flows[first .. first + nflows). */
	__u32 first;
	__u32 nflows;
	/* Next flow to send, relative to first. */
	__u32 next;
	/* 1: the template is IPv6 (else IPv4). */
	__u32 ipv6;
	__u32 reserved;
	/* Frames stamped and returned with XDP_TX. */
	__u64 sent;
	/* Frames the program could not stamp (shorter than the headers and
	 * the stamp, or no flow): returned with XDP_ABORTED. */
	__u64 aborted;
	/* bpf_ktime_get_ns() stamped into the first and the last frame. */
	__u64 first_ns;
	__u64 last_ns;
};

#endif /* XDPNET_LIVE_H */
