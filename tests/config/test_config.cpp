// Unit tests for the YAML config loader: values, defaults, every error class with its exact
// one-line message, the address helpers, mutated inputs, and the shipped drivers-config files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "config/config.h"

namespace ctgate {
namespace {

// Every key set to a non-default value, so a field that is not read shows up as a failure.
constexpr const char* kFull = R"(eal:
  lcores: "0-3"
  memory_mb: 1024
  file_prefix: Test_1-x
  no_huge: true
  no_pci: true
  extra_args: ["--log-level=8", "-d", "librte_net_tap.so"]
workers: 2
burst: 16
mbufs: 8192
ports:
  - name: lan
    devargs: "net_af_packet0,iface=veth-lan"
    address: 10.10.1.1/24
    rx_desc: 512
    tx_desc: 2048
    mtu: 9000
    promiscuous: false
    mac: "02:00:00:00:00:0A"
  - name: wan
    devargs: "0000:3b:00.0"
    address: 10.10.2.1/24
routes:
  - prefix: 0.0.0.0/0
    via: 10.10.2.2
  - prefix: 192.168.0.0/16
    via: 10.10.1.254
    port: lan
  - prefix: 10.20.0.0/16
    port: wan
neighbors:
  - address: 10.10.2.2
    mac: "02:AA:bb:cc:dd:ee"
    port: wan
conntrack:
  enable_hooks: true
  max: 1000
  tcp_loose: false
  log_interval_ms: 0
  tcp_be_liberal: true
  tcp_ignore_invalid_rst: true
  tcp_max_retrans: 7
  log_invalid: true
  timeouts:
    tcp_syn_sent: 1
    tcp_syn_recv: 2
    tcp_established: 3
    tcp_fin_wait: 4
    tcp_close_wait: 5
    tcp_last_ack: 6
    tcp_time_wait: 7
    tcp_close: 8
    tcp_unacknowledged: 9
    tcp_max_retrans: 10
    udp: 11
    udp_stream: 12
    icmp: 13
    generic: 2147483
ruleset: /etc/ctgate/rules.nft
stats_interval_s: 10
)";

// The smallest valid document: lines 1-4. Error tests append to it.
constexpr const char* kPorts = R"(ports:
  - name: lan
    devargs: x
    address: 10.10.1.1/24
)";

uint32_t ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

// Loads `yaml`, expects a failure and returns the error line.
std::string error_of(const std::string& yaml) {
  result<gateway_config> cfg = load_config_string(yaml, "t.yaml");
  EXPECT_FALSE(cfg.ok()) << yaml;
  return cfg.ok() ? "" : cfg.error().to_string();
}

