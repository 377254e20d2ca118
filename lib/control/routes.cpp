#include "control/routes.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "dataplane/gateway.h"

namespace ctgate {

namespace {

// As ip route names routes: 0.0.0.0/0 is "default".
std::string prefix_text(const ipv4_prefix& p) {
  return p.len == 0 && p.addr == 0 ? "default" : format_prefix(p);
}

std::string route_text(const route_config& r) {
  if (!r.nexthops.empty()) {
    std::string s = prefix_text(r.prefix);
    for (const route_hop& h : r.nexthops)
      s += " nexthop via " + format_ipv4(h.via) + " dev " + h.port;
    return s;
  }
  return prefix_text(r.prefix) + (r.via != 0 ? " via " + format_ipv4(r.via) : "") + " dev " +
         r.port;
}

error command_error(std::string message) { return error{.key = "route", .message = message}; }

// IPv6: as ip -6 route names routes (::/0 is "default").
std::string prefix6_text(const ipv6_prefix& p) {
  return p.len == 0 ? "default" : format_prefix6(p);
}

std::string route6_text(const route_config& r) {
  return prefix6_text(r.prefix6) + (r.via6.is_zero() ? "" : " via " + format_ipv6(r.via6)) +
         " dev " + r.port;
}

// Whether a command names IPv6: its prefix or a next hop is an IPv6 address (ip route infers
// the family the same way).
bool is_v6_command(const std::vector<std::string>& w) {
  if (w.size() > 1 && w[1].find(':') != std::string::npos) return true;
  for (size_t i = 2; i + 1 < w.size(); i++)
    if (w[i] == "via" && w[i + 1].find(':') != std::string::npos) return true;
  return false;
}

struct parsed_command {
  std::string verb;
  route_config route;
  bool has_via = false;
  bool has_dev = false;
};

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') j++;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// One `via ADDRESS` or `dev PORT` pair of a command into r, the address of r's family.
result<void> via_or_dev(const std::string& key, const std::string& value, route_config* r,
                        bool* has_via, bool* has_dev) {
  if (key == "via" && !*has_via) {
    if (r->v6) {
      if (!parse_ipv6(value, &r->via6) || r->via6.is_zero() || r->via6.is_multicast())
        return command_error("via: '" + value + "' is not a unicast IPv6 address");
    } else if (!parse_ipv4(value, &r->via) || r->via == 0) {
      return command_error("via: '" + value + "' is not an IPv4 address");
    }
    *has_via = true;
  } else if (key == "dev" && !*has_dev) {
    r->port = value;
    *has_dev = true;
  } else {
    return command_error("unexpected '" + key + "' (via ADDRESS, dev PORT)");
  }
  return {};
}

// A one-next-hop command's words after the prefix: `via ADDRESS` and `dev PORT`, each once.
result<void> via_and_dev(const std::vector<std::string>& w, parsed_command* c) {
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return command_error("'" + w[i] + "' needs a value");
    if (result<void> ok = via_or_dev(w[i], w[i + 1], &c->route, &c->has_via, &c->has_dev); !ok)
      return ok;
  }
  return {};
}

// As the config loader: the port of `via`'s subnet, or the one named, which must hold it.
result<route_hop> resolve_hop(const gateway& gw, const route_config& r, bool has_via,
                              bool has_dev) {
  const port_config* out = nullptr;
  if (has_dev) {
    const int idx = port_index(gw.cfg, r.port);
    if (idx < 0) return command_error("dev: unknown port '" + r.port + "'");
    out = &gw.cfg.ports[static_cast<size_t>(idx)];
    if (out->address.len == 0)
      return command_error("dev: port '" + r.port + "' has no IPv4 address" +
                           (out->bridge_member ? " (a bridge member: switched, not routed)" : ""));
  }
  if (has_via) {
    if (out != nullptr) {
      if (!out->address.contains(r.via))
        return command_error("via: " + format_ipv4(r.via) + " is not in the subnet of port '" +
                             out->name + "'");
    } else {
      for (const port_config& p : gw.cfg.ports)
        if (p.address.len != 0 && p.address.contains(r.via)) out = &p;
      if (out == nullptr)
        return command_error("via: " + format_ipv4(r.via) + " is not in the subnet of any port");
    }
  } else if (out == nullptr) {
    return command_error("dev PORT is required when via is absent");
  }
  return route_hop{r.via, out->name};
}

// `VERB PREFIX [via ADDR] [dev PORT]` or `VERB PREFIX nexthop via ADDR [dev PORT] nexthop ...`,
// checked against the ports as the config loader checks a route: each next hop on a port's
// subnet, the port known and routed.
result<parsed_command> parse_command(const gateway& gw, std::string_view text) {
  const std::vector<std::string> w = words(text);
  if (w.size() < 2) return command_error("usage: add|replace|del PREFIX [via ADDRESS] [dev PORT]");
  parsed_command c;
  c.verb = w[0];
  if (c.verb != "add" && c.verb != "replace" && c.verb != "del")
    return command_error("unknown command '" + c.verb + "' (add, replace, del)");
  route_config& r = c.route;
  if (w[1] == "default") {
    r.prefix = {0, 0};
  } else if (w[1].find('/') != std::string::npos) {
    if (!parse_ipv4_prefix(w[1], &r.prefix))
      return command_error("'" + w[1] + "' is not an IPv4 prefix (a.b.c.d/len)");
  } else if (parse_ipv4(w[1], &r.prefix.addr)) {
    r.prefix.len = 32;
  } else {
    return command_error("'" + w[1] + "' is not an IPv4 prefix (a.b.c.d/len)");
  }
  if (r.prefix.addr != r.prefix.network())
    return command_error("invalid prefix for its length: " + w[1] + " (did you mean " +
                         format_ipv4(r.prefix.network()) + "/" + std::to_string(r.prefix.len) +
                         "?)");
  if (w.size() > 2 && w[2] == "nexthop") {
    // ip route's multipath form: nexthop via A [dev P] nexthop via B [dev P] ...
    if (c.verb == "del") return command_error("del takes PREFIX [via ADDRESS] [dev PORT]");
    for (size_t i = 2; i < w.size();) {
      if (w[i] != "nexthop") return command_error("expected 'nexthop', got '" + w[i] + "'");
      route_config one;
      bool has_via = false, has_dev = false;
      for (i++; i < w.size() && w[i] != "nexthop"; i += 2) {
        if (i + 1 >= w.size()) return command_error("'" + w[i] + "' needs a value");
        if (result<void> ok = via_or_dev(w[i], w[i + 1], &one, &has_via, &has_dev); !ok)
          return std::move(ok).error();
      }
      if (!has_via) return command_error("each nexthop needs via ADDRESS");
      result<route_hop> h = resolve_hop(gw, one, has_via, has_dev);
      if (!h) return std::move(h).error();
      if (std::find(r.nexthops.begin(), r.nexthops.end(), *h) != r.nexthops.end())
        return command_error("nexthop via " + format_ipv4(h->via) + " dev " + h->port +
                             " is given twice");
      r.nexthops.push_back(*h);
    }
    if (r.nexthops.size() < 2 || r.nexthops.size() > k_max_nexthops)
      return command_error("a multipath route takes 2 to " + std::to_string(k_max_nexthops) +
                           " nexthops");
    r.via = r.nexthops[0].via;
    r.port = r.nexthops[0].port;
    c.has_via = c.has_dev = true;
    return c;
  }
  if (result<void> ok = via_and_dev(w, &c); !ok) return std::move(ok).error();
  if (c.verb == "del") return c;
  result<route_hop> h = resolve_hop(gw, r, c.has_via, c.has_dev);
  if (!h) return std::move(h).error();
  r.port = h->port;
  return c;
}

bool same_prefix(const route_config& a, const route_config& b) {
  return !a.v6 && !b.v6 && a.prefix.addr == b.prefix.addr && a.prefix.len == b.prefix.len;
}

// Wait until no worker can still be inside a burst that read the table before the change.
// rte_fib changes an entry with one aligned 8-byte store, and fills a tbl8 group before it
// links it, so a lookup meanwhile sees the old next hop or the new one. A group a change frees
// may be reused by the next change; waiting here means no lookup still holds its old link
// then. Tests without workers have no thread online to wait for.
void grace_period(gateway& gw) {
  if (gw.qs != nullptr) rte_rcu_qsbr_synchronize(gw.qs, RTE_QSBR_THRID_INVALID);
}

route_nh next_hop(const gateway& gw, const route_config& r) {
  return {route_kind::forward, static_cast<uint16_t>(port_index(gw.cfg, r.port)), r.via};
}

// A multipath route's next hops as the table stores them (empty for one next hop).
std::vector<route_nh> hops_of(const gateway& gw, const route_config& r) {
  std::vector<route_nh> hops;
  for (const route_hop& h : r.nexthops)
    hops.push_back({route_kind::forward, static_cast<uint16_t>(port_index(gw.cfg, h.port)), h.via});
  return hops;
}

// Keeps the static routes in step with an add or replace made: `r` takes *same's place, or
// joins the list. Says what changed, in `text`'s words.
std::string note_set(std::vector<route_config>& routes, std::vector<route_config>::iterator same,
                     const route_config& r, std::string (*text)(const route_config&)) {
  if (same == routes.end()) {
    routes.push_back(r);
    return "added " + text(r);
  }
  std::string done = "replaced " + text(*same) + " with " + text(r);
  *same = r;
  return done;
}

// `VERB PREFIX6 [via ADDRESS6] [dev PORT]`, checked as the config loader checks an IPv6 route:
// a link-local next hop needs dev, a global one lies on a port's subnet, the port has an
// address6.
result<parsed_command> parse_command6(const gateway& gw, const std::vector<std::string>& w) {
  parsed_command c;
  c.verb = w[0];
  route_config& r = c.route;
  r.v6 = true;
  if (w[1] == "default") {
    r.prefix6 = {};
  } else if (w[1].find('/') != std::string::npos) {
    if (!parse_ipv6_prefix(w[1], &r.prefix6))
      return command_error("'" + w[1] + "' is not an IPv6 prefix (2001:db8::/32)");
  } else if (parse_ipv6(w[1], &r.prefix6.addr)) {
    r.prefix6.len = 128;
  } else {
    return command_error("'" + w[1] + "' is not an IPv6 prefix (2001:db8::/32)");
  }
  if (!(r.prefix6.network() == r.prefix6))
    return command_error("invalid prefix for its length: " + w[1] + " (did you mean " +
                         prefix6_text(r.prefix6.network()) + "?)");
  if (result<void> ok = via_and_dev(w, &c); !ok) return std::move(ok).error();
  if (c.verb == "del") return c;
  const port_config* out = nullptr;
  if (c.has_dev) {
    const int idx = port_index(gw.cfg, r.port);
    if (idx < 0) return command_error("dev: unknown port '" + r.port + "'");
    out = &gw.cfg.ports[static_cast<size_t>(idx)];
    if (!out->address6)
      return command_error("dev: port '" + r.port + "' has no address6 (an IPv6 route needs one)");
  }
  if (c.has_via) {
    if (r.via6.is_link_local()) {
      if (out == nullptr) return command_error("via: a link-local next hop needs dev PORT");
    } else if (out != nullptr) {
      if (!out->address6->contains(r.via6))
        return command_error("via: " + format_ipv6(r.via6) + " is not in the subnet of port '" +
                             out->name + "'");
    } else {
      for (const port_config& p : gw.cfg.ports)
        if (p.address6 && p.address6->contains(r.via6)) out = &p;
      if (out == nullptr)
        return command_error("via: " + format_ipv6(r.via6) + " is not in the subnet of any port");
    }
  } else if (out == nullptr) {
    return command_error("dev PORT is required when via is absent");
  }
  r.port = out->name;
  return c;
}

// A port's own IPv6 prefixes (its subnet and its address) go with the port, not with routes.
const port_config* owner_of6(const gateway& gw, const ipv6_prefix& p) {
  for (const port_config& port : gw.cfg.ports) {
    if (!port.address6) continue;
    if (p == port.address6->network() || p == ipv6_prefix{port.address6->addr, 128}) return &port;
  }
  return nullptr;
}

// IPv6's half of route_command: the trie is rebuilt and swapped (route6_table), then the old
// one freed after the grace period.
result<std::string> route6_command(gateway& gw, const parsed_command& c) {
  const route_config& want = c.route;
  if (const port_config* p = owner_of6(gw, want.prefix6))
    return command_error(prefix6_text(want.prefix6) + " is port " + p->name +
                         "'s: it goes with the port's address6");
  lock_guard lock(gw.routes_mu);
  std::vector<route_config>& routes = gw.static_routes;
  auto same = std::find_if(routes.begin(), routes.end(), [&](const route_config& r) {
    return r.v6 && r.prefix6 == want.prefix6;
  });
  std::string done;
  if (c.verb == "del") {
    if (same == routes.end() || (c.has_via && !(same->via6 == want.via6)) ||
        (c.has_dev && same->port != want.port))
      return command_error("no such route: " + prefix6_text(want.prefix6));
    if (result<void> ok = gw.routes6->remove(want.prefix6); !ok) return std::move(ok).error();
    grace_period(gw);
    gw.routes6->release_retired();
    done = "deleted " + route6_text(*same);
    routes.erase(same);
    return done;
  }
  if (same != routes.end() && c.verb == "add")
    return command_error("a route to " + prefix6_text(want.prefix6) + " exists (" +
                         route6_text(*same) + "); use replace");
  route_config r = want;
  r.line = 0;
  if (result<void> ok =
          gw.routes6->set(r.prefix6, static_cast<uint16_t>(port_index(gw.cfg, r.port)), r.via6);
      !ok)
    return std::move(ok).error();
  grace_period(gw);
  gw.routes6->release_retired();
  return note_set(routes, same, r, route6_text);
}

}  // namespace

