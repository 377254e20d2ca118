#include "control/routes.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>
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

// One `via ADDRESS` or `dev PORT` pair of a command into r.
result<void> via_or_dev(const std::string& key, const std::string& value, route_config* r,
                        bool* has_via, bool* has_dev) {
  if (key == "via" && !*has_via) {
    if (!parse_ipv4(value, &r->via) || r->via == 0)
      return command_error("via: '" + value + "' is not an IPv4 address");
    *has_via = true;
  } else if (key == "dev" && !*has_dev) {
    r->port = value;
    *has_dev = true;
  } else {
    return command_error("unexpected '" + key + "' (via ADDRESS, dev PORT)");
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
      return command_error("dev: port '" + r.port + "' is switched (a bridge member), not routed");
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
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return command_error("'" + w[i] + "' needs a value");
    if (result<void> ok = via_or_dev(w[i], w[i + 1], &r, &c.has_via, &c.has_dev); !ok)
      return std::move(ok).error();
  }
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

}  // namespace

result<std::string> route_command(gateway& gw, std::string_view command) {
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
    if (same != routes.end()) {
      done = "replaced " + route_text(*same) + " with " + route_text(r);
      *same = r;
    } else {
      done = "added " + route_text(r);
      routes.push_back(r);
    }
  }
  return done;
}

result<std::string> neigh_command(gateway& gw, std::string_view command) {
  auto fail = [](std::string message) { return error{.key = "neigh", .message = message}; };
  const std::vector<std::string> w = words(command);
  if (w.size() < 2 || (w[0] != "add" && w[0] != "replace" && w[0] != "del"))
    return fail("usage: add|replace|del ADDRESS [lladdr MAC] [dev PORT]");
  uint32_t addr = 0;
  if (!parse_ipv4(w[1], &addr) || addr == 0) return fail("'" + w[1] + "' is not an IPv4 address");
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
  mac_addr mac;
  if (mac_text.empty()) return fail("lladdr MAC is required");
  if (!parse_mac(mac_text, mac.b) || (mac.b[0] & 1) != 0 ||
      std::all_of(mac.b, mac.b + 6, [](uint8_t b) { return b == 0; }))
    return fail("lladdr: '" + mac_text + "' is not a unicast MAC address");
  if (port < 0) return fail("dev PORT is required");
  const port_config& p = gw.cfg.ports[static_cast<size_t>(port)];
  if (p.address.len == 0 || !p.address.contains(addr))
    return fail(who + " is not in the subnet of port '" + p.name + "'");
  if (addr == p.address.addr) return fail(who + " is port " + p.name + "'s own address");
  bool is_static = false;
  const bool known = gw.neighbors->resolved(addr, &is_static);
  if (w[0] == "add" && known)
    return fail(who + " is known already (" + (is_static ? "PERMANENT" : "learned") +
                "); use replace");
  // One release store of the entry's word: workers see the old MAC or this one.
  if (!gw.neighbors->learn(addr, mac, true, 0, static_cast<uint16_t>(port)))
    return fail("the neighbour table is full");
  return (known ? "replaced " : "added ") + who + " lladdr " + format_mac(mac.b) + " dev " +
         p.name + " PERMANENT";
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

}  // namespace ctgate
