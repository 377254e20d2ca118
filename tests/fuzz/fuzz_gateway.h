// The gateway the fuzz targets drive: two routed ports (lan 10.0.1.1/24, wan
// 10.0.2.1/24 with MTU 1280 so fragmentation and "frag needed" are
// reachable), one worker, conntrack with reassembly, static neighbours
// .2 to .5 on both sides, and a stateful ruleset (below) with notrack,
// sets, marks, a limit, reject, log (every packet, both families, all flags), synproxy on
// tcp/8080 (both families), and NAT for both families (dnat of tcp/8081,
// masquerade and snat to a 4-port range, so translated replies, ICMP errors and exhaustion are
// reached); and a bridge of two members (b0, b1: see make_gateway) with an interface in VLAN
// 10, firewalled by a stateful bridge table (conntrack on the bridge path). Built once per
// process.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <rte_rcu_qsbr.h>

#include "conntrack/conntrack.h"
#include "control/gateway.h"
#include "control/ruleset_runtime.h"
#include "dataplane/defrag.h"
#include "dataplane/stages.h"
#include "fuzz/fuzz_eal.h"

namespace ctgate::fuzz {

// Starts with a flush: loads apply to the live ruleset (nft -f), and the
// harnesses load it again to undo what an input's commands changed.
constexpr const char* k_ruleset = R"(flush ruleset
table ip raw {
  chain pre {
    type filter hook prerouting priority raw;
    tcp dport 8080 tcp flags syn notrack
    udp dport 9000 notrack
    log prefix "fz4: " flags all
  }
}
table ip filter {
  set blocked { type ipv4_addr; flags interval; elements = { 10.0.1.200-10.0.1.250 } }
  chain fwd {
    type filter hook forward priority filter; policy drop;
    ip saddr @blocked counter drop
    tcp dport 8080 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
    ct state invalid counter drop
    ct state established,related ct mark set 0x2 accept
    iifname "lan" tcp flags & (syn|ack) == syn meta mark set 0x1 accept
    iifname "lan" udp dport { 53, 9000 } accept
    iifname "lan" icmp type echo-request limit rate 100/second accept
    ct state untracked accept
    iifname "wan" tcp dport 80 ct status dnat accept
    tcp dport 22 reject with tcp reset
  }
  chain in {
    type filter hook input priority filter; policy accept;
    icmp type echo-request accept
  }
}
table ip6 sp6 {
  chain pre {
    type filter hook prerouting priority raw;
    tcp dport 8080 tcp flags syn notrack
    log prefix "fz6: " flags all
  }
  chain fwd {
    type filter hook forward priority filter;
    tcp dport 8080 ct state invalid,untracked synproxy mss 1440 wscale 7 timestamp sack-perm
    ct state invalid counter drop
  }
}
table ip nat {
  chain pre {
    type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8081 dnat to 10.0.1.3:80
  }
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "wan" udp dport 53 masquerade
    oifname "wan" meta l4proto icmp snat to 10.0.2.1
    oifname "wan" meta l4proto tcp snat to 10.0.2.1:2000-2003
  }
}
table ip6 nat6 {
  chain pre {
    type nat hook prerouting priority dstnat;
    iifname "wan" tcp dport 8081 dnat to [2001:db8:1::3]:80
  }
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "wan" udp dport 53 masquerade
    oifname "wan" meta l4proto ipv6-icmp snat to 2001:db8:2::1
    oifname "wan" meta l4proto tcp snat to [2001:db8:2::1]:2000-2003
  }
}
table bridge br {
  chain pre {
    type filter hook prerouting priority filter;
    ether saddr 02:00:00:00:00:66 drop
  }
  chain fwd {
    type filter hook forward priority filter;
    meta protocol arp accept
    ct state established,related accept
    vlan id 20 ct state new udp dport 53 drop
    oifname "b0" ct state new drop
    ct state invalid counter drop
  }
  chain in {
    type filter hook input priority filter;
    vlan id != 10 ether type ip counter
  }
  chain out {
    type filter hook output priority filter;
    oifname "b0" meta protocol arp drop
    iifname != "b0" vlan id 10 icmp type echo-reply counter
  }
  chain post {
    type filter hook postrouting priority filter;
    ether type 8021q ct state established counter
    meta protocol arp log prefix "arp " flags all
    meta protocol 0x88b5 log flags ether
    udp dport 53 log prefix "dns " flags all
  }
}
)";

