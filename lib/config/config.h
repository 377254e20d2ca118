// Gateway configuration: the immutable result of loading a YAML file.
//
// The loader is control-plane code: it returns errors with context and never
// throws past its API. Every key is documented in docs/config.md.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ctgate {

// Workers a gateway can run: bounds per-worker arrays (conntrack's delete
// rings, counters) so they need no allocation.
inline constexpr uint16_t k_max_workers = 64;
// Packets per RX burst at most: bounds the per-burst arrays of every stage
// (rte_hash's bulk lookup takes 64 keys).
inline constexpr uint16_t k_max_burst = 64;

struct ipv4_prefix {
  uint32_t addr = 0;  // host byte order
  uint8_t len = 0;
  uint32_t mask() const { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
  uint32_t network() const { return addr & mask(); }
  bool contains(uint32_t a) const { return ((addr ^ a) & mask()) == 0; }
};
std::string format_prefix(const ipv4_prefix& p);  // "10.0.0.0/8"

// An IPv6 address in network byte order, as in the packet. Aligned for the word loads of
// hash functions (rte_jhash) and comparisons; never cast onto packet bytes (copied out).
struct alignas(8) ipv6_addr {
  uint8_t b[16] = {};
  // As two 64-bit words: the defaulted comparison went byte by byte, 16 branches on the
  // data plane's every IPv6 packet.
  bool operator==(const ipv6_addr& o) const {
    uint64_t x[2], y[2];
    std::memcpy(x, b, 16);
    std::memcpy(y, o.b, 16);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
  }
  bool is_zero() const {
    uint64_t x[2];
    std::memcpy(x, b, 16);
    return (x[0] | x[1]) == 0;
  }
  bool is_link_local() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }  // fe80::/10
  bool is_multicast() const { return b[0] == 0xff; }
};

struct ipv6_prefix {
  ipv6_addr addr;
  uint8_t len = 0;
  bool contains(const ipv6_addr& a) const;
  // The prefix with its host bits cleared: 2001:db8::1/64 -> 2001:db8::/64.
  ipv6_prefix network() const;
  bool operator==(const ipv6_prefix&) const = default;
};

struct port_config {
  std::string name;     // unique, [a-z0-9_-]{1,15}
  std::string devargs;  // PCI address ("0000:3b:00.0") or vdev string ("net_tap0,iface=x")
  ipv4_prefix address;  // the gateway's own address on this port, with prefix length
  // Its IPv6 address, if it has one. Every port also has its EUI-64 link-local address
  // (fe80::/64 from its MAC, Linux's addrgenmode eui64), whether or not this is set.
  std::optional<ipv6_prefix> address6;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint16_t mtu = 1500;
  uint16_t zone = 0;  // conntrack zone of packets received here (before `ct zone set`)
  bool promiscuous = true;
  std::optional<std::string> mac;  // override, "02:00:00:00:00:01"
  int line = 0;                    // where this port was declared (for later errors)
  // A bridge member has no address of its own (address stays 0/0): its frames are switched
  // (bridges[].ports), never routed.
  bool bridge_member = false;
  // A VLAN subinterface (ports[].vlans; vlan != 0): named PARENT.VLAN, it sends and receives
  // through its parent port's device, frames tagged with `vlan`. It has no devargs.
  std::string parent;
  uint16_t vlan = 0;
  // A bridge's own interface (bridges[].interfaces; vlan != 0, parent empty): a routed port with
  // no device, named BRIDGE or BRIDGE.VLAN, that receives what the bridge switches to its MAC in
  // `vlan` and sends through the bridge.
  std::string bridge;
};

// VLAN ids a bridge port carries: 1..4094 (0 and 4095 are reserved by 802.1Q).
inline constexpr uint16_t k_vlan_max = 4094;

// One port of a bridge, in Linux's vlan_filtering model: untagged frames belong to the PVID
// and leave untagged in it (an access port: `pvid` alone); `vlans` are carried tagged (a trunk;
// with a `pvid` too, that is its native VLAN).
struct bridge_port_config {
  std::string port;             // a ports[] name
  uint16_t pvid = 1;            // 0: untagged frames are dropped (Linux's default_pvid is 1)
  std::vector<uint16_t> vlans;  // tagged VLANs, sorted, without the PVID
  uint32_t learning_limit = 0;  // MACs this port may hold in the FDB; 0: only the bridge's bound
  int line = 0;
};

// A static FDB entry (bridge fdb add MAC dev PORT vlan VID master static): never aged, never
// moved by learning.
struct fdb_static_config {
  std::string mac;  // unicast, "aa:bb:cc:dd:ee:ff"
  uint16_t vlan = 1;
  std::string port;
  int line = 0;
};

struct bridge_config {
  std::string name;
  std::vector<bridge_port_config> ports;
  uint32_t ageing_time_s = 300;  // Linux's ageing_time (BR_DEFAULT_AGEING_TIME)
  uint32_t max_entries = 65536;  // FDB bound, all ports: past it frames flood, memory stays
  std::vector<fdb_static_config> fdb;
  int line = 0;
};