result<std::string> route_command(gateway& gw, std::string_view command) {
  // `-6 VERB ...`: IPv6 whatever the words (ip -6 route del default).
  std::vector<std::string> w = words(command);
  const bool forced6 = !w.empty() && w[0] == "-6";
  if (forced6) w.erase(w.begin());
  if (forced6 || (w.size() >= 2 && is_v6_command(w))) {
    if (w.size() < 2)
      return command_error("usage: [-6] add|replace|del PREFIX [via ADDRESS] [dev PORT]");
    if (w[0] != "add" && w[0] != "replace" && w[0] != "del")
      return command_error("unknown command '" + w[0] + "' (add, replace, del)");
    result<parsed_command> parsed6 = parse_command6(gw, w);
    if (!parsed6) return std::move(parsed6).error();
    return route6_command(gw, *parsed6);
  }
  result<parsed_command> parsed = parse_command(gw, command);
  if (!parsed) return std::move(parsed).error();
  const parsed_command& c = *parsed;
  lock_guard lock(gw.routes_mu);
  std::vector<route_config>& routes = gw.static_routes;
  auto match = [&](const route_config& r) {
    return same_prefix(r, c.route) && (!c.has_via || r.via == c.route.via) &&
           (!c.has_dev || r.port == c.route.port);
  };
  auto it = std::find_if(routes.begin(), routes.end(), match);
  std::string done;
  if (c.verb == "del") {
    if (it == routes.end()) {
      for (size_t p = 0; p < gw.cfg.ports.size(); p++) {
        const ipv4_prefix& a = gw.cfg.ports[p].address;
        if (a.len != 0 && c.route.prefix.len == a.len && c.route.prefix.addr == a.network())
          return command_error(prefix_text(c.route.prefix) + " is port " + gw.cfg.ports[p].name +
                               "'s subnet: it goes with the port's address");
      }
      return command_error("no such route: " + prefix_text(c.route.prefix));
    }
    if (result<void> ok = gw.routes->remove(it->prefix); !ok) return std::move(ok).error();
    grace_period(gw);
    done = "deleted " + route_text(*it);
    routes.erase(it);
  } else {
    auto same = std::find_if(routes.begin(), routes.end(),
                             [&](const route_config& r) { return same_prefix(r, c.route); });
    if (same != routes.end() && c.verb == "add")
      return command_error("a route to " + prefix_text(c.route.prefix) + " exists (" +
                           route_text(*same) + "); use replace");
    route_config r = c.route;
    r.line = 0;
    if (result<void> ok = gw.routes->add({r.prefix, next_hop(gw, r), hops_of(gw, r)}); !ok)
      return std::move(ok).error();
    grace_period(gw);
    done = note_set(routes, same, r, route_text);
  }
  return done;
}

