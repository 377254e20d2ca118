// libFuzzer target: the config loader on arbitrary YAML. It never throws,
// never crashes, and an error always names the file (and where known the
// line and key). A config that loads is valid for gateway_create's checks.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ctgate;
  std::string text(reinterpret_cast<const char*>(data), size);
  result<gateway_config> cfg = load_config_string(text, "fuzz.yaml");
  if (!cfg) {
    const std::string msg = cfg.error().to_string();
    if (msg.rfind("fuzz.yaml", 0) != 0) {
      std::fprintf(stderr, "error without the file name: %s\n", msg.c_str());
      std::abort();
    }
    return 0;
  }
  if (cfg->ports.empty() || cfg->workers == 0 || cfg->burst == 0) {
    std::fprintf(stderr, "a config loaded without ports, workers or burst\n");
    std::abort();
  }
  return 0;
}