inline gateway* make_gateway(const char* ruleset = k_ruleset, bool telemetry = false) {
  eal_init_once(telemetry);
  gateway_config c;
  c.source_file = "fuzz.yaml";
  c.workers = 1;
  c.mbufs = 8192;
  c.conntrack.max = 512;
  c.conntrack.enable_hooks = true;
  c.ipfrag.high_thresh = 256 * 1024;
  c.ipfrag.reasm_buffers = 8;
  port_config lan, wan;
  lan.name = "lan";
  lan.address = {0x0a000101, 24};  // 10.0.1.1/24
  wan.name = "wan";
  wan.address = {0x0a000201, 24};  // 10.0.2.1/24
  wan.mtu = 1280;
  // IPv6 too (2001:db8:1::1/64, 2001:db8:2::1/64; hosts ::2 .. ::5 static neighbours).
  ipv6_prefix a6;
  parse_ipv6_prefix("2001:db8:1::1/64", &a6);
  lan.address6 = a6;
  parse_ipv6_prefix("2001:db8:2::1/64", &a6);
  wan.address6 = a6;
  // And a bridge: b0 an access port of VLAN 10, b1 a trunk of 10 and 20, a small FDB.
  port_config b0, b1;
  b0.name = "b0";
  b0.bridge_member = true;
  b1.name = "b1";
  b1.bridge_member = true;
  // And lan.100, a VLAN subinterface of lan (10.0.100.1/24): lan's frames tagged 100 are its.
  port_config lan100;
  lan100.name = "lan.100";
  lan100.parent = "lan";
  lan100.vlan = 100;
  lan100.address = {0x0a006401, 24};
  // And br0.10, the bridge's interface in VLAN 10 (10.0.10.1/24): frames to its MAC and copies
  // of VLAN 10's group frames go up to routing; what it sends is switched.
  port_config br10;
  br10.name = "br0.10";
  br10.bridge = "br0";
  br10.vlan = 10;
  br10.address = {0x0a000a01, 24};
  br10.mac = "02:00:00:00:0a:01";
  c.ports = {lan, wan, b0, b1, lan100, br10};
  c.neighbors.push_back({0x0a000a02, "02:00:00:00:0a:02", "br0.10", 0});
  c.neighbors.push_back({0x0a006402, "02:00:00:00:64:02", "lan.100", 0});
  bridge_config br;
  br.name = "br0";
  br.max_entries = 16;
  br.ports = {{.port = "b0", .pvid = 10}, {.port = "b1", .pvid = 0, .vlans = {10, 20}}};
  c.bridges = {br};
  for (uint32_t h = 2; h < 6; h++) {
    for (int side = 1; side <= 2; side++) {
      neighbor_config n;
      n.v6 = true;
      parse_ipv6(("2001:db8:" + std::to_string(side) + "::" + std::to_string(h)).c_str(),
                 &n.address6);
      char mac[32];
      std::snprintf(mac, sizeof mac, "02:00:00:00:0%d:%02x", side, h);
      n.mac = mac;
      n.port = side == 1 ? "lan" : "wan";
      c.neighbors.push_back(n);
    }
  }
  for (uint32_t h = 2; h < 6; h++) {
    char mac[32];
    std::snprintf(mac, sizeof mac, "02:00:00:00:01:%02x", h);
    c.neighbors.push_back({0x0a000100 + h, mac, "lan", 0});
    std::snprintf(mac, sizeof mac, "02:00:00:00:02:%02x", h);
    c.neighbors.push_back({0x0a000200 + h, mac, "wan", 0});
  }
  result<std::unique_ptr<gateway>> made = gateway_create(c, "fz");
  if (!made) {
    std::fprintf(stderr, "gateway_create: %s\n", made.error().to_string().c_str());
    std::abort();
  }
  gateway* gw = made->release();
  if (result<ruleset_summary> r = load_ruleset_text(*gw, ruleset, "fuzz.nft"); !r) {
    std::fprintf(stderr, "ruleset: %s\n", r.error().to_string().c_str());
    std::abort();
  }
  return gw;
}

// One burst through worker `w`, then its housekeeping, online for RCU only
// meanwhile (as worker_main is), so a reload between bursts never waits.
inline void run_burst(gateway& gw, worker_ctx& w, uint16_t port, rte_mbuf** pkts, uint16_t n) {
  rte_rcu_qsbr_thread_online(gw.qs, 0);
  sync_clock_from_ms(w);
  process_burst(w, port, pkts, n);
  stage_tx_flush(w);
  ct::ct_housekeeping(w.ct, w.now_ms, 1u << 20);
  defrag_tick(w, 1u << 20);
  stage_tx_flush(w);
  rte_rcu_qsbr_quiescent(gw.qs, 0);
  rte_rcu_qsbr_thread_offline(gw.qs, 0);
}

}  // namespace ctgate::fuzz