namespace {

// A MAC a neighbour may have: unicast, not zero.
bool unicast_mac(const std::string& text, mac_addr* mac) {
  return parse_mac(text, mac->b) && (mac->b[0] & 1) == 0 &&
         !std::all_of(mac->b, mac->b + 6, [](uint8_t b) { return b == 0; });
}

error neigh_error(std::string message) { return error{.key = "neigh", .message = message}; }

// add and replace, either family: the MAC given, and the port (an index of gw.cfg.ports).
result<mac_addr> static_mac(const std::string& mac_text, int port) {
  mac_addr mac;
  if (mac_text.empty()) return neigh_error("lladdr MAC is required");
  if (!unicast_mac(mac_text, &mac))
    return neigh_error("lladdr: '" + mac_text + "' is not a unicast MAC address");
  if (port < 0) return neigh_error("dev PORT is required");
  return mac;
}

// add and replace's last step, either family: a static (PERMANENT) entry for `key`. One release
// store of the entry's word: workers see the old MAC or this one.
template <typename Table, typename Key>
result<std::string> set_static(Table& table, const Key& key, const std::string& verb,
                               const std::string& who, const mac_addr& mac, int port,
                               const std::string& port_name) {
  bool is_static = false;
  const bool known = table.resolved(key, &is_static);
  if (verb == "add" && known)
    return neigh_error(who + " is known already (" + (is_static ? "PERMANENT" : "learned") +
                       "); use replace");
  if (!table.learn(key, mac, true, 0, static_cast<uint16_t>(port)))
    return neigh_error("the neighbour table is full");
  return (known ? "replaced " : "added ") + who + " lladdr " + format_mac(mac.b) + " dev " +
         port_name + " PERMANENT";
}

// IPv6's half of neigh_command. An IPv6 neighbour is an address on a port (a link-local one is
// unique only on its link): del without dev removes it from every port.
result<std::string> neigh6_command(gateway& gw, const std::string& verb, const std::string& who,
                                   const std::string& mac_text, const std::string& port_name) {
  auto fail = neigh_error;
  ipv6_addr addr;
  if (!parse_ipv6(who, &addr) || addr.is_zero() || addr.is_multicast())
    return fail("'" + who + "' is not a unicast IPv6 address");
  int port = -1;
  if (!port_name.empty()) {
    port = port_index(gw.cfg, port_name);
    if (port < 0) return fail("dev: unknown port '" + port_name + "'");
  }
  const std::string text = format_ipv6(addr);
  if (verb == "del") {
    bool removed = false;
    for (size_t p = 0; p < gw.cfg.ports.size(); p++)
      if (port < 0 || static_cast<size_t>(port) == p)
        removed |= gw.neighbors6->remove(neigh6_key{addr, static_cast<uint32_t>(p)}, gw.qs);
    if (!removed) return fail("no neighbour " + text);
    return "deleted " + text;
  }
  result<mac_addr> mac = static_mac(mac_text, port);
  if (!mac) return std::move(mac).error();
  const port_config& p = gw.cfg.ports[static_cast<size_t>(port)];
  if (!p.address6) return fail("port '" + p.name + "' has no address6");
  if (!addr.is_link_local() && !p.address6->contains(addr))
    return fail(text + " is not link-local or in the subnet of port '" + p.name + "'");
  if (addr == p.address6->addr) return fail(text + " is port " + p.name + "'s own address");
  return set_static(*gw.neighbors6, neigh6_key{addr, static_cast<uint32_t>(port)}, verb, text, *mac,
                    port, p.name);
}

}  // namespace