TEST(ConfigLoad, FullConfig) {
  result<gateway_config> cfg = load_config_string(kFull, "full.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->source_file, "full.yaml");
  EXPECT_EQ(cfg->eal.lcores, "0-3");
  EXPECT_EQ(cfg->eal.memory_mb, 1024u);
  EXPECT_EQ(cfg->eal.file_prefix, "Test_1-x");
  EXPECT_TRUE(cfg->eal.no_huge);
  EXPECT_TRUE(cfg->eal.no_pci);
  EXPECT_EQ(cfg->eal.extra_args,
            (std::vector<std::string>{"--log-level=8", "-d", "librte_net_tap.so"}));
  EXPECT_EQ(cfg->workers, 2);
  EXPECT_EQ(cfg->burst, 16);
  EXPECT_EQ(cfg->mbufs, 8192u);

  ASSERT_EQ(cfg->ports.size(), 2u);
  const port_config& lan = cfg->ports[0];
  EXPECT_EQ(lan.name, "lan");
  EXPECT_EQ(lan.devargs, "net_af_packet0,iface=veth-lan");
  EXPECT_EQ(lan.address.addr, ip(10, 10, 1, 1));
  EXPECT_EQ(lan.address.len, 24);
  EXPECT_EQ(lan.rx_desc, 512);
  EXPECT_EQ(lan.tx_desc, 2048);
  EXPECT_EQ(lan.mtu, 9000);
  EXPECT_FALSE(lan.promiscuous);
  EXPECT_EQ(lan.mac, "02:00:00:00:00:0a");  // canonical lower case
  EXPECT_EQ(lan.line, 12);
  const port_config& wan = cfg->ports[1];
  EXPECT_EQ(wan.name, "wan");
  EXPECT_EQ(wan.devargs, "0000:3b:00.0");
  EXPECT_EQ(wan.address.addr, ip(10, 10, 2, 1));
  EXPECT_EQ(wan.rx_desc, 1024);
  EXPECT_EQ(wan.tx_desc, 1024);
  EXPECT_EQ(wan.mtu, 1500);
  EXPECT_TRUE(wan.promiscuous);
  EXPECT_FALSE(wan.mac.has_value());
  EXPECT_EQ(wan.line, 20);

  ASSERT_EQ(cfg->routes.size(), 3u);
  EXPECT_EQ(cfg->routes[0].prefix.addr, 0u);
  EXPECT_EQ(cfg->routes[0].prefix.len, 0);
  EXPECT_EQ(cfg->routes[0].via, ip(10, 10, 2, 2));
  EXPECT_EQ(cfg->routes[0].port, "wan");  // derived from via
  EXPECT_EQ(cfg->routes[0].line, 24);
  EXPECT_EQ(cfg->routes[1].prefix.addr, ip(192, 168, 0, 0));
  EXPECT_EQ(cfg->routes[1].prefix.len, 16);
  EXPECT_EQ(cfg->routes[1].via, ip(10, 10, 1, 254));
  EXPECT_EQ(cfg->routes[1].port, "lan");
  EXPECT_EQ(cfg->routes[2].via, 0u);  // connected
  EXPECT_EQ(cfg->routes[2].port, "wan");

  ASSERT_EQ(cfg->neighbors.size(), 1u);
  EXPECT_EQ(cfg->neighbors[0].address, ip(10, 10, 2, 2));
  EXPECT_EQ(cfg->neighbors[0].mac, "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(cfg->neighbors[0].port, "wan");
  EXPECT_EQ(cfg->neighbors[0].line, 32);

  const conntrack_config& ct = cfg->conntrack;
  EXPECT_TRUE(ct.enable_hooks);
  EXPECT_EQ(ct.max, 1000u);
  EXPECT_FALSE(ct.tcp_loose);
  EXPECT_EQ(ct.log_interval_ms, 0u);
  EXPECT_TRUE(ct.tcp_be_liberal);
  EXPECT_TRUE(ct.tcp_ignore_invalid_rst);
  EXPECT_EQ(ct.tcp_max_retrans, 7);
  EXPECT_TRUE(ct.log_invalid);
  const conntrack_timeouts& t = ct.timeouts;
  EXPECT_EQ(t.tcp_syn_sent, 1u);
  EXPECT_EQ(t.tcp_syn_recv, 2u);
  EXPECT_EQ(t.tcp_established, 3u);
  EXPECT_EQ(t.tcp_fin_wait, 4u);
  EXPECT_EQ(t.tcp_close_wait, 5u);
  EXPECT_EQ(t.tcp_last_ack, 6u);
  EXPECT_EQ(t.tcp_time_wait, 7u);
  EXPECT_EQ(t.tcp_close, 8u);
  EXPECT_EQ(t.tcp_unacknowledged, 9u);
  EXPECT_EQ(t.tcp_max_retrans, 10u);
  EXPECT_EQ(t.udp, 11u);
  EXPECT_EQ(t.udp_stream, 12u);
  EXPECT_EQ(t.icmp, 13u);
  EXPECT_EQ(t.generic, 2147483u);
  EXPECT_EQ(cfg->ruleset, "/etc/ctgate/rules.nft");
  EXPECT_EQ(cfg->stats_interval_s, 10u);
}

TEST(ConfigLoad, Defaults) {
  result<gateway_config> cfg = load_config_string(kPorts, "min.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->eal.lcores, "0-1");
  EXPECT_EQ(cfg->eal.memory_mb, 512u);
  EXPECT_EQ(cfg->eal.file_prefix, "ctgate");
  EXPECT_FALSE(cfg->eal.no_huge);
  EXPECT_FALSE(cfg->eal.no_pci);
  EXPECT_TRUE(cfg->eal.extra_args.empty());
  EXPECT_EQ(cfg->workers, 1);
  EXPECT_EQ(cfg->burst, 32);
  EXPECT_EQ(cfg->mbufs, 16384u);
  ASSERT_EQ(cfg->ports.size(), 1u);
  EXPECT_EQ(cfg->ports[0].rx_desc, 1024);
  EXPECT_EQ(cfg->ports[0].tx_desc, 1024);
  EXPECT_EQ(cfg->ports[0].mtu, 1500);
  EXPECT_TRUE(cfg->ports[0].promiscuous);
  EXPECT_FALSE(cfg->ports[0].mac.has_value());
  EXPECT_TRUE(cfg->routes.empty());
  EXPECT_TRUE(cfg->neighbors.empty());
  EXPECT_FALSE(cfg->conntrack.enable_hooks);
  EXPECT_EQ(cfg->conntrack.max, 262144u);
  EXPECT_EQ(cfg->conntrack.buckets, 262144u);  // Linux's on a 64-bit host over 4 GiB
  EXPECT_TRUE(cfg->conntrack.tcp_loose);
  EXPECT_EQ(cfg->conntrack.log_interval_ms, 1000u);
  EXPECT_EQ(cfg->conntrack.timeouts.tcp_established, 432000u);
  EXPECT_EQ(cfg->conntrack.timeouts.generic, 600u);
  EXPECT_EQ(cfg->ruleset, "");
  EXPECT_EQ(cfg->stats_interval_s, 0u);
}

TEST(ConfigLoad, EmptySectionsAreEmpty) {
  // Sections whose entries are all commented out parse as null.
  EXPECT_TRUE(
      load_config_string(
          std::string(kPorts) + "eal:\nroutes:\nneighbors:\nconntrack:\n  timeouts:\n", "t.yaml")
          .ok());
}

TEST(ConfigLoad, BoundaryValuesAccepted) {
  auto cfg = load_config_string(R"(workers: 64
burst: 1
mbufs: 16777216
stats_interval_s: 86400
ports:
  - name: a-b_9
    devargs: x
    address: 10.0.0.1/32
    rx_desc: 64
    tx_desc: 16384
    mtu: 68
  - name: b
    devargs: y
    address: 10.0.0.2/31
    mtu: 9600
conntrack:
  max: 67108864
  buckets: 1
  log_interval_ms: 3600000
)",
                                "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->workers, 64);
  EXPECT_EQ(cfg->ports[0].tx_desc, 16384);
  EXPECT_EQ(cfg->conntrack.max, 67108864u);
  EXPECT_EQ(cfg->conntrack.buckets, 1u);
}

TEST(ConfigErrors, ErrorNamesFileLineAndKey) {
  result<gateway_config> cfg = load_config_string(std::string(kPorts) + "workers: 0\n", "t.yaml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().file, "t.yaml");
  EXPECT_EQ(cfg.error().line, 5);
  EXPECT_EQ(cfg.error().col, 0);
  EXPECT_EQ(cfg.error().key, "workers");
  EXPECT_EQ(cfg.error().message, "must be between 1 and 64");
  EXPECT_TRUE(cfg.error().detail.empty());
}

TEST(ConfigErrors, FileErrors) {
  result<gateway_config> cfg = load_config("/nonexistent/x.yaml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().to_string(),
            "/nonexistent/x.yaml: cannot open file: No such file or directory");
  cfg = load_config("/");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().to_string(), "/: cannot read file: Is a directory");
}

TEST(ConfigErrors, SyntaxErrors) {
  EXPECT_EQ(error_of("workers: 1\nports: [1\n"), "t.yaml:3: end of sequence flow not found");
  EXPECT_EQ(error_of("workers: 1\nburst: b: c\n"), "t.yaml:2: illegal map value");
  EXPECT_EQ(error_of("ports: *nothing\n"), "t.yaml:1: the referenced anchor is not defined");
  EXPECT_EQ(error_of("ports: " + std::string(3000, '[')), "t.yaml:1: nesting too deep");
}

TEST(ConfigErrors, EmptyOrNotAMap) {
  EXPECT_EQ(error_of(""), "t.yaml: the file is empty");
  EXPECT_EQ(error_of("# only a comment\n\n"), "t.yaml: the file is empty");
  EXPECT_EQ(error_of("\n- a\n- b\n"), "t.yaml:2: the top level must be a map of settings");
  EXPECT_EQ(error_of("hello\n"), "t.yaml:1: the top level must be a map of settings");
  EXPECT_EQ(error_of("~\n"), "t.yaml:1: the top level must be a map of settings");
  EXPECT_EQ(error_of(std::string(kPorts) + "---\nworkers: 2\n"),
            "t.yaml:6: only one YAML document is allowed");
}

// Found by tests/fuzz/fuzz_config: yaml-cpp sees an endless run of empty
// documents in a stray ',' (']', '}'), and YAML::LoadAll never returned,
// allocating until the process died. Each must be a prompt error.
TEST(ConfigErrors, StrayFlowIndicatorIsAnErrorNotAHang) {
  EXPECT_EQ(error_of(","), "t.yaml:1: unexpected ',' (column 1)");
  EXPECT_EQ(error_of("  ,"), "t.yaml:1: unexpected ',' (column 3)");
  for (const char* text : {"]", "}", "# comment\n,\n", "workers: 1\n,\n"})
    EXPECT_FALSE(load_config_string(text, "t.yaml")) << text;
}

// A binary given as the config (issue 11): said plainly, with where.
TEST(ConfigErrors, BinaryFileIsNotAText) {
  EXPECT_EQ(error_of(std::string("\x7f"
                                 "ELF\x02\x01\x01\0\0",
                                 9)),
            "t.yaml:1: not a text file (a NUL byte at offset 7): a config is YAML");
  EXPECT_EQ(error_of(std::string(kPorts) + std::string("x: \0", 4)),
            "t.yaml:5: not a text file (a NUL byte at offset " +
                std::to_string(std::string(kPorts).size() + 3) + "): a config is YAML");
}

TEST(Config, RulesetLimits) {
  result<gateway_config> c = load_config_string(kPorts, "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->ruleset_limits.rules, 200000u);
  EXPECT_EQ(c->ruleset_limits.set_elements, 2000000u);
  c = load_config_string(std::string(kPorts) + "ruleset_limits:\n  rules: 10\n  set_elements: 20\n",
                         "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->ruleset_limits.rules, 10u);
  EXPECT_EQ(c->ruleset_limits.set_elements, 20u);
  EXPECT_EQ(error_of(std::string(kPorts) + "ruleset_limits:\n  rules: 0\n"),
            "t.yaml:6: ruleset_limits.rules: must be between 1 and 10000000");
}

TEST(Config, Ipfrag6HasLinuxsDefaultsAndSharesTheReassemblyBuffers) {
  result<gateway_config> c = load_config_string(kPorts, "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->ipfrag6.high_thresh, 4194304u);  // nf_conntrack_frag6_high_thresh
  EXPECT_EQ(c->ipfrag6.time_ms, 60000u);        // nf_conntrack_frag6_timeout
  c = load_config_string(std::string(kPorts) + "ipfrag6:\n  high_thresh: 0\n  time_ms: 1000\n",
                         "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->ipfrag6.high_thresh, 0u);
  EXPECT_EQ(c->ipfrag6.time_ms, 1000u);
  EXPECT_EQ(c->ipfrag.time_ms, 30000u);
  EXPECT_EQ(error_of(std::string(kPorts) + "ipfrag6:\n  reasm_buffers: 8\n"),
            "t.yaml:6: ipfrag6.reasm_buffers: unknown key");
}

// The neighbour collector's knobs: Linux's gc_stale_time and gc_thresh1, with their defaults.
TEST(Config, NeighbourGarbageCollectionHasLinuxsDefaults) {
  result<gateway_config> c = load_config_string(kPorts, "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->arp.gc_stale_time_ms, 60000u);
  EXPECT_EQ(c->arp.gc_thresh1, 128u);
  c = load_config_string(std::string(kPorts) + "arp:\n  gc_stale_time_ms: 5000\n  gc_thresh1: 0\n",
                         "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->arp.gc_stale_time_ms, 5000u);
  EXPECT_EQ(c->arp.gc_thresh1, 0u);
  EXPECT_EQ(error_of(std::string(kPorts) + "arp:\n  gc_thresh1: 5000\n"),
            "t.yaml:6: arp.gc_thresh1: must be between 0 and 4096");
}

TEST(Config, FaultInjectionIsOffByDefault) {
  result<gateway_config> c = load_config_string(kPorts, "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_FALSE(c->fault_injection);
  c = load_config_string(std::string(kPorts) + "fault_injection: true\n", "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_TRUE(c->fault_injection);
}

TEST(Config, MetricsListen) {
  result<gateway_config> c = load_config_string(kPorts, "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_TRUE(c->metrics.listen.empty());
  c = load_config_string(std::string(kPorts) + "metrics:\n  listen: 127.0.0.1:9101\n", "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->metrics.host, "127.0.0.1");
  EXPECT_EQ(c->metrics.port, 9101);
  EXPECT_FALSE(c->metrics.ipv6);
  EXPECT_EQ(c->metrics.line, 6);
  c = load_config_string(std::string(kPorts) + "metrics: { listen: \"[::1]:0\" }\n", "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->metrics.host, "::1");
  EXPECT_EQ(c->metrics.port, 0);
  EXPECT_TRUE(c->metrics.ipv6);
  const std::pair<const char*, const char*> bad[] = {
      {"9101", "expected ADDRESS:PORT, e.g. 127.0.0.1:9101 or [::1]:9101"},
      {"127.0.0.1:", "expected ADDRESS:PORT"},
      {"::1:9101", "'::1' is not an IPv4 address (an IPv6 one goes in brackets: [::1]:9101)"},
      {"localhost:9101", "'localhost' is not an IPv4 address"},
      {"[10.0.0.1]:9101", "'10.0.0.1' is not an IPv6 address"},
      {"127.0.0.1:65536", "'65536' is not a port (0..65535)"},
      {"127.0.0.1:-1", "'-1' is not a port"},
  };
  for (const auto& [listen, why] : bad) {
    c = load_config_string(std::string(kPorts) + "metrics:\n  listen: \"" + listen + "\"\n",
                           "t.yaml");
    ASSERT_FALSE(c) << listen;
    EXPECT_NE(c.error().to_string().find(std::string("t.yaml:6: metrics.listen: ") + why),
              std::string::npos)
        << c.error().to_string();
  }
}

// What a reload compares: top-level keys, conntrack's one level down, as YAML trees.
TEST(Config, DifferencesForAReload) {
  const std::string a = std::string(kPorts) +
                        "workers: 1\nconntrack:\n  max: 1024\n  timeouts: {udp: 30}\n"
                        "routes: []\n";
  EXPECT_TRUE(config_differences(a, a).empty());
  // Reordered, reformatted maps are the same.
  const std::string b =
      std::string(kPorts) + "routes: []\nconntrack: {timeouts: {udp: 30}, max: 1024}\nworkers: 1\n";
  EXPECT_TRUE(config_differences(a, b).empty());
  const std::string c = std::string(kPorts) +
                        "workers: 2\nconntrack:\n  max: 1024\n  timeouts: {udp: 45}\n"
                        "metrics: {listen: 127.0.0.1:9101}\n";
  const auto d = config_differences(a, c);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].key, "workers");
  EXPECT_EQ(d[0].line, 5);
  EXPECT_EQ(d[1].key, "conntrack.timeouts");
  EXPECT_EQ(d[1].line, 8);
  EXPECT_EQ(d[2].key, "routes");  // gone: its line in the old text
  EXPECT_EQ(d[2].line, 9);
  EXPECT_EQ(d[3].key, "metrics");
  EXPECT_EQ(d[3].line, 9);
  // A section one side lacks is compared key by key.
  const auto e =
      config_differences(kPorts, std::string(kPorts) + "conntrack: {timeouts: {udp: 45}}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].key, "conntrack.timeouts");
}

TEST(Config, MultipathRoutes) {
  const std::string two_ports = R"(ports:
  - name: lan
    devargs: x
    address: 10.10.1.1/24
  - name: wan
    devargs: y
    address: 10.10.2.1/24
routes:
  - prefix: 0.0.0.0/0
)";
  result<gateway_config> c = load_config_string(
      two_ports + "    nexthops:\n      - via: 10.10.2.9\n      - {via: 10.10.1.9, port: lan}\n",
      "t.yaml");
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_EQ(c->routes.size(), 1u);
  ASSERT_EQ(c->routes[0].nexthops.size(), 2u);
  EXPECT_EQ(c->routes[0].nexthops[0], (route_hop{ip(10, 10, 2, 9), "wan"}));
  EXPECT_EQ(c->routes[0].nexthops[1], (route_hop{ip(10, 10, 1, 9), "lan"}));
  EXPECT_EQ(c->routes[0].via, ip(10, 10, 2, 9));
  const std::pair<const char*, const char*> bad[] = {
      {"    via: 10.10.2.9\n    nexthops: [{via: 10.10.2.9}, {via: 10.10.2.8}]\n",
       "t.yaml:11: routes[0].nexthops: a route has 'via' and 'port', or 'nexthops', not both"},
      {"    nexthops: [{via: 10.10.2.9}]\n", "routes[0].nexthops: "},
      {"    nexthops: [{via: 10.10.2.9}, {via: 10.10.2.9}]\n", "is listed twice"},
      {"    nexthops: [{via: 10.10.2.9}, {port: lan}]\n",
       "routes[0].nexthops[1].via: missing required key"},
      {"    nexthops: [{via: 10.10.2.9}, {via: 10.99.0.1}]\n",
       "10.99.0.1 is not in the subnet of any port"},
  };
  for (const auto& [text, why] : bad) {
    c = load_config_string(two_ports + text, "t.yaml");
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().to_string().find(why), std::string::npos) << c.error().to_string();
  }
}

TEST(ConfigErrors, UnknownKeys) {
  EXPECT_EQ(error_of("workers: 1\n\nworkerz: 2\n" + std::string(kPorts)),
            "t.yaml:3: workerz: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "eal:\n  lcores: '0'\n  lcore: 1\n"),
            "t.yaml:7: eal.lcore: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "    nmae: x\n"),
            "t.yaml:5: ports[0].nmae: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "routes:\n  - prefix: 1.0.0.0/8\n    gw: 1.1.1.1\n"),
            "t.yaml:7: routes[0].gw: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "conntrack:\n  timeouts:\n    tcp_syn: 5\n"),
            "t.yaml:7: conntrack.timeouts.tcp_syn: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "? [a]\n: 1\n"), "t.yaml:5: map keys must be strings");
}

TEST(ConfigErrors, DuplicateKeys) {
  EXPECT_EQ(error_of(std::string(kPorts) + "workers: 1\nworkers: 2\n"),
            "t.yaml:6: workers: duplicate key");
}

TEST(ConfigErrors, WrongTypes) {
  const std::string p = kPorts;
  EXPECT_EQ(error_of(p + "workers: many\n"), "t.yaml:5: workers: expected an integer");
  EXPECT_EQ(error_of(p + "workers: \"4\"\n"), "t.yaml:5: workers: expected an integer");
  EXPECT_EQ(error_of(p + "workers:\n"), "t.yaml:5: workers: expected an integer");
  EXPECT_EQ(error_of(p + "workers: [1]\n"), "t.yaml:5: workers: expected an integer");
  EXPECT_EQ(error_of(p + "eal: 5\n"), "t.yaml:5: eal: expected a map");
  EXPECT_EQ(error_of(p + "eal:\n  - lcores: 1\n"), "t.yaml:6: eal: expected a map");
  EXPECT_EQ(error_of(p + "eal:\n  extra_args: -v\n"), "t.yaml:6: eal.extra_args: expected a list");
  EXPECT_EQ(error_of(p + "eal:\n  extra_args: [[-v]]\n"),
            "t.yaml:6: eal.extra_args[0]: expected a string");
  EXPECT_EQ(error_of(p + "eal:\n  extra_args:\n    - -v\n    - [x]\n"),
            "t.yaml:8: eal.extra_args[1]: expected a string");
  EXPECT_EQ(error_of("ports:\n  name: lan\n"), "t.yaml:2: ports: expected a list");
  EXPECT_EQ(error_of("ports:\n  - lan\n"), "t.yaml:2: ports[0]: expected a map");
  EXPECT_EQ(error_of(p + "    promiscuous: maybe\n"),
            "t.yaml:5: ports[0].promiscuous: expected a boolean");
  EXPECT_EQ(error_of(p + "conntrack:\n  tcp_loose: 1\n"),
            "t.yaml:6: conntrack.tcp_loose: expected a boolean");
  EXPECT_EQ(error_of(p + "ruleset: {a: b}\n"), "t.yaml:5: ruleset: expected a string");
  EXPECT_EQ(error_of("ports:\n  - name: [lan]\n"), "t.yaml:2: ports[0].name: expected a string");
}

// ports[].zone (issue 12): the conntrack zone of what the port receives.
TEST(ConfigLoad, PortZone) {
  result<gateway_config> cfg =
      load_config_string(std::string(kPorts) + "    zone: 65535\n", "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->ports[0].zone, 65535);
  EXPECT_EQ(load_config_string(kPorts, "t.yaml")->ports[0].zone, 0);
  EXPECT_EQ(error_of(std::string(kPorts) + "    zone: 65536\n"),
            "t.yaml:5: ports[0].zone: must be between 0 and 65535");
}

TEST(ConfigErrors, BadIntegers) {
  const std::string p = kPorts;
  EXPECT_EQ(error_of(p + "workers: -1\n"), "t.yaml:5: workers: must be between 1 and 64");
  EXPECT_EQ(error_of(p + "workers: 0\n"), "t.yaml:5: workers: must be between 1 and 64");
  EXPECT_EQ(error_of(p + "workers: 65\n"), "t.yaml:5: workers: must be between 1 and 64");
  EXPECT_EQ(error_of(p + "workers: 99999999999999999999999\n"),
            "t.yaml:5: workers: must be between 1 and 64");
  EXPECT_EQ(error_of(p + "stats_interval_s: -1\n"),
            "t.yaml:5: stats_interval_s: must be between 0 and 86400");
  for (const char* bad : {"1.5", "1e3", "12abc", "+5", "0x10", "1_000", " ", "~"}) {
    EXPECT_EQ(error_of(p + "burst: " + bad + "\n"), "t.yaml:5: burst: expected an integer") << bad;
  }
  EXPECT_EQ(error_of(p + "mbufs: 1023\n"), "t.yaml:5: mbufs: must be between 1024 and 16777216");
  EXPECT_EQ(error_of(p + "eal:\n  memory_mb: 63\n"),
            "t.yaml:6: eal.memory_mb: must be between 64 and 1048576");
  EXPECT_EQ(error_of(p + "conntrack:\n  max: 0\n"),
            "t.yaml:6: conntrack.max: must be between 1 and 67108864");
  EXPECT_EQ(error_of(p + "conntrack:\n  buckets: 67108865\n"),
            "t.yaml:6: conntrack.buckets: must be between 1 and 67108864");
  EXPECT_EQ(error_of(p + "conntrack:\n  log_interval_ms: 3600001\n"),
            "t.yaml:6: conntrack.log_interval_ms: must be between 0 and 3600000");
  EXPECT_EQ(error_of(p + "conntrack:\n  timeouts:\n    udp: 0\n"),
            "t.yaml:7: conntrack.timeouts.udp: must be between 1 and 2147483");
  EXPECT_EQ(error_of(p + "    mtu: 9601\n"), "t.yaml:5: ports[0].mtu: must be between 68 and 9600");
  EXPECT_EQ(error_of(p + "    rx_desc: 32\n"),
            "t.yaml:5: ports[0].rx_desc: must be between 64 and 16384");
  EXPECT_EQ(error_of(p + "    tx_desc: 1000\n"),
            "t.yaml:5: ports[0].tx_desc: must be a power of two");
}

TEST(ConfigErrors, MissingRequiredKeys) {
  EXPECT_EQ(error_of("workers: 1\neal:\n  no_pci: true\n"),
            "t.yaml:1: ports: missing required key");
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    address: 10.0.0.1/8\n"),
            "t.yaml:2: ports[0].devargs: missing required key");
  EXPECT_EQ(error_of(std::string(kPorts) + "  - devargs: y\n    address: 10.0.0.1/8\n"),
            "t.yaml:5: ports[1].name: missing required key");
  EXPECT_EQ(error_of(std::string(kPorts) + "routes:\n  - via: 10.10.1.2\n"),
            "t.yaml:6: routes[0].prefix: missing required key");
  EXPECT_EQ(error_of(std::string(kPorts) + "routes:\n  - prefix: 10.0.0.0/8\n"),
            "t.yaml:6: routes[0].port: required when 'via' is absent");
  EXPECT_EQ(error_of(std::string(kPorts) + "neighbors:\n  - address: 10.10.1.2\n    port: lan\n"),
            "t.yaml:6: neighbors[0].mac: missing required key");
}

TEST(ConfigErrors, ListSizes) {
  EXPECT_EQ(error_of("ports: []\n"), "t.yaml:1: ports: must have between 1 and 32 entries");
  EXPECT_EQ(error_of("ports:\n"), "t.yaml:1: ports: must have between 1 and 32 entries");
  std::string many = "ports:\n";
  for (int i = 0; i < 33; ++i) {
    many += "  - {name: p" + std::to_string(i) + ", devargs: x, address: 10.0." +
            std::to_string(i) + ".1/24}\n";
  }
  EXPECT_EQ(error_of(many), "t.yaml:2: ports: must have between 1 and 32 entries");
}

TEST(ConfigErrors, BadStrings) {
  const std::string p = kPorts;
  EXPECT_EQ(error_of("ports:\n  - name: LAN\n"),
            "t.yaml:2: ports[0].name: invalid port name 'LAN' (allowed: [a-z0-9_-]{1,15})");
  EXPECT_EQ(error_of("ports:\n  - name: abcdefghijklmnop\n"),
            "t.yaml:2: ports[0].name: invalid port name 'abcdefghijklmnop' "
            "(allowed: [a-z0-9_-]{1,15})");
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    devargs: ''\n"),
            "t.yaml:3: ports[0].devargs: must not be empty");
  EXPECT_EQ(error_of(p + "eal:\n  file_prefix: a/b\n"),
            "t.yaml:6: eal.file_prefix: invalid file prefix 'a/b' (allowed: [A-Za-z0-9_-]{1,32})");
  EXPECT_EQ(error_of(p + "eal:\n  lcores: all\n"),
            "t.yaml:6: eal.lcores: invalid lcore list 'all'");
  EXPECT_EQ(error_of(p + "eal:\n  lcores: ''\n"), "t.yaml:6: eal.lcores: invalid lcore list ''");
}

TEST(ConfigErrors, DuplicatePortName) {
  EXPECT_EQ(
      error_of(std::string(kPorts) + "  - name: lan\n    devargs: y\n    address: 10.0.2.1/24\n"),
      "t.yaml:5: ports[1].name: duplicate port name 'lan' (first declared on line 2)");
}

TEST(ConfigErrors, Addresses) {
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    devargs: x\n    address: 10.0.0.300/24\n"),
            "t.yaml:4: ports[0].address: invalid IPv4 prefix '10.0.0.300/24'");
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    devargs: x\n    address: 10.0.0.1\n"),
            "t.yaml:4: ports[0].address: invalid IPv4 prefix '10.0.0.1'");
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    devargs: x\n    address: 10.0.0.1/0\n"),
            "t.yaml:4: ports[0].address: prefix length must be between 1 and 32");
  EXPECT_EQ(error_of("ports:\n  - name: lan\n    devargs: x\n    address: 10.0.0.0/24\n"),
            "t.yaml:4: ports[0].address: '10.0.0.0/24' is a network or broadcast address");
  EXPECT_EQ(
      error_of(std::string(kPorts) + "  - name: wan\n    devargs: y\n    address: 10.10.0.1/16\n"),
      "t.yaml:7: ports[1].address: subnet overlaps port 'lan' (10.10.1.1/24)");
  EXPECT_EQ(error_of(std::string(kPorts) + "    mac: 02:00:00:00:00\n"),
            "t.yaml:5: ports[0].mac: invalid MAC address '02:00:00:00:00'");
  EXPECT_EQ(error_of(std::string(kPorts) + "    mac: 01:00:5e:00:00:01\n"),
            "t.yaml:5: ports[0].mac: MAC address '01:00:5e:00:00:01' is not a unicast address");
}

TEST(ConfigErrors, Routes) {
  const std::string p = std::string(kPorts) + "routes:\n";
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.1/8\n    via: 10.10.1.2\n"),
            "t.yaml:6: routes[0].prefix: host bits set in '10.0.0.1/8'");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/33\n    via: 10.10.1.2\n"),
            "t.yaml:6: routes[0].prefix: invalid IPv4 prefix '10.0.0.0/33'");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/8\n    via: 10.10.1.256\n"),
            "t.yaml:7: routes[0].via: invalid IPv4 address '10.10.1.256'");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/8\n    via: 0.0.0.0\n    port: lan\n"),
            "t.yaml:7: routes[0].via: next hop must not be 0.0.0.0");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/8\n    via: 10.9.9.9\n"),
            "t.yaml:7: routes[0].via: 10.9.9.9 is not in the subnet of any port");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/8\n    via: 10.9.9.9\n    port: lan\n"),
            "t.yaml:7: routes[0].via: 10.9.9.9 is not in the subnet of port 'lan' (10.10.1.1/24)");
  EXPECT_EQ(error_of(p + "  - prefix: 10.0.0.0/8\n    port: wan\n"),
            "t.yaml:7: routes[0].port: unknown port 'wan'");
  EXPECT_EQ(error_of(p + "  - prefix: 0.0.0.0/0\n    via: 10.10.1.2\n" +
                     "  - prefix: 0.0.0.0/0\n    port: lan\n"),
            "t.yaml:8: routes[1].prefix: duplicate route prefix 0.0.0.0/0 (first on line 6)");
}

TEST(ConfigErrors, Neighbors) {
  const std::string p = std::string(kPorts) + "neighbors:\n";
  EXPECT_EQ(error_of(p + "  - address: 10.10.1.2\n    mac: 02:00:00:00:00:01\n    port: wan\n"),
            "t.yaml:8: neighbors[0].port: unknown port 'wan'");
  EXPECT_EQ(error_of(p + "  - address: 10.10.1.2\n    mac: 02:00:00:00:00:0g\n    port: lan\n"),
            "t.yaml:7: neighbors[0].mac: invalid MAC address '02:00:00:00:00:0g'");
  EXPECT_EQ(error_of(p + "  - address: 10.10.2.2\n    mac: 02:00:00:00:00:01\n    port: lan\n"),
            "t.yaml:6: neighbors[0].address: 10.10.2.2 is not in the subnet of port 'lan' "
            "(10.10.1.1/24)");
  EXPECT_EQ(error_of(p + "  - {address: 10.10.1.2, mac: 02:00:00:00:00:01, port: lan}\n" +
                     "  - {address: 10.10.1.2, mac: 02:00:00:00:00:02, port: lan}\n"),
            "t.yaml:7: neighbors[1].address: duplicate neighbor 10.10.1.2 (first on line 6)");
}

// IPv6: a port's address6, routes and neighbours by the form of their address.
TEST(Config, Ipv6) {
  const std::string doc = R"(ports:
  - name: lan
    devargs: x
    address: 10.10.1.1/24
    address6: 2001:db8:1::1/64
  - name: wan
    devargs: y
    address: 10.10.2.1/24
    address6: 2001:db8:2::1/64
routes:
  - prefix: ::/0
    via: 2001:db8:2::2
  - prefix: 2001:db8:99::/48
    via: fe80::1
    port: lan
  - prefix: 0.0.0.0/0
    via: 10.10.2.2
neighbors:
  - address: fe80::1
    mac: 02:00:00:00:00:01
    port: lan
)";
  result<gateway_config> cfg = load_config_string(doc, "t.yaml");
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  ASSERT_TRUE(cfg->ports[0].address6.has_value());
  EXPECT_EQ(format_ipv6(cfg->ports[0].address6->addr), "2001:db8:1::1");
  EXPECT_EQ(cfg->ports[0].address6->len, 64);
  ASSERT_EQ(cfg->routes.size(), 3u);
  EXPECT_TRUE(cfg->routes[0].v6);
  EXPECT_EQ(cfg->routes[0].port, "wan");  // from the next hop's subnet
  EXPECT_EQ(cfg->routes[1].port, "lan");
  EXPECT_EQ(format_ipv6(cfg->routes[1].via6), "fe80::1");
  EXPECT_FALSE(cfg->routes[2].v6);
  ASSERT_EQ(cfg->neighbors.size(), 1u);
  EXPECT_TRUE(cfg->neighbors[0].v6);
  uint8_t m[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  EXPECT_EQ(format_ipv6(ipv6_link_local_from_mac(m)), "fe80::11:22ff:fe33:4455");
}

TEST(ConfigErrors, Ipv6) {
  const std::string p = std::string(kPorts) + "    address6: 2001:db8:1::1/64\n";
  EXPECT_EQ(error_of(std::string(kPorts) + "    address6: 2001:db8::1\n"),
            "t.yaml:5: ports[0].address6: invalid IPv6 prefix '2001:db8::1'");
  EXPECT_EQ(error_of(std::string(kPorts) + "    address6: fe80::1/64\n"),
            "t.yaml:5: ports[0].address6: 'fe80::1/64' is not a global unicast address (the "
            "link-local address comes from the port's MAC)");
  EXPECT_EQ(error_of(p + "  - name: wan\n    devargs: y\n    address: 10.10.2.1/24\n" +
                     "    address6: 2001:db8::1/32\n"),
            "t.yaml:9: ports[1].address6: subnet overlaps port 'lan' (2001:db8:1::1/64)");
  EXPECT_EQ(error_of(p + "routes:\n  - prefix: 2001:db8:9::1/48\n    via: 2001:db8:1::2\n"),
            "t.yaml:7: routes[0].prefix: host bits set in '2001:db8:9::1/48'");
  EXPECT_EQ(error_of(p + "routes:\n  - prefix: 2001:db8:9::/48\n    via: 2001:db8:7::2\n"),
            "t.yaml:8: routes[0].via: 2001:db8:7::2 is not in the subnet of any port");
  EXPECT_EQ(error_of(p + "routes:\n  - prefix: 2001:db8:9::/48\n    via: fe80::2\n"),
            "t.yaml:8: routes[0].via: a link-local next hop needs 'port'");
  EXPECT_EQ(error_of(p + "routes:\n  - prefix: 2001:db8:9::/48\n    via: 10.10.1.2\n"),
            "t.yaml:8: routes[0].via: invalid IPv6 address '10.10.1.2'");
  EXPECT_EQ(error_of(std::string(kPorts) + "routes:\n  - prefix: ::/0\n    port: lan\n"),
            "t.yaml:7: routes[0].port: port 'lan' has no address6 (an IPv6 route needs one)");
  EXPECT_EQ(error_of(p + "neighbors:\n  - address: 2001:db8:5::2\n    mac: 02:00:00:00:00:01\n" +
                     "    port: lan\n"),
            "t.yaml:7: neighbors[0].address: 2001:db8:5::2 is not in the IPv6 subnet of port "
            "'lan'");
}

TEST(ConfigErrors, OneLineEvenWithControlCharacters) {
  EXPECT_EQ(error_of(std::string(kPorts) + "\"bad\\nkey\": 1\n"),
            "t.yaml:5: bad\\nkey: unknown key");
  EXPECT_EQ(error_of(std::string(kPorts) + "eal:\n  lcores: \"a\\tb\\x01\"\n"),
            "t.yaml:6: eal.lcores: invalid lcore list 'a\\tb\\x01'");
}

TEST(ConfigErrors, LongValuesAreTruncated) {
  std::string s = error_of(
      "ports:\n  - name: lan\n    devargs: x\n    address: " + std::string(1000, '1') + "\n");
  EXPECT_EQ(s, "t.yaml:4: ports[0].address: invalid IPv4 prefix '" + std::string(64, '1') + "...'");
}

TEST(AddressHelpers, ParseIpv4) {
  uint32_t a = 0;
  EXPECT_TRUE(parse_ipv4("10.1.2.3", &a));
  EXPECT_EQ(a, ip(10, 1, 2, 3));
  EXPECT_TRUE(parse_ipv4("0.0.0.0", &a));
  EXPECT_EQ(a, 0u);
  EXPECT_TRUE(parse_ipv4("255.255.255.255", &a));
  EXPECT_EQ(a, 0xffffffffu);
  EXPECT_TRUE(parse_ipv4("010.0.0.1", &a));  // at most 3 digits, read as decimal
  EXPECT_EQ(a, ip(10, 0, 0, 1));
  a = 42;
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "1..2.3", ".1.2.3", "1.2.3.", "+1.2.3.4", "-1.2.3.4",
        "1.2.3.0004", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1.2.3.4/8", "0x1.2.3.4", "999.1.1.1"}) {
    EXPECT_FALSE(parse_ipv4(bad, &a)) << bad;
  }
  EXPECT_EQ(a, 42u);  // untouched on failure
}

TEST(AddressHelpers, ParseIpv4Prefix) {
  ipv4_prefix p;
  EXPECT_TRUE(parse_ipv4_prefix("10.0.0.1/8", &p));  // host bits are the caller's business
  EXPECT_EQ(p.addr, ip(10, 0, 0, 1));
  EXPECT_EQ(p.len, 8);
  EXPECT_TRUE(parse_ipv4_prefix("0.0.0.0/0", &p));
  EXPECT_EQ(p.len, 0);
  EXPECT_TRUE(parse_ipv4_prefix("1.2.3.4/32", &p));
  EXPECT_EQ(p.len, 32);
  for (const char* bad :
       {"", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
        "10.0.0.0/008", "/8", "10.0.0/8", "10.0.0.0/ 8", "10.0.0.0/8a"}) {
    EXPECT_FALSE(parse_ipv4_prefix(bad, &p)) << bad;
  }
}

TEST(AddressHelpers, ParseMac) {
  uint8_t m[6] = {};
  EXPECT_TRUE(parse_mac("02:aa:BB:cc:0d:ff", m));
  const uint8_t want[6] = {0x02, 0xaa, 0xbb, 0xcc, 0x0d, 0xff};
  EXPECT_EQ(0, memcmp(m, want, 6));
  for (const char* bad : {"", "02:aa:bb:cc:dd", "02:aa:bb:cc:dd:ee:ff", "02-aa-bb-cc-dd-ee",
                          "2:aa:bb:cc:dd:ee", "002:aa:bb:cc:dd:e", "02:aa:bb:cc:dd:eg",
                          "02:aa:bb:cc:dd:ee:", "+2:aa:bb:cc:dd:ee", "02:aa:bb:cc:dd:-e"}) {
    EXPECT_FALSE(parse_mac(bad, m)) << bad;
  }
  EXPECT_EQ(0, memcmp(m, want, 6));  // untouched on failure
}

TEST(AddressHelpers, FormatIpv4) {
  EXPECT_EQ(format_ipv4(0), "0.0.0.0");
  EXPECT_EQ(format_ipv4(ip(10, 20, 30, 255)), "10.20.30.255");
  EXPECT_EQ(format_ipv4(0xffffffffu), "255.255.255.255");
  uint32_t a = 0;
  ASSERT_TRUE(parse_ipv4(format_ipv4(ip(192, 0, 2, 1)), &a));
  EXPECT_EQ(a, ip(192, 0, 2, 1));
}

// Mutated documents: the loader must return normally with either a config or a one-line error.
TEST(ConfigRobustness, MutatedDocuments) {
  const std::string doc = kFull;
  const std::string specials = ":-[]{}\"'\n #&*!|>%@`,?\t\\0";
  std::vector<std::string> inputs;
  for (size_t i = 0; i < 100; ++i) inputs.push_back(doc.substr(0, doc.size() * i / 100));
  for (size_t i = 0; i < 100; ++i) {
    std::string m = doc;
    m[(i * 7919) % m.size()] = specials[i % specials.size()];
    if (i % 3 == 0) m[(i * 104729) % m.size()] = specials[(i / 3) % specials.size()];
    inputs.push_back(m);
  }
  inputs.push_back(std::string(5000, '[') + std::string(5000, ']'));
  inputs.push_back(std::string(5000, '{'));
  inputs.push_back("a: &x [*x]");
  inputs.push_back(std::string("ports:\0\n", 8));
  int failures = 0;
  for (const std::string& in : inputs) {
    std::optional<result<gateway_config>> cfg;
    EXPECT_NO_THROW(cfg.emplace(load_config_string(in, "m.yaml")));
    if (cfg && !cfg->ok()) {
      ++failures;
      EXPECT_FALSE(cfg->error().message.empty()) << in;
      EXPECT_EQ(cfg->error().to_string().find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(failures, 100);  // the mutations must actually exercise the error paths
}

TEST(DriversConfig, AllProfilesLoad) {
  const char* src = std::getenv("CTGATE_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "CTGATE_SOURCE_DIR is not set";
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(src) / "drivers-config")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    result<gateway_config> cfg = load_config(entry.path().string());
    EXPECT_TRUE(cfg.ok()) << cfg.error().to_string();
  }
  EXPECT_GE(count, 6);
}

TEST(DriversConfig, DemoMatchesReadme) {
  const char* src = std::getenv("CTGATE_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "CTGATE_SOURCE_DIR is not set";
  auto cfg = load_config(std::string(src) + "/drivers-config/demo.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  ASSERT_EQ(cfg->ports.size(), 2u);
  EXPECT_EQ(cfg->ports[0].name, "lan");
  EXPECT_EQ(cfg->ports[0].devargs, "net_af_packet0,iface=ctg-lan,qpairs=1");
  EXPECT_EQ(format_ipv4(cfg->ports[0].address.addr), "10.10.1.1");
  EXPECT_EQ(cfg->ports[1].name, "wan");
  EXPECT_EQ(cfg->ports[1].devargs, "net_af_packet1,iface=ctg-wan,qpairs=1");
  EXPECT_EQ(format_ipv4(cfg->ports[1].address.addr), "10.10.2.1");
  EXPECT_EQ(cfg->eal.file_prefix, "ctgate-demo");
  EXPECT_TRUE(cfg->eal.no_pci);
  EXPECT_TRUE(cfg->conntrack.enable_hooks);
  EXPECT_EQ(cfg->conntrack.max, 65536u);
}

}  // namespace
}  // namespace ctgate

namespace ctgate {
namespace {

TEST(ConfigLoad, SynproxyAutoAndReservedCapacity) {
  auto cfg = load_config_string(std::string(kPorts) + R"(conntrack:
  max: 1000
  reserved: 100
  reserved_mark: 2
  checksum: false
synproxy:
  auto: true
  ports: [80, 443]
  on_table_percent: 70
  off_table_percent: 30
  on_new_flows_per_s: 50000
  wscale: 9
)",
                                "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->conntrack.reserved, 100u);
  EXPECT_EQ(cfg->conntrack.reserved_mark, 2u);
  EXPECT_FALSE(cfg->conntrack.checksum);
  EXPECT_TRUE(cfg->synproxy.enable);
  EXPECT_EQ(cfg->synproxy.ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(cfg->synproxy.on_table_percent, 70u);
  EXPECT_EQ(cfg->synproxy.on_new_flows_per_s, 50000u);
  EXPECT_EQ(cfg->synproxy.wscale, 9);
}

TEST(ConfigErrors, SynproxyAutoThresholds) {
  EXPECT_EQ(error_of(std::string(kPorts) + "synproxy:\n  auto: true\n  ports: [80]\n"
                                           "  on_table_percent: 40\n  off_table_percent: 60\n"),
            "t.yaml:9: synproxy.off_table_percent: must be below on_table_percent (40)");
  EXPECT_EQ(error_of(std::string(kPorts) + "conntrack:\n  max: 10\n  reserved: 11\n"),
            "t.yaml:7: conntrack.reserved: must be between 0 and 10");
}

// Bridges (issue 15): members without addresses, access and trunk ports, static entries.
constexpr const char* kBridged = R"(ports:
  - name: p0
    devargs: x
  - name: p1
    devargs: y
  - name: wan
    devargs: z
    address: 10.0.2.1/24
bridges:
  - name: br0
    ageing_time_s: 30
    max_entries: 1024
    ports:
      - port: p0
        pvid: 10
      - port: p1
        pvid: 0
        vlans: [20, 10]
        learning_limit: 64
    fdb:
      - mac: 02:00:00:00:00:05
        vlan: 20
        port: p1
)";

TEST(ConfigVlans, SubinterfacesFollowTheirPort) {
  result<gateway_config> cfg = load_config_string(
      "ports:\n  - name: lan\n    devargs: x\n    address: 10.0.1.1/24\n    mtu: 9000\n"
      "    zone: 3\n    vlans:\n      - id: 100\n        address: 10.0.100.1/24\n"
      "      - id: 200\n        address: 10.0.200.1/24\n        address6: 2001:db8:200::1/64\n"
      "        mtu: 1500\n        zone: 7\n"
      "  - name: wan\n    devargs: y\n    address: 10.0.2.1/24\n"
      "routes:\n  - prefix: 10.9.0.0/16\n    via: 10.0.100.9\n",
      "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  ASSERT_EQ(cfg->ports.size(), 4u);
  EXPECT_EQ(cfg->ports[1].name, "lan.100");
  EXPECT_EQ(cfg->ports[1].parent, "lan");
  EXPECT_EQ(cfg->ports[1].vlan, 100);
  EXPECT_TRUE(cfg->ports[1].devargs.empty());
  EXPECT_EQ(cfg->ports[1].mtu, 9000);  // the port's, unless set
  EXPECT_EQ(cfg->ports[1].zone, 3);
  EXPECT_EQ(cfg->ports[2].name, "lan.200");
  EXPECT_EQ(cfg->ports[2].mtu, 1500);
  EXPECT_EQ(cfg->ports[2].zone, 7);
  EXPECT_TRUE(cfg->ports[2].address6);
  EXPECT_EQ(cfg->ports[3].name, "wan");
  EXPECT_EQ(cfg->routes[0].port, "lan.100");
  // The port itself may have no address of its own.
  cfg = load_config_string(
      "ports:\n  - name: trunk\n    devargs: x\n    vlans:\n      - id: 5\n"
      "        address: 10.0.5.1/24\n",
      "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
}

TEST(ConfigVlans, Errors) {
  const std::string lan = "ports:\n  - name: lan\n    devargs: x\n    address: 10.0.1.1/24\n";
  EXPECT_EQ(error_of(lan + "    vlans:\n      - id: 4095\n        address: 10.0.5.1/24\n"),
            "t.yaml:6: ports[0].vlans[0].id: must be between 1 and 4094");
  EXPECT_EQ(error_of(lan + "    vlans:\n      - id: 5\n"),
            "t.yaml:6: ports[0].vlans[0].address: missing required key");
  EXPECT_EQ(error_of(lan + "    vlans:\n      - id: 5\n        address: 10.0.1.9/24\n"),
            "t.yaml:7: ports[0].vlans[0].address: subnet overlaps port 'lan' (10.0.1.1/24)");
  EXPECT_EQ(error_of(lan + "    vlans:\n      - id: 5\n        address: 10.0.5.1/24\n"
                           "      - id: 5\n        address: 10.0.6.1/24\n"),
            "t.yaml:8: ports[0].vlans[1].id: duplicate VLAN 5 on port 'lan'");
  EXPECT_EQ(error_of(lan + "    vlans:\n      - id: 5\n        address: 10.0.5.1/24\n"
                           "        mtu: 9000\n"),
            "t.yaml:8: ports[0].vlans[0].mtu: a VLAN's mtu cannot exceed its port's (1500)");
  EXPECT_EQ(error_of("ports:\n  - name: abcdefghijklm\n    devargs: x\n    vlans:\n"
                     "      - id: 100\n        address: 10.0.5.1/24\n"),
            "t.yaml:5: ports[0].vlans[0].id: subinterface name 'abcdefghijklm.100' is longer "
            "than 15 characters (IFNAMSIZ); shorten the port's name");
  // Neither the port nor its subinterface can be a bridge member.
  const std::string sub = lan +
                          "    vlans:\n      - id: 5\n        address: 10.0.5.1/24\n"
                          "  - name: p1\n    devargs: y\n"
                          "bridges:\n  - name: br0\n    ports:\n      - port: p1\n";
  EXPECT_EQ(error_of(sub + "      - port: lan.5\n"),
            "t.yaml:14: bridges[0].ports[1].port: port 'lan.5' is a VLAN subinterface: a bridge "
            "takes the port itself, as a trunk (vlans)");
}

TEST(ConfigBridges, AccessAndTrunkPorts) {
  result<gateway_config> cfg = load_config_string(kBridged, "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  ASSERT_EQ(cfg->bridges.size(), 1u);
  const bridge_config& br = cfg->bridges[0];
  EXPECT_EQ(br.name, "br0");
  EXPECT_EQ(br.ageing_time_s, 30u);
  EXPECT_EQ(br.max_entries, 1024u);
  ASSERT_EQ(br.ports.size(), 2u);
  EXPECT_EQ(br.ports[0].pvid, 10);
  EXPECT_TRUE(br.ports[0].vlans.empty());
  EXPECT_EQ(br.ports[1].pvid, 0);
  EXPECT_EQ(br.ports[1].vlans, (std::vector<uint16_t>{10, 20}));
  EXPECT_EQ(br.ports[1].learning_limit, 64u);
  ASSERT_EQ(br.fdb.size(), 1u);
  EXPECT_EQ(br.fdb[0].mac, "02:00:00:00:00:05");
  EXPECT_TRUE(cfg->ports[0].bridge_member);
  EXPECT_FALSE(cfg->ports[2].bridge_member);
  // Linux's defaults: PVID 1, ageing 300 s.
  cfg = load_config_string(
      "ports:\n  - name: a\n    devargs: x\nbridges:\n  - name: b\n    ports:\n"
      "      - port: a\n",
      "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->bridges[0].ports[0].pvid, 1);
  EXPECT_EQ(cfg->bridges[0].ageing_time_s, 300u);
}

TEST(ConfigBridges, Errors) {
  const std::string ports =
      "ports:\n  - name: p0\n    devargs: x\n  - name: r\n    devargs: y\n"
      "    address: 10.0.0.1/24\n";
  // A port with no address must be a bridge member.
  EXPECT_EQ(error_of(ports),
            "t.yaml:2: ports[0].address: missing required key (a port without one must be a "
            "bridge member)");
  const std::string br = ports + "bridges:\n  - name: br0\n    ports:\n";
  EXPECT_EQ(error_of(br + "      - port: r\n"),
            "t.yaml:10: bridges[0].ports[0].port: port 'r' has an address: a bridge member has "
            "none (line 4)");
  EXPECT_EQ(error_of(br + "      - port: p0\n      - port: p0\n"),
            "t.yaml:11: bridges[0].ports[1].port: port 'p0' is already a bridge member (a port "
            "is in one bridge)");
  EXPECT_EQ(error_of(br + "      - port: p0\n        vlans: [4095]\n"),
            "t.yaml:11: bridges[0].ports[0].vlans[0]: must be between 1 and 4094");
  EXPECT_EQ(error_of(br + "      - port: p0\n        vlans: [1]\n"),
            "t.yaml:11: bridges[0].ports[0].vlans[0]: VLAN 1 is the port's pvid already");
  EXPECT_EQ(error_of(br + "      - port: p0\n        pvid: 0\n"),
            "t.yaml:10: bridges[0].ports[0]: port 'p0' carries no VLAN: give it a pvid or vlans");
  EXPECT_EQ(error_of(br + "      - port: nope\n"),
            "t.yaml:10: bridges[0].ports[0].port: unknown port 'nope'");
  EXPECT_EQ(error_of(br + "      - port: p0\n    fdb:\n      - mac: 02:00:00:00:00:01\n"
                          "        vlan: 7\n        port: p0\n"),
            "t.yaml:12: bridges[0].fdb[0]: port 'p0' does not carry VLAN 7");
  EXPECT_EQ(error_of(br + "      - port: p0\n    fdb:\n      - mac: 01:00:00:00:00:01\n"
                          "        port: p0\n"),
            "t.yaml:12: bridges[0].fdb[0].mac: MAC address '01:00:00:00:00:01' is not a unicast "
            "address");
  // Routes and neighbours cannot name a member.
  EXPECT_EQ(error_of(br + "      - port: p0\nneighbors:\n  - address: 10.0.0.9\n"
                          "    mac: 02:00:00:00:00:09\n    port: p0\n"),
            "t.yaml:14: neighbors[0].port: port 'p0' is a bridge member: its frames are "
            "switched, not routed");
  EXPECT_EQ(error_of(ports + "bridges:\n  - name: r\n    ports:\n      - port: p0\n"),
            "t.yaml:8: bridges[0].name: bridge name 'r' is a port's name");
}

// bridges[].interfaces: the bridge's own routed ports, as br0 and br0.VLAN.
TEST(ConfigBridges, Interfaces) {
  result<gateway_config> cfg = load_config_string(
      std::string(kBridged) +
          "    interfaces:\n      - address: 10.0.1.1/24\n"
          "      - vlan: 20\n        address: 10.0.20.1/24\n        address6: 2001:db8:20::1/64\n"
          "        zone: 4\n        mac: 02:00:00:00:00:fe\n"
          "routes:\n  - prefix: 10.9.0.0/16\n    via: 10.0.20.9\n",
      "t.yaml");
  ASSERT_FALSE(cfg.ok());  // VLAN 1 is nobody's: p0 is in 10, p1 carries 10 and 20
  EXPECT_EQ(cfg.error().to_string(),
            "t.yaml:25: bridges[0].interfaces[0]: no member of bridge 'br0' carries VLAN 1");
  cfg = load_config_string(
      std::string(kBridged) +
          "    interfaces:\n      - vlan: 10\n        address: 10.0.1.1/24\n"
          "      - vlan: 20\n        address: 10.0.20.1/24\n        address6: 2001:db8:20::1/64\n"
          "        zone: 4\n        mac: 02:00:00:00:00:fe\n"
          "routes:\n  - prefix: 10.9.0.0/16\n    via: 10.0.20.9\n",
      "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  ASSERT_EQ(cfg->ports.size(), 5u);
  const port_config& a = cfg->ports[3];
  EXPECT_EQ(a.name, "br0.10");
  EXPECT_EQ(a.bridge, "br0");
  EXPECT_EQ(a.vlan, 10);
  EXPECT_TRUE(a.devargs.empty());
  EXPECT_FALSE(a.mac);
  const port_config& b = cfg->ports[4];
  EXPECT_EQ(b.name, "br0.20");
  EXPECT_EQ(b.zone, 4);
  EXPECT_TRUE(b.address6);
  EXPECT_EQ(*b.mac, "02:00:00:00:00:fe");
  EXPECT_EQ(cfg->routes[0].port, "br0.20");
  // Without `vlan`: the bridge's own name, in VLAN 1 (Linux's default_pvid).
  cfg = load_config_string(
      "ports:\n  - name: a\n    devargs: x\n    mtu: 9000\n  - name: b\n    devargs: y\n"
      "bridges:\n  - name: lan\n    ports:\n      - port: a\n      - port: b\n"
      "    interfaces:\n      - address: 192.168.1.1/24\n",
      "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->ports[2].name, "lan");
  EXPECT_EQ(cfg->ports[2].vlan, 1);
  EXPECT_EQ(cfg->ports[2].mtu, 1500);  // the smallest member's
}

TEST(ConfigBridges, InterfaceErrors) {
  const std::string br =
      "ports:\n  - name: p0\n    devargs: x\n  - name: r\n    devargs: y\n"
      "    address: 10.0.0.1/24\nbridges:\n  - name: br0\n    ports:\n      - port: p0\n"
      "    interfaces:\n";
  EXPECT_EQ(error_of(br + "      - vlan: 1\n"),
            "t.yaml:12: bridges[0].interfaces[0].address: missing required key (an interface "
            "has address, address6 or both)");
  EXPECT_EQ(error_of(br + "      - address: 10.0.0.9/24\n"),
            "t.yaml:12: bridges[0].interfaces[0].address: subnet overlaps port 'r' (10.0.0.1/24)");
  EXPECT_EQ(error_of(br + "      - address: 10.0.1.1/24\n      - address: 10.0.2.1/24\n"),
            "t.yaml:13: bridges[0].interfaces[1]: bridge 'br0' has an interface in VLAN 1 "
            "already");
  EXPECT_EQ(error_of(br + "      - vlan: 7\n        address: 10.0.1.1/24\n"),
            "t.yaml:12: bridges[0].interfaces[0].vlan: no member of bridge 'br0' carries VLAN 7");
  EXPECT_EQ(error_of(br + "      - address: 10.0.1.1/24\n        mtu: 9000\n"),
            "t.yaml:13: bridges[0].interfaces[0].mtu: the interface's mtu cannot exceed its "
            "members' (1500)");
  // An IPv4 next hop never resolves to an interface without an IPv4 address.
  EXPECT_EQ(error_of(br + "      - address6: 2001:db8:1::1/64\n"
                          "routes:\n  - prefix: 10.9.0.0/16\n    via: 10.0.9.1\n    port: br0\n"),
            "t.yaml:15: routes[0].via: port 'br0' has no IPv4 address (address) for 10.0.9.1");
  EXPECT_EQ(error_of(br + "      - address6: 2001:db8:1::1/64\n"
                          "routes:\n  - prefix: 10.9.0.0/16\n    via: 10.0.9.1\n"),
            "t.yaml:15: routes[0].via: 10.0.9.1 is not in the subnet of any port");
  // An interface is no member of another bridge.
  EXPECT_EQ(error_of("ports:\n  - name: p0\n    devargs: x\n  - name: p1\n    devargs: y\n"
                     "bridges:\n  - name: br0\n    ports:\n      - port: p0\n"
                     "    interfaces:\n      - address: 10.0.1.1/24\n"
                     "  - name: br1\n    ports:\n      - port: p1\n      - port: br0\n"),
            "t.yaml:15: bridges[1].ports[1].port: port 'br0' is an interface of bridge 'br0': "
            "a bridge's members are devices");
}

}  // namespace
}  // namespace ctgate
