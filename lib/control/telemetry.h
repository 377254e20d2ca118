// DPDK telemetry commands under /ctgate/. They run on the telemetry thread:
// they read per-lcore counters (relaxed) and scan the flow table without
// stopping workers. ctgatectl and dpdk-telemetry.py are the clients.
#pragma once

#include <span>
#include <string>

struct rte_tel_data;

namespace ctgate {

struct gateway;

// One /ctgate/ command, in DPDK's telemetry callback shape.
struct telemetry_command {
  const char* name;
  int (*handler)(const char* cmd, const char* params, rte_tel_data* reply);
  const char* help;
};

// Every /ctgate/ command (tests and fuzzers call the handlers directly).
std::span<const telemetry_command> telemetry_commands();

// Points the handlers at `gw` (one gateway per process).
void telemetry_attach(gateway* gw);

// telemetry_attach, then registers every command with DPDK's telemetry.
void telemetry_register(gateway* gw);

// Where text replies go as files (default /tmp). For tests and fuzzers.
void telemetry_set_reply_dir(const std::string& dir);

// Summaries also used for the final log lines at shutdown.
std::string stats_summary(const gateway& gw);

}  // namespace ctgate
