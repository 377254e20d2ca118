// The gateway the in-process benchmarks build (ctgate-bench-cycles,
// ctgate-bench-ruleset): two unstarted ports, lan 10.0.0.1/16 and wan
// 10.2.0.1/16; 198.18.0.0/15 (the benchmark destinations) behind a router on
// the wan side, everything else (the generated sources 10.1.x.x, spoofed or
// not) behind one on the lan side, so answers to them resolve; both routers'
// MACs static. TX goes to whatever sink the bench sets.
#pragma once

#include <cstdint>

#include "config/config.h"

namespace ctgate {

inline gateway_config bench_gateway_config(uint32_t ct_max, uint32_t mbufs, uint16_t burst = 32) {
  gateway_config cfg;
  cfg.source_file = "bench";
  cfg.workers = 1;
  cfg.burst = burst;
  cfg.mbufs = mbufs;
  port_config lan, wan;
  lan.name = "lan";
  lan.devargs = "net_null0";  // never probed: ports are not started
  parse_ipv4_prefix("10.0.0.1/16", &lan.address);
  wan.name = "wan";
  wan.devargs = "net_null1";
  parse_ipv4_prefix("10.2.0.1/16", &wan.address);
  cfg.ports = {lan, wan};
  route_config r, d;
  parse_ipv4_prefix("198.18.0.0/15", &r.prefix);
  parse_ipv4("10.2.0.254", &r.via);
  r.port = "wan";
  parse_ipv4_prefix("0.0.0.0/0", &d.prefix);
  parse_ipv4("10.0.0.254", &d.via);
  d.port = "lan";
  cfg.routes = {r, d};
  neighbor_config n, ln;
  parse_ipv4("10.2.0.254", &n.address);
  n.mac = "02:00:00:00:02:fe";
  n.port = "wan";
  parse_ipv4("10.0.0.254", &ln.address);
  ln.mac = "02:00:00:00:01:fe";
  ln.port = "lan";
  cfg.neighbors = {n, ln};
  cfg.conntrack.enable_hooks = false;  // each bench registers them when it wants them
  cfg.conntrack.max = ct_max;
  return cfg;
}

}  // namespace ctgate
