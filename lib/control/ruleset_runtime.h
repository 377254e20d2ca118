// Loading, replacing and listing the nftables ruleset of a running gateway.
//
// A load parses and compiles on the control plane, then edits the hook
// registry once: the old ruleset's base chains go, the new ones are
// registered in file order, and, if the ruleset uses ct and conntrack is not
// on yet, conntrack registers right after the chain of the first rule that
// uses it (the moment Linux registers it). Workers switch at a burst
// boundary; the old ruleset is freed after the RCU grace period. A failed
// load changes nothing.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "ruleset/compiled.h"
#include "ruleset/nft_chain.h"
#include "ruleset/nft_nat.h"

namespace ctgate {

struct gateway;

struct loaded_ruleset {
  std::unique_ptr<nft::compiled_ruleset> rs;
  std::vector<std::unique_ptr<nft_chain_ref>> refs;
  std::vector<std::unique_ptr<nft_nat_ref>> nat_refs;  // one per hook point with nat chains
  uint32_t group = 0;                                  // hook registry group of its base chains
};

// What a load, check or trace start installed (errors are nft-style, with
// the source line and a caret where there is one).
struct ruleset_summary {
  size_t tables = 0, chains = 0, rules = 0;
  std::vector<std::string> warnings;  // e.g. the ordering trap
  // Element commands applied to the live sets without a rebuild (element_update.h).
  bool in_place = false;
  size_t elements_added = 0, elements_deleted = 0;
};

// Applies a file of nft commands to the live ruleset, as `nft -f` does: one
// transaction, `flush ruleset` to start from nothing, tables and chains
// declared again extended, rules the file leaves alone keeping their
// counters. A failed load changes nothing.
result<ruleset_summary> load_ruleset_file(gateway& gw, const std::string& path);
// The same for commands given as text (ctgatectl nft '...'); `name` stands
// for the file in errors.
result<ruleset_summary> load_ruleset_text(gateway& gw, const std::string& text,
                                          const std::string& name);

// The config's ruleset file (`ruleset:`), a relative path taken relative to the config file as
// an include is; empty when the config names none.
std::string config_ruleset_path(const gateway_config& cfg);
// Reload (SIGHUP, ctgatectl reload): the config's ruleset file replaces the live ruleset in
// one transaction, `flush ruleset` then the file, as nftables.service's reload does. An error
// (with its file:line) leaves the live ruleset as it was. The config itself is not read again.
result<ruleset_summary> reload_ruleset(gateway& gw);
// Rules of `to` that `from` had (same table and rule handle, same text) go
// on counting from `from`'s totals.
void carry_counters(const nft::compiled_ruleset& from, nft::compiled_ruleset* to);
// Parses and compiles only (ctgate --check-ruleset): against the config's ports, bridges and
// ruleset limits, or with no config (null) accepting any interface and bridge name it uses.
result<ruleset_summary> check_ruleset_file(const std::string& path, const gateway_config* cfg);
// The ordering-trap warnings for the live ruleset against the current hook
// order (also checked whenever conntrack's hooks get registered).
std::vector<std::string> ruleset_ordering_warnings(gateway& gw);
// Tracing (ctgatectl trace): installs a selector chain at the lowest
// priority of PRE_ROUTING and LOCAL_OUT that marks packets matching `expr`
// (any packet when empty) with `meta nftrace set 1`. Rules with their own
// `meta nftrace set 1` trace too, with or without a selector.
result<ruleset_summary> trace_start(gateway& gw, const std::string& expr);
void trace_stop(gateway& gw);
// Drains the workers' trace records into `nft monitor trace`-style lines;
// *packets gets the number of traced packets seen in them.
std::string trace_read(gateway& gw, size_t* packets);

// One line per limit/meter statement: where it is, the rule, and how many
// packets were within and over its rate (summed over workers).
std::string list_limits(gateway& gw);

// Frees the expired elements of dynamic sets and sets with timeouts (nft's set garbage
// collection; the control thread runs it once a second), so that they stop counting against
// the sets' sizes. `now_ms`: the workers' clock (gw.clock). Returns how many.
uint32_t sweep_live_sets(gateway& gw, uint32_t now_ms);

// `nft list ruleset` with live counters (`handles`: as `nft -a list
// ruleset`); empty when no ruleset is loaded.
std::string list_ruleset(gateway& gw, bool handles = false);

// `nft reset counters|quotas [table FAMILY NAME]` and `nft reset counter|quota FAMILY TABLE
// NAME`: zeroes the named counters (or quotas' bytes used) selected, and returns the listing
// of the whole ruleset with their values as they were (the caller picks the objects out, as
// for `list counters`). `kind`: "counter" or "quota"; an empty `table_name`: every table; an
// empty `name`: every object of that kind in the table. A counter is zeroed by moving its
// base back by what it had, so the workers' per-lcore counts are not written: a packet
// counted meanwhile is counted after the reset, never lost.
std::string reset_objects(gateway& gw, const std::string& kind, const std::string& family,
                          const std::string& table_name, const std::string& name);

}  // namespace ctgate
