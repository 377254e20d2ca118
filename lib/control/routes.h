// Live IPv4 routes and neighbours: `ctgatectl route add|del|replace|list` and
// `ctgatectl neigh add|replace|del`, in `ip route`'s and `ip neigh`'s words.
//
// A change goes into the fib the workers read (rte_fib_add/rte_fib_delete), one at a time,
// followed by a grace period; a lookup meanwhile gets the old next hop or the new one. Workers
// never wait, and no packet is dropped by a change. Rebuilding a whole table instead would
// need a second DIR-24-8 (128 MiB) for a moment. docs/design/concurrency.md, "Live routes".
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace ctgate {

struct gateway;

// Applies one command, `add|replace|del PREFIX [via ADDR] [dev PORT]` (PREFIX: a.b.c.d/len,
// a.b.c.d for /32, or `default`), and returns what changed ("added 198.18.0.0/15 via
// 10.2.0.254 dev wan"). Errors say what was wrong with the command; the routes stay as they
// were. Concurrent callers are serialised.
result<std::string> route_command(gateway& gw, std::string_view command);

// `add|replace|del ADDRESS [lladdr MAC] [dev PORT]` on the IPv4 neighbour table: add and replace
// make a static (PERMANENT) entry, as the config's neighbors do; del removes a static or learned
// one after a grace period. Returns what changed; errors leave the table as it was.
result<std::string> neigh_command(gateway& gw, std::string_view command);

// The routes in force as `ip route` prints the main table: connected subnets, then static
// routes, most specific first. One line each, '\n'-terminated.
std::string route_list(gateway& gw);

}  // namespace ctgate