// One next hop of a multipath (ECMP) route.
struct route_hop {
  uint32_t via = 0;  // host order
  std::string port;
  bool operator==(const route_hop&) const = default;
};

struct route_config {
  ipv4_prefix prefix;
  uint32_t via = 0;  // next hop, host order; 0 = directly connected
  std::string port;  // optional: output port name; derived from `via` when empty
  // A multipath (ECMP) route: two or more next hops, a flow's packets all to the one its
  // symmetric hash picks (via and port are the first's). Empty: one next hop, via and port.
  std::vector<route_hop> nexthops;
  int line = 0;
  bool v6 = false;  // an IPv6 route: prefix6 and via6 instead of prefix and via
  ipv6_prefix prefix6;
  ipv6_addr via6;  // zero = directly connected
};

struct neighbor_config {
  uint32_t address = 0;  // host order
  std::string mac;       // "aa:bb:cc:dd:ee:ff"
  std::string port;      // port name
  int line = 0;
  bool v6 = false;  // address6 instead of address
  ipv6_addr address6;
};

// Linux's nf_conntrack_* defaults, in seconds.
struct conntrack_timeouts {
  uint32_t tcp_syn_sent = 120;
  uint32_t tcp_syn_recv = 60;
  uint32_t tcp_established = 432000;
  uint32_t tcp_fin_wait = 120;
  uint32_t tcp_close_wait = 60;
  uint32_t tcp_last_ack = 30;
  uint32_t tcp_time_wait = 120;
  uint32_t tcp_close = 10;
  uint32_t tcp_unacknowledged = 300;
  uint32_t tcp_max_retrans = 300;  // "retrans" timeout
  uint32_t udp = 30;
  uint32_t udp_stream = 120;
  uint32_t icmp = 30;
  uint32_t generic = 600;
  uint32_t icmpv6 = 30;  // nf_conntrack_icmpv6_timeout
};

struct conntrack_config {
  bool enable_hooks = false;            // Linux's nf_conntrack enable_hooks parameter
  uint32_t max = 262144;                // nf_conntrack_max
  uint32_t buckets = 262144;            // nf_conntrack_buckets: sets how widely early drop looks
  bool tcp_loose = true;                // nf_conntrack_tcp_loose
  bool tcp_be_liberal = false;          // nf_conntrack_tcp_be_liberal: no window checks
  bool tcp_ignore_invalid_rst = false;  // nf_conntrack_tcp_ignore_invalid_rst
  uint8_t tcp_max_retrans = 3;          // nf_conntrack_tcp_max_retrans
  bool log_invalid = false;             // nf_conntrack_log_invalid (for TCP), rate-limited
  bool checksum = true;                 // nf_conntrack_checksum: bad L4 checksums are INVALID
  bool acct = false;                    // nf_conntrack_acct: packets and bytes per flow
  uint32_t reserved = 0;  // entries kept for flows whose packet mark has reserved_mark bits
  uint32_t reserved_mark = 0x1;
  uint32_t log_interval_ms = 1000;  // rate limit of "table full" log lines
  conntrack_timeouts timeouts;
};

// Automatic SYN-flood defence: cookie mode for the listed TCP services,
// switched on by table fill or new-flow rate, off again once pressure falls.
struct synproxy_auto_config {
  bool enable = false;
  std::vector<uint16_t> ports;      // protected TCP destination ports
  uint32_t on_table_percent = 80;   // switch on at this conntrack fill
  uint32_t off_table_percent = 50;  // switch off below this fill ...
  uint32_t on_new_flows_per_s = 0;  // ... or on above this new-flow rate (0: fill only)
  uint16_t mss = 1460;
  uint8_t wscale = 7;
  bool timestamp = true;
  bool sack_perm = true;
};

// ICMP errors the gateway sends (Linux's net.ipv4.icmp_* sysctls).
struct icmp_config {
  uint32_t ratelimit_ms = 1000;  // icmp_ratelimit: per destination, bursts of 6
  uint32_t ratemask = 0x1818;    // icmp_ratemask: the limited types (3, 4, 11, 12)
  uint32_t msgs_per_sec = 1000;  // icmp_msgs_per_sec: all destinations together
  uint32_t msgs_burst = 50;      // icmp_msgs_burst
};

// Neighbour resolution (Linux's net.ipv4.neigh.default.* sysctls).
struct arp_config {
  uint32_t retrans_time_ms = 1000;          // retrans_time_ms: between requests
  uint32_t mcast_solicit = 3;               // requests before giving up (host unreachable)
  uint32_t unres_qlen_bytes = 212992;       // packets held per unresolved neighbour
  uint32_t base_reachable_time_ms = 30000;  // REACHABLE for this long, then STALE (probed)
  uint32_t gc_stale_time_ms = 60000;        // unconfirmed this long: the collector may remove it
  uint32_t gc_thresh1 = 128;                // no garbage collection below this many entries
};