result<std::string> neigh_command(gateway& gw, std::string_view command) {
  auto fail = neigh_error;
  const std::vector<std::string> w = words(command);
  if (w.size() < 2 || (w[0] != "add" && w[0] != "replace" && w[0] != "del"))
    return fail("usage: add|replace|del ADDRESS [lladdr MAC] [dev PORT]");
  std::string mac_text, port_name;
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return fail("'" + w[i] + "' needs a value");
    if (w[i] == "lladdr" && mac_text.empty())
      mac_text = w[i + 1];
    else if (w[i] == "dev" && port_name.empty())
      port_name = w[i + 1];
    else
      return fail("unexpected '" + w[i] + "' (lladdr MAC, dev PORT)");
  }
  if (w[1].find(':') != std::string::npos)
    return neigh6_command(gw, w[0], w[1], mac_text, port_name);
  uint32_t addr = 0;
  if (!parse_ipv4(w[1], &addr) || addr == 0) return fail("'" + w[1] + "' is not an IPv4 address");
  const std::string who = format_ipv4(addr);
  int port = -1;
  if (!port_name.empty()) {
    port = port_index(gw.cfg, port_name);
    if (port < 0) return fail("dev: unknown port '" + port_name + "'");
  }
  if (w[0] == "del") {
    if (!gw.neighbors->remove(addr, gw.qs)) return fail("no neighbour " + who);
    return "deleted " + who;
  }
  result<mac_addr> mac = static_mac(mac_text, port);
  if (!mac) return std::move(mac).error();
  const port_config& p = gw.cfg.ports[static_cast<size_t>(port)];
  if (p.address.len == 0 || !p.address.contains(addr))
    return fail(who + " is not in the subnet of port '" + p.name + "'");
  if (addr == p.address.addr) return fail(who + " is port " + p.name + "'s own address");
  return set_static(*gw.neighbors, addr, w[0], who, *mac, port, p.name);
}

