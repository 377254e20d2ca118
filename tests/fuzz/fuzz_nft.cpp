// libFuzzer target: the nft front end (lexer, parser, evaluation, compile,
// listing) on arbitrary text, with tests/fuzz/nft.dict.
//
// Whatever the text, nothing may crash, hang or leak. When a ruleset
// compiles, its listing must parse and compile again and list the same:
// `nft list ruleset` output is valid input, and nothing is lost on the way.
// `include` is left out: it would read whatever file the fuzzer names.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ruleset/ast.h"
#include "ruleset/compiled.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ctgate;
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find("include") != std::string::npos) return 0;
  const std::vector<std::string> ports = {"lan", "wan"};
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
  const std::string relisted = nft::format(*again);
  if (relisted != listed) {
    std::fprintf(stderr, "listing changed on a round trip:\n--- first\n%s\n--- second\n%s\n",
                 listed.c_str(), relisted.c_str());
    std::abort();
  }
  return 0;
}