// IPv4 reassembly in front of conntrack (Linux's net.ipv4.ipfrag_* sysctls).
struct ipfrag_config {
  uint32_t high_thresh = 4194304;  // ipfrag_high_thresh: bytes held, all workers together
  uint32_t time_ms = 30000;        // ipfrag_time: a datagram's fragments are kept this long
  uint32_t reasm_buffers = 64;     // 64 KiB buffers per worker for reassembled datagrams
};

// Bounds on one ruleset load (nft::parse_limits): a ruleset over them is
// refused with an error at the rule or set that crossed, and the live one stays.
struct ruleset_limits_config {
  uint32_t rules = 200000;          // rules over all chains
  uint32_t set_elements = 2000000;  // elements (a range is one) over all named sets
};

struct eal_config {
  std::string lcores = "0-1";  // passed as --lcores; first lcore is the main (control) lcore
  uint32_t memory_mb = 512;    // -m
  std::string file_prefix = "ctgate";
  bool no_huge = false;  // --no-huge (small test runs)
  bool no_pci = false;   // --no-pci (vdev-only setups)
  std::vector<std::string> extra_args;
};

// The Prometheus endpoint (control/metrics.h). Off unless `listen` is set.
struct metrics_config {
  std::string listen;  // as written: "127.0.0.1:9101", "[::1]:9101"; empty: no endpoint
  int line = 0;        // where, for errors found when the server starts (the port is taken)
  std::string host;    // the address part, without brackets
  uint16_t port = 0;   // 0: any free port (tests)
  bool ipv6 = false;
};

struct gateway_config {
  std::string source_file;  // path the config was read from
  std::string source_text;  // its text, as read (a reload compares the new text with it)
  eal_config eal;
  uint16_t workers =
      1;                // worker lcores (1..k_max_workers); each owns rx/tx queue <i> on every port
  uint16_t burst = 32;  // rx burst size, 1..64
  uint32_t mbufs = 16384;  // mbuf pool size per socket
  std::vector<port_config> ports;
  std::vector<route_config> routes;
  std::vector<neighbor_config> neighbors;
  std::vector<bridge_config> bridges;
  conntrack_config conntrack;
  synproxy_auto_config synproxy;
  icmp_config icmp;
  arp_config arp;
  ipfrag_config ipfrag;
  // IPv6 reassembly in front of conntrack (net.netfilter.nf_conntrack_frag6_*): reasm_buffers
  // is ipfrag's, shared.
  ipfrag_config ipfrag6{.high_thresh = 4194304, .time_ms = 60000};
  std::string ruleset;  // nft file loaded at start (relative to the config file)
  ruleset_limits_config ruleset_limits;
  uint32_t stats_interval_s = 0;  // 0 = no periodic stats log
  metrics_config metrics;
  // Registers the /ctgate/fault/ telemetry commands (stall a worker, hold
  // mbufs) for fault tests. Never on a production gateway.
  bool fault_injection = false;
};

// What a reload changes: each top-level key whose YAML differs between two valid configs'
// texts, and each key of `conntrack` one level down ("conntrack.max"), with its line in
// `after` (its line in `before` when `after` has no such key). Compared as YAML trees: a
// reordered map is the same, a value written another way ("0x10" for 16) is a change.
struct config_difference {
  std::string key;
  int line = 0;
};
std::vector<config_difference> config_differences(const std::string& before,
                                                  const std::string& after);

// Loads and validates a config file. Never throws. An error names the file,
// line and key ("FILE:LINE: KEY: MESSAGE" from to_string(); line and key are
// left out when unknown). Checks: unknown keys, types, ranges, duplicate port
// names, route/neighbor ports that do not exist, overlapping port subnets.
result<gateway_config> load_config(const std::string& path);

// Same, from an in-memory document (for tests); `name` stands for the file name in errors.
result<gateway_config> load_config_string(const std::string& yaml, const std::string& name);

// Address helpers shared with the rest of the code base (host byte order).
// The index in cfg.ports of the port named `name`, or -1.
int port_index(const gateway_config& cfg, std::string_view name);
bool parse_ipv4(const std::string& s, uint32_t* out);
bool parse_ipv4_prefix(const std::string& s, ipv4_prefix* out);
bool parse_mac(const std::string& s, uint8_t out[6]);
std::string format_mac(const uint8_t mac[6]);  // "02:00:00:00:01:01", as ip link prints it
std::string format_ipv4(uint32_t host_order_addr);
bool parse_ipv6(const std::string& s, ipv6_addr* out);
bool parse_ipv6_prefix(const std::string& s, ipv6_prefix* out);  // "2001:db8::1/64"
std::string format_ipv6(const ipv6_addr& a);                     // RFC 5952, as inet_ntop
std::string format_prefix6(const ipv6_prefix& p);                // "2001:db8::/32"
// The EUI-64 link-local address of a MAC (RFC 4291 appendix A): fe80::, the MAC with the
// universal/local bit flipped and ff:fe in its middle.
ipv6_addr ipv6_link_local_from_mac(const uint8_t mac[6]);

}  // namespace ctgate