std::string route_list(gateway& gw) {
  lock_guard lock(gw.routes_mu);  // the entries' list changes with the routes
  const route_table* t = gw.routes.get();
  struct line {
    ipv4_prefix prefix;
    std::string text;
  };
  std::vector<line> lines;
  for (const route_table::entry& e : t->entries()) {
    if (e.nh.kind == route_kind::multipath) {
      // As ip route prints one: the prefix, then a line per next hop.
      std::string text = prefix_text(e.prefix);
      for (const route_nh& h : e.hops)
        text += "\n\tnexthop via " + format_ipv4(h.gateway) + " dev " + gw.ports[h.port].name +
                " weight 1";
      lines.push_back({e.prefix, std::move(text)});
      continue;
    }
    if (e.nh.kind != route_kind::forward) continue;  // local and broadcast: `table local`
    const port_info& port = gw.ports[e.nh.port];
    std::string text = prefix_text(e.prefix);
    if (e.nh.gateway != 0)
      text += " via " + format_ipv4(e.nh.gateway) + " dev " + port.name;
    else if (e.prefix.len == port.prefix_len &&
             e.prefix.addr == ipv4_prefix{port.addr, port.prefix_len}.network())
      text += " dev " + port.name + " proto kernel scope link src " + format_ipv4(port.addr);
    else
      text += " dev " + port.name + " scope link";
    lines.push_back({e.prefix, std::move(text)});
  }
  // ip route's order: by prefix, a shorter one first among equal addresses; default first.
  std::stable_sort(lines.begin(), lines.end(), [](const line& a, const line& b) {
    return a.prefix.addr != b.prefix.addr ? a.prefix.addr < b.prefix.addr
                                          : a.prefix.len < b.prefix.len;
  });
  std::string out;
  for (const line& l : lines) out += l.text + "\n";
  return out;
}

