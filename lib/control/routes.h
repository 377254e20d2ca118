// Live routes and neighbours, IPv4 and IPv6: `ctgatectl route add|del|replace|list` and
// `ctgatectl neigh add|replace|del`, in `ip route`'s and `ip neigh`'s words.
//
// An IPv4 change goes into the fib the workers read (rte_fib_add/rte_fib_delete), one at a
// time, followed by a grace period; a lookup meanwhile gets the old next hop or the new one.
// Rebuilding a whole table instead would need a second DIR-24-8 (128 MiB) for a moment. An
// IPv6 change builds a new trie and swaps it in (route6_table says why), the old one freed
// after the grace period. Workers never wait, and no packet is dropped by a change.
// docs/design/concurrency.md, "Live routes".
#pragma once

#include <string>
#include <string_view>

#include <rte_lcore.h>

#include "common/result.h"

namespace ctgate {

struct gateway;

// Applies one command, `add|replace|del PREFIX [via ADDR] [dev PORT]` (PREFIX: a.b.c.d/len,
// a.b.c.d for /32, or `default`; or IPv6's, which an IPv6 prefix or next hop selects), and returns
// what changed ("added 198.18.0.0/15 via 10.2.0.254 dev wan"). Errors say what was wrong with the
// command; the routes stay as they were. Concurrent callers are serialised.
result<std::string> route_command(gateway& gw, std::string_view command);

// `add|replace|del ADDRESS [lladdr MAC] [dev PORT]` on the IPv4 or IPv6 neighbour table: add and
// replace make a static (PERMANENT) entry, as the config's neighbors do; del removes a static or
// learned one after a grace period. Returns what changed; errors leave the table as it was.
result<std::string> neigh_command(gateway& gw, std::string_view command);

// The routes in force as `ip route` prints the main table: connected subnets, then static
// routes, most specific first. One line each, '\n'-terminated.
std::string route_list(gateway& gw);
// IPv6's, as `ip -6 route` prints them (without metrics), in address order.
std::string route6_list(gateway& gw);
// The routes route_list (or route6_list) prints: connected and static, a multipath route once.
size_t route_count(gateway& gw, bool v6);

// rte_hash keeps its free-slot caches per lcore id, and a telemetry thread (one per client)
// has none: a handler that inserts into or deletes from one (the neighbour table: neigh_command,
// reload_config) borrows an id for its duration (docs/design/concurrency.md, "Threads that insert
// into rte_hash").
class borrowed_lcore_id {
 public:
  borrowed_lcore_id() {
    if (rte_lcore_id() != LCORE_ID_ANY) return;  // an EAL thread, or one registered already
    registered_ = rte_thread_register() == 0;
    ok_ = registered_;
  }
  ~borrowed_lcore_id() {
    if (registered_) rte_thread_unregister();
  }
  borrowed_lcore_id(const borrowed_lcore_id&) = delete;
  borrowed_lcore_id& operator=(const borrowed_lcore_id&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = true;
  bool registered_ = false;
};

}  // namespace ctgate
