// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * steer.bpf.c - XDP steering program of xdpnet.
 *
 * Every frame received on an interface runs through xdpnet_steer(), which
 * decides whether the dataplane owns it. Owned frames are redirected to the
 * AF_XDP socket bound to the frame's rx queue (steer_xsks[rx_queue_index]);
 * everything else goes to the kernel with XDP_PASS, so SSH, DHCP and the
 * host's own addresses keep working. A claimed frame on a queue without a
 * socket also falls back to the kernel (bpf_redirect_map's default action).
 *
 * Policies (steer_cfg, see steer.h):
 *   all   - claim every well-formed frame (router default).
 *   local - claim only frames for the dataplane's own addresses: destination
 *           MAC in steer_own_mac; destination IPv4/IPv6 address in
 *           steer_own_v4/steer_own_v6; ARP whose target protocol address
 *           is owned; ICMPv6 NS/NA whose target address is owned (so
 *           solicited-node multicast is covered).
 *
 * Limits of the local policy (each falls back to XDP_PASS):
 *   - one VLAN tag (802.1Q or 802.1ad) is parsed; a second tag (QinQ) is
 *     passed and counted as "unsure". NICs that strip the tag in hardware
 *     show the frame untagged, which is handled the same way.
 *   - IPv6 extension headers are not walked. Ownership by destination
 *     address still works; NDP is recognised only when ICMPv6 directly
 *     follows the fixed header (true of every NDP message seen in
 *     practice). Multicast with extension headers is passed as "unsure".
 *   - IPv4/IPv6 header checksums are not verified (the stack does it).
 *
 * Malformed frames (shorter than their headers claim) are dropped and
 * counted under every policy: neither the kernel nor the dataplane could
 * use them. A random drop (steer_config.drop_threshold) applies only to
 * frames the policy claims, so injected loss never hits host traffic.
 *
 * Counters are per CPU (no atomics on the hot path) and summed by the
 * loader; every frame bumps STEER_CNT_SEEN and exactly one other counter.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * BTF anchor: the datapath never reads this variable. Its type puts
 * enum steer_counter into the object's BTF, so the generated skeleton
 * carries the counter indexes and userspace never copies them by hand.
 */
const volatile enum steer_counter steer_cnt_max = STEER_CNT_MAX;

/* rx queue index -> AF_XDP socket fd (written by the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, STEER_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} steer_xsks SEC(".maps");

/* Key 0: struct steer_config. All zero = policy all, no random drop. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_config);
} steer_cfg SEC(".maps");

/* enum steer_counter -> frames, one slot per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} steer_cnt SEC(".maps");

/* Owned addresses for the local policy; the value is unused (set to 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_OWNED);
	__type(key, struct steer_mac);
	__type(value, __u8);
} steer_own_mac SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_OWNED);
	__type(key, struct steer_in4);
	__type(value, __u8);
} steer_own_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_OWNED);
	__type(key, struct steer_in6);
	__type(value, __u8);
} steer_own_v6 SEC(".maps");

/* Outcome of classifying one frame under the local policy. */
enum steer_class {
	STEER_CLASS_CLAIM,
	STEER_CLASS_NOT_OWNED,
	STEER_CLASS_UNSURE,
	STEER_CLASS_MALFORMED,
};

/* Parse position; every parse_* helper advances it past what it read. */
struct hdr_cursor {
	void *pos;
};

/* 802.1Q / 802.1ad tag (not in the uapi headers). */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/*
 * Fixed ARP header (RFC 826). Defined here because <linux/if_arp.h> pulls
 * in libc headers that do not build for the BPF target.
 */
struct arphdr {
	__be16 ar_hrd;
	__be16 ar_pro;
	__u8 ar_hln;
	__u8 ar_pln;
	__be16 ar_op;
};

#define ARPHRD_ETHER 1

/*
 * ARP for Ethernet/IPv4. The addresses are byte arrays because ar_sip and
 * ar_tip sit at 2-byte aligned offsets.
 */
struct arp_eth_ipv4 {
	struct arphdr hdr;
	__u8 ar_sha[ETH_ALEN];
	__u8 ar_sip[4];
	__u8 ar_tha[ETH_ALEN];
	__u8 ar_tip[4];
};

/* ICMPv6 Neighbor Solicitation / Advertisement (RFC 4861 4.3, 4.4). */
struct nd_msg {
	struct icmp6hdr icmph;
	__u8 target[16];
};

#define NDISC_NEIGHBOUR_SOLICITATION 135
#define NDISC_NEIGHBOUR_ADVERTISEMENT 136

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&steer_cnt, &idx);

	if (v)
		*v += 1;
}

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/* Returns 0 and sets *eth, or -1 when the frame is shorter than ETH_HLEN. */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end,
					struct ethhdr **eth)
{
	struct ethhdr *h = nh->pos;

