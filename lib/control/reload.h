// Reloading the config file (SIGHUP, systemctl reload, ctgatectl reload): what can change on a
// running gateway changes, what cannot is refused with its key and line, and a config that does
// not load changes nothing.
//
// Live: `ruleset` and the file it names (one transaction, as before), `ruleset_limits`,
// `routes` and `neighbors` (IPv4: the config's become the static ones, each change published
// as ctgatectl route/neigh publish it), `conntrack.timeouts` (each flow's next packet gets the
// new value, as Linux's sysctls), `stats_interval_s` and `metrics` (the endpoint moves: the new
// address is bound before anything else changes). Everything else (ports, workers, EAL,
// bridges, conntrack.max, IPv6 routes and neighbours, ...) takes a restart.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "control/ruleset_runtime.h"

namespace ctgate {

struct gateway;

struct reload_summary {
  bool has_ruleset = false;
  ruleset_summary ruleset;           // when has_ruleset
  std::vector<std::string> changes;  // one line per change beyond the ruleset, as logged
};

// Rereads gw.cfg.source_file and applies it. Concurrent callers are serialised.
result<reload_summary> reload_config(gateway& gw);

// How a reload moves the metrics endpoint (the process that owns it, app/ctgate, sets it):
// starts the new one and stops the old, or fails and leaves the old. Unset: a metrics change
// takes a restart.
void reload_set_metrics_mover(std::function<result<void>(const metrics_config&)> mover);

}  // namespace ctgate