std::string route6_list(gateway& gw) {
  lock_guard lock(gw.routes_mu);  // the entries' list changes with the routes
  const route6_table& t = *gw.routes6;
  struct line {
    ipv6_prefix prefix;
    std::string text;
  };
  std::vector<line> lines;
  for (const route6_table::entry& e : t.entries()) {
    if (e.nh.kind != route_kind::forward) continue;  // the ports' addresses: `table local`
    const std::string& port = gw.ports[e.nh.port].name;
    std::string text = prefix6_text(e.prefix);
    const port_config& pc = gw.cfg.ports[e.nh.port];
    if (e.nh.gateway != 0)
      text += " via " + format_ipv6(t.gateway(e.nh.gateway)) + " dev " + port;
    else if (pc.address6 && e.prefix == pc.address6->network())
      text += " dev " + port + " proto kernel";
    else
      text += " dev " + port;
    lines.push_back({e.prefix, std::move(text)});
  }
  std::stable_sort(lines.begin(), lines.end(), [](const line& a, const line& b) {
    const int c = std::memcmp(a.prefix.addr.b, b.prefix.addr.b, sizeof a.prefix.addr.b);
    return c != 0 ? c < 0 : a.prefix.len < b.prefix.len;
  });
  std::string out;
  for (const line& l : lines) out += l.text + "\n";
  return out;
}

size_t route_count(gateway& gw, bool v6) {
  lock_guard lock(gw.routes_mu);
  size_t n = 0;
  if (v6) {
    for (const route6_table::entry& e : gw.routes6->entries())
      n += e.nh.kind == route_kind::forward;
  } else {
    for (const route_table::entry& e : gw.routes->entries())
      n += e.nh.kind == route_kind::forward || e.nh.kind == route_kind::multipath;
  }
  return n;
}

}  // namespace ctgate