	if ((void *)(h + 1) > data_end)
		return -1;
	nh->pos = h + 1;
	*eth = h;
	return 0;
}

/* Reads one VLAN tag; *proto becomes the encapsulated ethertype. */
static __always_inline int parse_vlanhdr(struct hdr_cursor *nh, void *data_end,
					 __be16 *proto)
{
	struct vlan_hdr *vh = nh->pos;

	if ((void *)(vh + 1) > data_end)
		return -1;
	nh->pos = vh + 1;
	*proto = vh->h_vlan_encapsulated_proto;
	return 0;
}

static __always_inline int own_v4(const __u8 *addr)
{
	struct steer_in4 key;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&steer_own_v4, &key) != NULL;
}

static __always_inline int own_v6(const __u8 *addr)
{
	struct steer_in6 key;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&steer_own_v6, &key) != NULL;
}

static __always_inline enum steer_class classify_arp(struct hdr_cursor *nh,
						     void *data_end)
{
	struct arp_eth_ipv4 *arp = nh->pos;

	if ((void *)(&arp->hdr + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	/* Not Ethernet/IPv4 ARP: nothing the dataplane speaks. */
	if (arp->hdr.ar_hrd != bpf_htons(ARPHRD_ETHER) ||
	    arp->hdr.ar_pro != bpf_htons(ETH_P_IP) ||
	    arp->hdr.ar_hln != ETH_ALEN || arp->hdr.ar_pln != 4)
		return STEER_CLASS_NOT_OWNED;
	if ((void *)(arp + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	return own_v4(arp->ar_tip) ? STEER_CLASS_CLAIM : STEER_CLASS_NOT_OWNED;
}

static __always_inline enum steer_class classify_ipv4(struct hdr_cursor *nh,
						      void *data_end)
{
	struct iphdr *iph = nh->pos;
	__u32 hdrsize;

	if ((void *)(iph + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return STEER_CLASS_MALFORMED;
	hdrsize = iph->ihl * 4;
	if (nh->pos + hdrsize > data_end)
		return STEER_CLASS_MALFORMED;
	/* Total length must cover the header and fit in the frame. */
	if (bpf_ntohs(iph->tot_len) < hdrsize ||
	    bpf_ntohs(iph->tot_len) > data_end - nh->pos)
		return STEER_CLASS_MALFORMED;
	return own_v4((const __u8 *)&iph->daddr) ? STEER_CLASS_CLAIM :
						    STEER_CLASS_NOT_OWNED;
}

static __always_inline int ipv6_is_ext_hdr(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
		return 1;
	default:
		return 0;
	}
}

static __always_inline enum steer_class classify_ndp(struct hdr_cursor *nh,
						     void *data_end)
{
	struct nd_msg *nd = nh->pos;

	if ((void *)(&nd->icmph + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	if (nd->icmph.icmp6_type != NDISC_NEIGHBOUR_SOLICITATION &&
	    nd->icmph.icmp6_type != NDISC_NEIGHBOUR_ADVERTISEMENT)
		return STEER_CLASS_NOT_OWNED;
	if ((void *)(nd + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	return own_v6(nd->target) ? STEER_CLASS_CLAIM : STEER_CLASS_NOT_OWNED;
}

static __always_inline enum steer_class classify_ipv6(struct hdr_cursor *nh,
						      void *data_end)
{
	struct ipv6hdr *ip6h = nh->pos;

	if ((void *)(ip6h + 1) > data_end)
		return STEER_CLASS_MALFORMED;
	if (ip6h->version != 6)
		return STEER_CLASS_MALFORMED;
	nh->pos = ip6h + 1;
	/* Payload must fit in the frame (0 = jumbogram: the stack decides). */
	if (bpf_ntohs(ip6h->payload_len) > data_end - nh->pos)
		return STEER_CLASS_MALFORMED;
	if (own_v6(ip6h->daddr.in6_u.u6_addr8))
		return STEER_CLASS_CLAIM;
	if (ip6h->nexthdr == IPPROTO_ICMPV6)
		return classify_ndp(nh, data_end);
	/* Multicast behind extension headers could be NDP for us: unsure. */
	if (ip6h->daddr.in6_u.u6_addr8[0] == 0xff &&
	    ipv6_is_ext_hdr(ip6h->nexthdr))
		return STEER_CLASS_UNSURE;
	return STEER_CLASS_NOT_OWNED;
}

static __always_inline enum steer_class
classify_local(struct hdr_cursor *nh, void *data_end, struct ethhdr *eth)
{
	struct steer_mac mac;
	__be16 proto = eth->h_proto;

	__builtin_memcpy(mac.addr, eth->h_dest, ETH_ALEN);
	if (bpf_map_lookup_elem(&steer_own_mac, &mac))
		return STEER_CLASS_CLAIM;

	if (proto_is_vlan(proto)) {
		if (parse_vlanhdr(nh, data_end, &proto) < 0)
			return STEER_CLASS_MALFORMED;
		if (proto_is_vlan(proto))
			return STEER_CLASS_UNSURE;
	}

	switch (proto) {
	case bpf_htons(ETH_P_ARP):
		return classify_arp(nh, data_end);
	case bpf_htons(ETH_P_IP):
		return classify_ipv4(nh, data_end);
	case bpf_htons(ETH_P_IPV6):
		return classify_ipv6(nh, data_end);
	default:
		return STEER_CLASS_NOT_OWNED;
	}
}

SEC("xdp")
int xdpnet_steer(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	const struct steer_config *cfg;
	enum steer_class class;
	struct ethhdr *eth;
	__u32 zero = 0;
	long action;

	count(STEER_CNT_SEEN);

	if (parse_ethhdr(&nh, data_end, &eth) < 0) {
		count(STEER_CNT_DROP_MALFORMED);
		return XDP_DROP;
	}

	cfg = bpf_map_lookup_elem(&steer_cfg, &zero);
	if (!cfg) {
		/* Cannot happen for an array map; keep the host reachable. */
		count(STEER_CNT_PASS_UNSURE);
		return XDP_PASS;
	}

	switch (cfg->policy) {
	case STEER_POLICY_ALL:
		class = STEER_CLASS_CLAIM;
		break;
	case STEER_POLICY_LOCAL:
		class = classify_local(&nh, data_end, eth);
		break;
	default:
		class = STEER_CLASS_UNSURE;
		break;
	}

	switch (class) {
	case STEER_CLASS_CLAIM:
		break;
	case STEER_CLASS_NOT_OWNED:
		count(STEER_CNT_PASS_NOT_OWNED);
		return XDP_PASS;
	case STEER_CLASS_MALFORMED:
		count(STEER_CNT_DROP_MALFORMED);
		return XDP_DROP;
	default:
		count(STEER_CNT_PASS_UNSURE);
		return XDP_PASS;
	}

	if (cfg->drop_threshold &&
	    (__u64)bpf_get_prandom_u32() < cfg->drop_threshold) {
		count(STEER_CNT_DROP_RANDOM);
		return XDP_DROP;
	}

	/* No socket on this queue: the kernel gets the frame (XDP_PASS). */
	action = bpf_redirect_map(&steer_xsks, ctx->rx_queue_index, XDP_PASS);
	count(action == XDP_REDIRECT ? STEER_CNT_REDIRECTED :
				       STEER_CNT_PASS_NO_SOCKET);
	return action;
}
