// EAL for fuzz targets that build a gateway: no hugepages, no PCI, a
// runtime directory of its own, removed at exit (tests leave nothing), and
// DPDK's telemetry socket only for the target that drives it.
#pragma once

#include <rte_eal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace ctgate::fuzz {

inline void eal_init_once(bool telemetry = false) {
  static bool done = false;
  if (done) return;
  done = true;
  static std::string prefix = "--file-prefix=ctgate-fuzz-" + std::to_string(getpid());
  std::vector<char*> argv = {const_cast<char*>("fuzz"),
                             const_cast<char*>("--no-huge"),
                             const_cast<char*>("-m"),
                             const_cast<char*>("512"),
                             const_cast<char*>("--no-pci"),
                             prefix.data(),
                             const_cast<char*>("--log-level=*:crit")};
  if (!telemetry) argv.push_back(const_cast<char*>("--no-telemetry"));
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) std::abort();
  std::atexit([] {
    std::string dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
}

}  // namespace ctgate::fuzz
