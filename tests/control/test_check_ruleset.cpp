// ctgate --check-ruleset (check_ruleset_file): against a config's ports and bridges, or with
// no config accepting the interface and bridge names the ruleset uses.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "control/ruleset_runtime.h"

namespace ctgate {
namespace {

std::string write_temp(const std::string& text) {
  const std::string path = ::testing::TempDir() + "check_ruleset.nft";
  std::ofstream(path) << text;
  return path;
}

const char* k_bridge_rules = R"(table bridge f {
  chain fwd {
    type filter hook forward priority filter; policy accept;
    meta ibrname "br0" iifname "p0" accept
  }
}
)";

TEST(CheckRuleset, WithoutAConfigTheNamesItUsesAreAccepted) {
  result<ruleset_summary> r = check_ruleset_file(write_temp(k_bridge_rules), nullptr);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->rules, 1u);
}

TEST(CheckRuleset, WithAConfigItsBridgesAndPortsAreTheNames) {
  gateway_config cfg;
  port_config p0, p1;
  p0.name = "p0";
  p1.name = "p1";
  cfg.ports = {p0, p1};
  bridge_config br;
  br.name = "br0";
  br.ports = {{.port = "p0"}, {.port = "p1"}};
  cfg.bridges = {br};
  const std::string path = write_temp(k_bridge_rules);
  result<ruleset_summary> r = check_ruleset_file(path, &cfg);
  ASSERT_TRUE(r) << r.error().to_string();
  cfg.bridges[0].name = "lan";
  r = check_ruleset_file(path, &cfg);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().to_string().find("unknown bridge 'br0'"), std::string::npos)
      << r.error().to_string();
}

}  // namespace
}  // namespace ctgate
