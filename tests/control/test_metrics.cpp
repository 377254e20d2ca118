// The Prometheus endpoint (lib/control/metrics.cpp): the text exposition format, the metrics
// against the counters they come from, and the HTTP server's answers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/test_env.h"
#include "control/metrics.h"
#include "control/ruleset_runtime.h"

namespace ctgate::test {
namespace {

// The samples of an exposition, "name{labels}" -> value, after checking its grammar: every
// line a HELP, a TYPE or a sample; each family's HELP and TYPE once, before its samples, and
// its samples together; names and label names as Prometheus allows them.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  static const std::regex k_help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex k_type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  static const std::regex k_sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([0-9]+(\.[0-9]+)?))");
  std::map<std::string, std::string> samples;
  std::set<std::string> families_done;
  std::string family, type;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    std::smatch m;
    if (std::regex_match(line, m, k_help)) {
      EXPECT_TRUE(families_done.insert(m[1]).second) << "line " << n << ": family again: " << line;
      family = m[1];
      type.clear();
    } else if (std::regex_match(line, m, k_type)) {
      EXPECT_EQ(m[1], family) << "line " << n << ": TYPE without its HELP";
      type = m[2];
    } else if (std::regex_match(line, m, k_sample)) {
      EXPECT_EQ(m[1], family) << "line " << n << ": a sample away from its family: " << line;
      EXPECT_FALSE(type.empty()) << "line " << n;
      if (type == "counter") {
        EXPECT_TRUE(family.ends_with("_total")) << family;
      }
      const size_t space = line.rfind(' ');
      EXPECT_TRUE(samples.emplace(line.substr(0, space), line.substr(space + 1)).second)
          << "line " << n << ": the same sample twice: " << line;
    } else {
      ADD_FAILURE() << "line " << n << " is not exposition format: '" << line << "'";
    }
  }
  return samples;
}

uint64_t value(const std::map<std::string, std::string>& s, const std::string& key) {
  auto it = s.find(key);
  EXPECT_NE(it, s.end()) << "no sample " << key;
  return it == s.end() ? ~0ull : std::stoull(it->second);
}

TEST(Metrics, TheExpositionIsWellFormedAndMatchesTheCounters) {
  test_gateway t;
  const auto loaded = load_ruleset_text(*t.gw, R"(
table inet filter {
  counter web { }
  quota q { over 1 mbytes }
  chain forward {
    type filter hook forward priority 0; policy accept;
    udp dport 53 counter
    udp dport 53 counter name "web"
    udp dport 53 limit rate 1/second burst 1 packets counter
    udp dport 53 quota name "q"
  }
}
)",
                                        "test");
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  for (int i = 0; i < 3; i++) t.send(0, udp("10.0.1.2", 4000, "10.0.2.9", 53));
  t.clear_sent();
  const auto s = parse_exposition(metrics_text(*t.gw));

  // Ports' counts are the worker loop's (tests/e2e: the netns scrape); these bursts bypass it.
  EXPECT_EQ(value(s, R"(ctgate_port_rx_packets_total{port="lan"})"), 0u);
  EXPECT_EQ(value(s, R"(ctgate_dataplane_rx_total{worker="0"})"), t.dp(dp_counter::rx));
  EXPECT_EQ(value(s, R"(ctgate_dataplane_forwarded_total{worker="0"})"), 3u);
  EXPECT_EQ(value(s, R"(ctgate_dataplane_drops_total{worker="0",reason="no_route"})"), 0u);
  EXPECT_EQ(s.count(R"(ctgate_dataplane_drop_no_route_total{worker="0"})"), 0u)
      << "drops are by reason, not a family each";
  EXPECT_EQ(value(s, "ctgate_conntrack_entries"), 0u);
  EXPECT_EQ(value(s, "ctgate_conntrack_max"), t.gw->ct.table->max());
  EXPECT_EQ(value(s, R"(ctgate_conntrack_stat_new_total{worker="0"})"), 0u);
  EXPECT_EQ(value(s, "ctgate_ruleset_rules"), 4u);
  const std::string rule = R"(family="inet",table="filter",chain="forward",handle=")";
  // Handles: the objects 1 and 2, the chain 3, its rules from 4 (nft -a list ruleset).
  EXPECT_EQ(value(s, "ctgate_rule_packets_total{" + rule + "4\"}"), 3u);
  EXPECT_EQ(value(s, "ctgate_rule_bytes_total{" + rule + "4\"}"), 3u * 28);
  EXPECT_EQ(value(s, R"(ctgate_counter_packets_total{family="inet",table="filter",name="web"})"),
            3u);
  EXPECT_EQ(value(s, "ctgate_rule_limit_packets_total{" + rule + "6\",result=\"within\"}"), 1u);
  EXPECT_EQ(value(s, "ctgate_rule_limit_packets_total{" + rule + "6\",result=\"over\"}"), 2u);
  EXPECT_EQ(value(s, R"(ctgate_quota_used_bytes{family="inet",table="filter",name="q"})"), 3u * 28);
  EXPECT_EQ(value(s, R"(ctgate_routes{family="ipv4"})"), 2u);
  EXPECT_GE(value(s, R"(ctgate_neighbours{family="ipv4"})"), 1u);
  EXPECT_EQ(value(s, "ctgate_workers"), 1u);
  EXPECT_EQ(
      value(
          s,
          R"(ctgate_hook_packets_total{hook="FORWARD",priority="0",callback="nft filter forward"})"),
      3u);
}

