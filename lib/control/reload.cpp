#include "control/reload.h"

#include <algorithm>
#include <atomic>

#include "control/gateway.h"
#include "control/routes.h"

namespace ctgate {

namespace {

constexpr const char* k_live_keys[] = {"ruleset",   "ruleset_limits",     "routes",
                                       "neighbors", "conntrack.timeouts", "stats_interval_s",
                                       "metrics"};

bool is_live(const std::string& key) {
  return std::find(std::begin(k_live_keys), std::end(k_live_keys), key) != std::end(k_live_keys);
}

std::string route_args(const route_config& r) {
  if (r.v6)
    return format_prefix6(r.prefix6) + (r.via6.is_zero() ? "" : " via " + format_ipv6(r.via6)) +
           " dev " + r.port;
  std::string s = format_prefix(r.prefix);
  if (!r.nexthops.empty()) {
    for (const route_hop& h : r.nexthops)
      s += " nexthop via " + format_ipv4(h.via) + " dev " + h.port;
    return s;
  }
  if (r.via != 0) s += " via " + format_ipv4(r.via);
  if (!r.port.empty()) s += " dev " + r.port;
  return s;
}

std::string route_prefix(const route_config& r) {
  return r.v6 ? format_prefix6(r.prefix6) : format_prefix(r.prefix);
}

bool same_route_prefix(const route_config& a, const route_config& b) {
  if (a.v6 != b.v6) return false;
  return a.v6 ? a.prefix6 == b.prefix6
              : a.prefix.addr == b.prefix.addr && a.prefix.len == b.prefix.len;
}

bool same_neighbour(const neighbor_config& a, const neighbor_config& b) {
  if (a.v6 != b.v6) return false;
  return a.v6 ? a.address6 == b.address6 && a.port == b.port : a.address == b.address;
}

std::string neighbour_address(const neighbor_config& n) {
  return n.v6 ? format_ipv6(n.address6) : format_ipv4(n.address);
}

// Runs one live change (route_command's or neigh_command's words) and notes what it did, or why
// it failed, under `what`.
template <typename Command>
void run_change(Command command, gateway& gw, const char* what, const std::string& words,
                reload_summary* out, std::vector<std::string>* errors) {
  result<std::string> r = command(gw, words);
  if (r)
    out->changes.push_back(std::string(what) + ": " + *r);
  else
    errors->push_back(std::string(what) + " " + words + ": " + r.error().message);
}

error refuse(const gateway_config& next, const std::vector<config_difference>& fixed) {
  error e{.file = next.source_file,
          .line = fixed[0].line,
          .key = fixed[0].key,
          .message = "changed, and it takes a restart: nothing was reloaded"};
  for (size_t i = 1; i < fixed.size(); i++)
    e.detail.push_back(next.source_file + ":" + std::to_string(fixed[i].line) + ": " +
                       fixed[i].key + ": changed too, and it takes a restart");
  return e;
}

// The routes of `next` become the static ones: routes it no longer has go (ctgatectl's
// included), new ones are added, changed ones replaced. Each is one live change.
void apply_routes(gateway& gw, const gateway_config& next, reload_summary* out,
                  std::vector<std::string>* errors) {
  std::vector<route_config> current;
  {
    lock_guard lock(gw.routes_mu);
    current = gw.static_routes;
  }
  auto find = [](const std::vector<route_config>& in, const route_config& r) {
    return std::find_if(in.begin(), in.end(),
                        [&](const route_config& x) { return same_route_prefix(x, r); });
  };
  auto run = [&](const std::string& words) {
    run_change(route_command, gw, "route", words, out, errors);
  };
  for (const route_config& r : current)
    if (find(next.routes, r) == next.routes.end()) run("del " + route_prefix(r));
  for (const route_config& r : next.routes) {
    auto it = find(current, r);
    if (it == current.end())
      run("add " + route_args(r));
    else if (it->via != r.via || !(it->via6 == r.via6) || (!r.port.empty() && it->port != r.port) ||
             it->nexthops != r.nexthops)
      run("replace " + route_args(r));
  }
}

// The config's static neighbours: those it dropped are removed, new or changed ones set.
void apply_neighbours(gateway& gw, const gateway_config& next, reload_summary* out,
                      std::vector<std::string>* errors) {
  auto find = [](const std::vector<neighbor_config>& in, const neighbor_config& n) {
    return std::find_if(in.begin(), in.end(),
                        [&](const neighbor_config& x) { return same_neighbour(x, n); });
  };
  auto run = [&](const std::string& words) {
    run_change(neigh_command, gw, "neigh", words, out, errors);
  };
  for (const neighbor_config& n : gw.cfg.neighbors)
    if (find(next.neighbors, n) == next.neighbors.end())
      run("del " + neighbour_address(n) + (n.v6 ? " dev " + n.port : ""));
  for (const neighbor_config& n : next.neighbors) {
    auto it = find(gw.cfg.neighbors, n);
    if (it == gw.cfg.neighbors.end() || it->mac != n.mac || it->port != n.port)
      run("replace " + neighbour_address(n) + " lladdr " + n.mac + " dev " + n.port);
  }
}

// conntrack.timeouts: each class's one aligned 32-bit word is stored over in place, as Linux's
// sysctls are; a packet reads its class's old value or the new one (docs/design/concurrency.md,
// "Reload").
void apply_timeouts(gateway& gw, const gateway_config& next, reload_summary* out) {
  const ct::timeout_table t = ct::make_timeout_table(next.conntrack.timeouts);
  for (size_t c = 0; c < ct::TC_COUNT; c++)
    std::atomic_ref<uint32_t>(gw.ct.timeouts.ms[c]).store(t.ms[c], std::memory_order_relaxed);
  out->changes.push_back("conntrack.timeouts: the new values apply from each flow's next packet");
}

mutex g_reload_mu;
std::function<result<void>(const metrics_config&)> g_metrics_mover CTGATE_GUARDED_BY(g_reload_mu);

}  // namespace

void reload_set_metrics_mover(std::function<result<void>(const metrics_config&)> mover) {
  lock_guard lock(g_reload_mu);
  g_metrics_mover = std::move(mover);
}

result<reload_summary> reload_config(gateway& gw) {
  lock_guard lock(g_reload_mu);
  result<gateway_config> loaded = load_config(gw.cfg.source_file);
  if (!loaded) return std::move(loaded).error();
  gateway_config& next = *loaded;
  const std::vector<config_difference> diffs =
      config_differences(gw.cfg.source_text, next.source_text);
  std::vector<config_difference> fixed;
  for (const config_difference& d : diffs)
    if (!is_live(d.key)) fixed.push_back(d);
  auto line_of = [&](const std::string& key) {
    for (const config_difference& d : diffs)
      if (d.key == key) return d.line;
    return 0;
  };
  if (!fixed.empty()) return refuse(next, fixed);

  // The ruleset is checked against the new config before anything changes.
  const std::string ruleset_path = config_ruleset_path(next);
  if (!ruleset_path.empty())
    if (result<ruleset_summary> ok = check_ruleset_file(ruleset_path, &next); !ok)
      return std::move(ok).error();
  reload_summary out;
  auto changed = [&](const char* key) {
    return std::any_of(diffs.begin(), diffs.end(),
                       [&](const config_difference& d) { return d.key == key; });
  };
  // The metrics endpoint first: a port that cannot be bound leaves everything as it was.
  if (changed("metrics")) {
    if (!g_metrics_mover)
      return error{.file = next.source_file,
                   .line = line_of("metrics"),
                   .key = "metrics",
                   .message = "changed, and this gateway cannot move its endpoint: restart it"};
    if (result<void> ok = g_metrics_mover(next.metrics); !ok) return std::move(ok).error();
    out.changes.push_back("metrics: " + (next.metrics.listen.empty()
                                             ? std::string("off")
                                             : "listening on " + next.metrics.listen));
  }
  gw.cfg.ruleset_limits = next.ruleset_limits;
  gw.cfg.ruleset = next.ruleset;
  if (!ruleset_path.empty()) {
    result<ruleset_summary> r = reload_ruleset(gw);
    if (!r) return std::move(r).error();  // checked above; a race with another load
    out.has_ruleset = true;
    out.ruleset = *r;
  } else if (changed("ruleset")) {
    result<ruleset_summary> r = load_ruleset_text(gw, "flush ruleset\n", "reload");
    if (!r) return std::move(r).error();
    out.changes.push_back("ruleset: none in the config: flushed");
  }
  std::vector<std::string> errors;
  if (changed("routes")) apply_routes(gw, next, &out, &errors);
  if (changed("neighbors")) apply_neighbours(gw, next, &out, &errors);
  if (changed("conntrack.timeouts")) apply_timeouts(gw, next, &out);
  if (changed("stats_interval_s")) {
    std::atomic_ref<uint32_t>(gw.cfg.stats_interval_s)
        .store(next.stats_interval_s, std::memory_order_relaxed);
    out.changes.push_back("stats_interval_s: " + std::to_string(next.stats_interval_s));
  }
  if (diffs.empty())
    out.changes.push_back("the config file is the running one: nothing else changed");
  gw.cfg.routes = next.routes;
  gw.cfg.neighbors = next.neighbors;
  gw.cfg.conntrack.timeouts = next.conntrack.timeouts;
  gw.cfg.metrics = next.metrics;
  gw.cfg.source_text = next.source_text;
  if (!errors.empty()) {
    error e{.file = next.source_file,
            .message = "reloaded, but " + std::to_string(errors.size()) +
                       " route or neighbour change(s) failed: " + errors[0]};
    for (size_t i = 1; i < errors.size(); i++) e.detail.push_back(errors[i]);
    return e;
  }
  return out;
}

}  // namespace ctgate
