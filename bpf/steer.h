/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * steer.h - types shared by the XDP steering program (steer.bpf.c) and its
 * userspace loader (src/steering/).
 *
 * Userspace never mirrors these by hand: libbpf-cargo turns the BTF of every
 * type below into Rust (`types::steer_config`, `types::steer_counter`, ...),
 * so a change here is a compile error in the loader, not a silent skew.
 * Keep every struct free of implicit padding (the loader asserts it).
 */
#ifndef XDPNET_STEER_H
#define XDPNET_STEER_H

#include <linux/types.h>

/* Which frames the dataplane claims; the rest go to the kernel (XDP_PASS). */
enum steer_policy {
	/* Every well-formed frame (router default). */
	STEER_POLICY_ALL = 0,
	/*
	 * Only frames addressed to the dataplane: destination MAC in
	 * steer_own_mac, destination IP in steer_own_v4/steer_own_v6, ARP
	 * whose target protocol address is owned, NDP NS/NA whose target
	 * address is owned (whatever the destination, so solicited-node
	 * multicast is covered).
	 */
	STEER_POLICY_LOCAL = 1,
};

/*
 * Indexes into the per-CPU counter map steer_cnt. Every frame bumps
 * STEER_CNT_SEEN and exactly one of the others, so
 * seen == redirected + all pass_* + all drop_*.
 */
enum steer_counter {
	/* Frames the program ran on. */
	STEER_CNT_SEEN = 0,
	/* Claimed and handed to the AF_XDP socket of the rx queue. */
	STEER_CNT_REDIRECTED = 1,
	/* Passed to the kernel: the policy says the frame is not ours. */
	STEER_CNT_PASS_NOT_OWNED = 2,
	/* Claimed, but no socket is bound for this rx queue: kernel gets it. */
	STEER_CNT_PASS_NO_SOCKET = 3,
	/* Passed because the parser could not decide (QinQ, IPv6 ext hdrs). */
	STEER_CNT_PASS_UNSURE = 4,
	/* Claimed, then dropped by the configured random-drop probability. */
	STEER_CNT_DROP_RANDOM = 5,
	/* Truncated or invalid headers (nobody could use the frame). */
	STEER_CNT_DROP_MALFORMED = 6,
	/* Number of counters (max_entries of steer_cnt). */
	STEER_CNT_MAX = 7,
};

/* Value of the single entry (key 0) of the config map steer_cfg. */
struct steer_config {
	/* Unknown values pass everything to the kernel. */
	enum steer_policy policy;
	/* Must be zero. */
	__u32 reserved;
	/*
	 * A claimed frame is dropped when bpf_get_prandom_u32() < threshold,
	 * so 0 never drops and 1 << 32 always drops (probability * 2^32).
	 */
	__u64 drop_threshold;
};

/* Key of steer_own_mac: an Ethernet address owned by the dataplane. */
struct steer_mac {
	__u8 addr[6];
};

/* Key of steer_own_v4: an IPv4 address in network byte order. */
struct steer_in4 {
	__u8 addr[4];
};

/* Key of steer_own_v6: an IPv6 address in network byte order. */
struct steer_in6 {
	__u8 addr[16];
};

/* Default map sizes; the loader may resize them before loading. */
#define STEER_MAX_QUEUES 64
#define STEER_MAX_OWNED 256

#endif /* XDPNET_STEER_H */
