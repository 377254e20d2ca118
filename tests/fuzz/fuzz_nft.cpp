// libFuzzer target: the nft front end (lexer, parser, evaluation, compile,
// listing) on arbitrary text, with tests/fuzz/nft.dict.
//
// Whatever the text, nothing may crash, hang or leak. When a ruleset
// compiles, its listing must parse and compile again and list the same:
// `nft list ruleset` output is valid input, and nothing is lost on the way.
// The same text is also applied to a live ruleset (nft -f semantics: delete,
// flush, insert, replace and handles edit it); what that yields must compile
// or fail cleanly, and list with handles.
// A text of element commands alone is also applied in place (element_update.h) to the
// compiled live ruleset: both paths must succeed or fail alike and list the same.
// `include` is left out: it would read whatever file the fuzzer names.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"
#include "ruleset/element_update.h"

namespace {

// A live ruleset for the file to apply to: tables, chains with jumps, a set,
// maps, rules with handles 1 upwards.
constexpr const char* k_base = R"(table ip filter {
  set s { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }
  map m { type inet_service : verdict; elements = { 22 : accept, 80 : jump web } }
  chain web { counter accept; }
  chain input { type filter hook input priority filter; ip saddr @s drop; tcp dport vmap @m; }
}
table ip raw { chain pre { type filter hook prerouting priority raw; udp dport 53 notrack; } }
)";

// The in-place path against the full load's result `after` (null: the load failed).
void check_in_place(const std::string& text, const ctgate::nft::ruleset& base,
                    const ctgate::nft::ruleset* after) {
  using namespace ctgate;
  auto cmds = nft::parse_element_commands(text, "fuzz.nft", nft::skeleton_of(base));
  if (!cmds || !*cmds) return;  // a full load's text, or an error the full load reports
  auto live = nft::compile(base, "base.nft", {"lan", "wan"}, 2);
  if (!live) return;
  auto plan = nft::plan_element_update(**live, **cmds, SIZE_MAX);
  if (plan && !*plan) return;  // this path declined
  if (!plan != (after == nullptr)) {
    std::fprintf(stderr, "in place %s but the load %s:\n%s\n", plan ? "applied" : "failed",
                 after ? "applied" : "failed", text.c_str());
    std::abort();
  }
  if (!plan) return;
  nft::retired_sets old = nft::apply_element_update(**live, std::move(**plan));
  if (nft::format((*live)->ast, nullptr, true) != nft::format(*after, nullptr, true)) {
    std::fprintf(stderr, "in place and load list differently:\n%s\n", text.c_str());
    std::abort();
  }
}

void apply_to_live(const std::string& text, const std::vector<std::string>& ports) {
  using namespace ctgate;
  static const nft::ruleset base = *nft::parse_string(k_base, "base.nft");
  result<nft::ruleset> after = nft::parse_string(text, "fuzz.nft", {}, &base);
  check_in_place(text, base, after ? &*after : nullptr);
  if (!after) {
    (void)after.error().to_string();
    return;
  }
  if (auto c = nft::compile(*after, "fuzz.nft", ports, 2); c)
    (void)nft::format(*after, nullptr, true);
}

bool has_merged_set(const ctgate::nft::ruleset& rs) {
  for (const auto& t : rs.tables)
    for (const auto& c : t.chains)
      for (const auto& r : c.rules)
        for (const auto& m : r.matches)
          if (m.rhs.merged_set) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ctgate;
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find("include") != std::string::npos) return 0;
  const std::vector<std::string> ports = {"lan", "wan"};
  apply_to_live(text, ports);
  result<nft::ruleset> ast = nft::parse_string(text, "fuzz.nft");
  if (!ast) {
    (void)ast.error().to_string();  // the error must render, caret and all
    return 0;
  }
  auto compiled = nft::compile(*ast, "fuzz.nft", ports, 2);
  if (!compiled) return 0;
  const std::string listed = nft::format(*ast);
  result<nft::ruleset> again = nft::parse_string(listed, "listed.nft");
  if (!again) {
    std::fprintf(stderr, "the listing does not parse:\n%s\n%s\n", listed.c_str(),
                 again.error().to_string().c_str());
    std::abort();
  }
  if (auto c2 = nft::compile(*again, "listed.nft", ports, 2); !c2) {
    std::fprintf(stderr, "the listing does not compile:\n%s\n%s\n", listed.c_str(),
                 c2.error().to_string().c_str());
    std::abort();
  }
  std::string relisted = nft::format(*again);
  if (relisted != listed && has_merged_set(*ast)) {
    // nft lists an anonymous set it merged into one element in braces, and reads that back as
    // a single value: the listing is the same from the second round on.
    result<nft::ruleset> third = nft::parse_string(relisted, "relisted.nft");
    if (!third) {
      std::fprintf(stderr, "the second listing does not parse:\n%s\n", relisted.c_str());
      std::abort();
    }
    const std::string second = relisted;
    relisted = nft::format(*third);
    if (relisted == second) return 0;
  }
  if (relisted != listed) {
    std::fprintf(stderr, "listing changed on a round trip:\n--- first\n%s\n--- second\n%s\n",
                 listed.c_str(), relisted.c_str());
    std::abort();
  }
  return 0;
}