// docs/operations.md's table names every metric family a scrape returns.
TEST(Metrics, EveryFamilyIsDocumented) {
  std::ifstream f(CTGATE_OPERATIONS_MD);
  ASSERT_TRUE(f) << CTGATE_OPERATIONS_MD;
  const std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  test_gateway t;
  std::istringstream in(metrics_text(*t.gw));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("# HELP ")) continue;
    const std::string name = line.substr(7, line.find(' ', 7) - 7);
    if (doc.find("`" + name + "`") != std::string::npos) continue;
    // A counter block's families (one per counter, named as ctgatectl stats names it) are
    // documented once, by their pattern.
    bool by_pattern = false;
    for (const char* block : {"ctgate_dataplane_", "ctgate_conntrack_stat_", "ctgate_synproxy_"})
      by_pattern |= name.starts_with(block) && name.ends_with("_total") &&
                    doc.find(std::string("`") + block + "<counter>_total`") != std::string::npos;
    EXPECT_TRUE(by_pattern) << name << " is not in docs/operations.md";
  }
}

TEST(Metrics, LabelValuesAreEscaped) {
  gateway_config cfg = default_config();
  cfg.source_file = "/etc/a \"quoted\" \\ name\nx.yaml";
  test_gateway t(cfg);
  const std::string text = metrics_text(*t.gw);
  EXPECT_NE(text.find(R"(ctgate_build_info{config="/etc/a \"quoted\" \\ name\nx.yaml"} 1)"),
            std::string::npos);
  parse_exposition(text);
}

// An HTTP/1.0 request to 127.0.0.1:`port`; the whole answer, headers and body.
std::string http(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, request.data(), request.size(), 0) == ssize_t(request.size())) {
    char buf[65536];
    for (int i = 0; i < 10000; i++) {  // bounded: the server closes after one answer
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
  }
  close(fd);
  return out;
}

TEST(Metrics, ServesGetOnMetricsAndRefusesTheRest) {
  test_gateway t;
  metrics_config mc{.listen = "127.0.0.1:0", .line = 7, .host = "127.0.0.1", .port = 0};
  auto started = metrics_server::start(*t.gw, mc);
  ASSERT_TRUE(started) << started.error().to_string();
  const uint16_t port = (*started)->port();
  ASSERT_NE(port, 0);

  t.send(0, udp("10.0.1.2", 4000, "10.0.2.9", 53));
  t.clear_sent();
  const std::string r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200")) << r.substr(0, 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const size_t body = r.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  const auto s = parse_exposition(r.substr(body + 4));
  EXPECT_EQ(value(s, R"(ctgate_dataplane_forwarded_total{worker="0"})"), 1u);

  EXPECT_NE(http(port, "GET /nothing HTTP/1.0\r\n\r\n").find(" 404 "), std::string::npos);
  const std::string post = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_NE(post.find(" 405 "), std::string::npos) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;

  // The port is taken now: a second server says so, with the config's key and line.
  metrics_config again = mc;
  again.port = port;
  again.listen = "127.0.0.1:" + std::to_string(port);
  auto refused = metrics_server::start(*t.gw, again);
  ASSERT_FALSE(refused);
  const std::string why = refused.error().to_string();
  EXPECT_NE(why.find(":7: metrics.listen: cannot serve metrics on 127.0.0.1:"), std::string::npos)
      << why;
  EXPECT_NE(why.find("in use"), std::string::npos) << why;
}

}  // namespace
}  // namespace ctgate::test
