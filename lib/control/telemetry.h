// DPDK telemetry commands under /ctgate/. They run on the telemetry thread:
// they read per-lcore counters (relaxed) and scan the flow table without
// stopping workers. ctgatectl and dpdk-telemetry.py are the clients.
#pragma once

#include <string>

namespace ctgate {

struct gateway;

// Registers every /ctgate/ command for `gw` (one gateway per process).
void telemetry_register(gateway* gw);

// Summaries also used for the final log lines at shutdown.
std::string stats_summary(const gateway& gw);

}  // namespace ctgate
