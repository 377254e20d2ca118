#include "control/ruleset_runtime.h"

#include <arpa/inet.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "dataplane/gateway.h"
#include "dataplane/hooks_builtin.h"
#include "ruleset/element_update.h"
#include "ruleset/fields.h"
#include "ruleset/nft_nat.h"
#include "synproxy/synproxy.h"

namespace ctgate {

namespace {

hook_point to_hook_point(nft::hook h) {
  switch (h) {
    case nft::hook::prerouting: return hook_point::prerouting;
    case nft::hook::input: return hook_point::input;
    case nft::hook::forward: return hook_point::forward;
    case nft::hook::output: return hook_point::output;
    case nft::hook::postrouting: return hook_point::postrouting;
  }
  return hook_point::input;
}

// The packet families a table's chains see: an inet table's both, an ip table's IPv4, an ip6
// table's IPv6 (Linux registers hooks per family).
uint8_t table_families(nft::family f) {
  switch (f) {
    case nft::family::inet: return HOOK_FAM_IPV4 | HOOK_FAM_IPV6;
    case nft::family::ip6: return HOOK_FAM_IPV6;
    case nft::family::bridge: return HOOK_FAM_BRIDGE;
    case nft::family::ip: break;
  }
  return HOOK_FAM_IPV4;
}

bool chain_uses_ct(const nft::chain& c) {
  for (const auto& r : c.rules) {
    // Every ct expression registers conntrack in Linux (nft_ct_get_init).
    for (const auto& m : r.matches)
      if (m.f == nft::field::ct_state || m.f == nft::field::ct_mark || m.f == nft::field::ct_zone ||
          m.f == nft::field::ct_direction || m.f == nft::field::ct_status ||
          m.f == nft::field::ct_expiration || nft::is_ct_acct_field(m.f) ||
          nft::is_ct_addr_field(m.f) || nft::is_ct_addr6_field(m.f))
        return true;
    for (const auto& s : r.stmts) {
      // synproxy too (nft_synproxy_init takes conntrack): the connection it opens is confirmed
      // at postrouting.
      if (s.kind == nft::stmt_kind::notrack || s.kind == nft::stmt_kind::ct_mark_set ||
          s.kind == nft::stmt_kind::synproxy || s.kind == nft::stmt_kind::ct_zone_set ||
          s.kind == nft::stmt_kind::ct_timeout_set || s.kind == nft::stmt_kind::ct_count ||
          (s.kind == nft::stmt_kind::dynset && s.has_ct_count))
        return true;
      if (s.from == nft::field::ct_state || s.from == nft::field::ct_mark) return true;
    }
  }
  return false;
}

bool chain_can_drop(const nft::chain& c) {
  if (c.policy_drop) return true;
  for (const auto& r : c.rules)
    for (const auto& s : r.stmts) {
      if (s.kind == nft::stmt_kind::drop || s.kind == nft::stmt_kind::reject) return true;
      if (s.kind == nft::stmt_kind::vmap) return true;  // a map may drop (named: after edits)
    }
  return false;
}

std::vector<std::string> port_names(const gateway& gw) {
  std::vector<std::string> names;
  for (const auto& p : gw.ports) names.push_back(p.name);
  return names;
}

// The bridges `meta ibrname` and `obrname` may name, with their members.
std::vector<nft::bridge_members> bridge_members(const gateway& gw) {
  std::vector<nft::bridge_members> out;
  for (const auto& b : gw.bridges) out.push_back({b.name, b.members});
  return out;
}

// The first article's trap: a chain that runs after conntrack's confirm on
// the same hook (same priority INT_MAX, registered before conntrack) can
// drop packets whose flows are already confirmed.
void warn_ordering(gateway& gw, const loaded_ruleset& lr, std::vector<std::string>* warnings) {
  const hook_snapshot* snap = gw.hooks->current();
  for (const auto& ref : lr.refs) {
    const nft::cchain& cc = lr.rs->chains[ref->chain];
    const nft::table& tb = lr.rs->ast.tables[cc.table];
    const nft::chain& ast = tb.chains[cc.ast_chain];
    if (!chain_can_drop(ast)) continue;
    const auto& chain = snap->chains[static_cast<int>(to_hook_point(cc.hook_point))];
    int chain_at = -1;
    for (uint16_t i = 0; i < chain.n; i++)
      if (chain.e[i].priv == ref.get()) chain_at = i;
    if (chain_at < 0) continue;
    // A confirm of a family the chain sees (ipv4_confirm, ipv6_confirm, the bridge's
    // nf_ct_bridge_post) that runs before it.
    const char* confirm = nullptr;
    for (int i = 0; i < chain_at && confirm == nullptr; i++) {
      const std::string name = chain.e[i].name;
      if (chain.e[i].fn != nullptr &&
          (name == "ipv4_confirm" || name == "ipv6_confirm" || name == "nf_ct_bridge_post") &&
          (chain.e[i].families & chain.e[chain_at].families) != 0)
        confirm = chain.e[i].name;
    }
    if (confirm != nullptr) {
      warnings->push_back(
          ast.loc.file + ":" + std::to_string(ast.loc.line) + ": warning: chain " + tb.name + " " +
          ast.name + " (hook " + hook_point_name(to_hook_point(cc.hook_point)) + ", priority " +
          std::to_string(cc.priority) + ") runs AFTER " + confirm +
          ": it was registered before conntrack's hooks, and among "
          "equal priorities the later registration runs first. Its drops will not undo the "
          "confirmation: a dropped packet's flow stays in the conntrack table. Use a priority "
          "below 2147483647 to filter before confirm.");
    }
  }
}

void update_tracing(gateway& gw) CTGATE_REQUIRES(gw.ruleset_mu) {
  bool on = gw.trace_ruleset != nullptr || (gw.ruleset && gw.ruleset->rs->uses_nftrace);
  gw.tracing.store(on, std::memory_order_relaxed);
}

// The NAT hooks of a ruleset with nat chains (nft_nat.h), at Linux's priorities: all four
// as soon as one nat chain exists (nf_nat_register_fn registers them together), since a
// translated connection's packets are rewritten at every one of them, whichever hook its
// binding came from. Among themselves the chains run by priority, and among equals the
// later registered first, as hooks do.
//
// Per family, as Linux registers nf_nat_ipv4_ops and nf_nat_ipv6_ops: an ip table's nat chains
// register IPv4's, an ip6 table's IPv6's, an inet table's both, and each family's hooks run
// the chains that see that family.
result<void> register_nat_hooks(hook_registry::editor& ed, loaded_ruleset& lr,
                                std::vector<uint32_t> (&by_hook)[5], uint8_t family) {
  if (std::all_of(std::begin(by_hook), std::end(by_hook), [](const auto& c) { return c.empty(); }))
    return {};
  const bool v6 = family == HOOK_FAM_IPV6;
  for (int h = 0; h < 5; h++) {
    if (static_cast<hook_point>(h) == hook_point::forward) continue;
    std::vector<uint32_t>& chains = by_hook[h];
    std::stable_sort(chains.begin(), chains.end(), [&](uint32_t a, uint32_t b) {
      const int32_t pa = lr.rs->chains[a].priority, pb = lr.rs->chains[b].priority;
      return pa != pb ? pa < pb : a > b;
    });
    const auto point = static_cast<hook_point>(h);
    const bool dst = point == hook_point::prerouting || point == hook_point::output;
    const char* name =
        point == hook_point::prerouting ? (v6 ? "nf_nat_ipv6_in" : "nf_nat_ipv4_pre_routing")
        : point == hook_point::input    ? (v6 ? "nf_nat_ipv6_local_in" : "nf_nat_ipv4_local_in")
        : point == hook_point::output   ? (v6 ? "nf_nat_ipv6_local_fn" : "nf_nat_ipv4_local_fn")
                                        : (v6 ? "nf_nat_ipv6_out" : "nf_nat_ipv4_out");
    lr.nat_refs.push_back(std::make_unique<nft_nat_ref>(nft_nat_ref{
        lr.rs.get(), dst ? ct::nat_manip::dst : ct::nat_manip::src, std::move(chains)}));
    result<int> id = ed.add(point, dst ? k_nat_dst_priority : k_nat_src_priority, name,
                            nft_nat_hook, lr.nat_refs.back().get(), lr.group, family);
    if (!id) return std::move(id).error();
  }
  return {};
}

// Compile errors point into the source: show the line like parse errors do,
// from the loaded text or else from the file named in the location.
error quote_compile_error(error err, const std::string* text) {
  std::string line;
  if (text != nullptr && err.file == "") err.file = "ruleset";
  std::istringstream in(text != nullptr ? *text : "");
  std::ifstream file;
  std::istream* src = &in;
  if (text == nullptr) {
    file.open(err.file);
    src = &file;
  }
  std::string source_line;
  for (int n = 1; n <= err.line && std::getline(*src, line); n++)
    if (n == err.line) source_line = line;
  err.quote(source_line);
  return err;
}

// Installs `ast` into `slot` (the ruleset or the trace selector), replacing
// what was there, as one registry edit.
result<ruleset_summary> install(gateway& gw, const nft::ruleset& ast, const std::string& source,
                                std::unique_ptr<loaded_ruleset> gateway::*slot = &gateway::ruleset,
                                const std::string* text = nullptr) {
  ruleset_summary res;
  auto rs = nft::compile(ast, source, port_names(gw), static_cast<uint16_t>(gw.workers.size()),
                         bridge_members(gw));
  if (!rs) return quote_compile_error(std::move(rs).error(), text);
  auto lr = std::make_unique<loaded_ruleset>();
  lr->rs = std::move(*rs);
  lock_guard lock(gw.ruleset_mu);
  // Its timeout policies' slots (a policy the load keeps keeps its slot).
  ct::ct_timeout_registry slots = gw.ct_timeout_slots;
  std::unique_ptr<ct::ct_timeout_policies> policies;
  if (slot == &gateway::ruleset) {
    std::vector<ct::ct_timeout_request> wanted;
    for (const nft::ct_timeout_spec& p : lr->rs->ct_timeouts)
      wanted.push_back({{p.table_handle, p.handle, p.serial}, p.l4proto, p.first, p.ms});
    policies = slots.assign(wanted, gw.ct.params, gw.ct.timeouts, &lr->rs->ct_timeout_refs);
    if (!policies)
      return error{.file = source,
                   .severity = "error",
                   .message = "too many ct timeout policies: at most " +
                              std::to_string(ct::k_max_timeout_policies)};
  }
  // `ct bytes|packets|avgpkt` turn accounting on for good (nft's ct expression calls
  // nf_ct_set_acct), before any rule reads it.
  lr->rs->ct_table = gw.ct.table;
  if (lr->rs->uses_acct)
    if (result<void> on = gw.ct.table->enable_accounting(); !on)
      return error{.file = source, .severity = "error", .message = on.error().message};
  // NAT's reply keys and tuples, for good, before a worker can bind a connection.
  if (lr->rs->uses_nat)
    if (result<void> on = ct::ct_enable_nat(&gw.ct); !on)
      return error{.file = source, .severity = "error", .message = on.error().message};
  // Before workers can see it: the live sets the load keeps go on with their elements, and its
  // timeout policies are published.
  nft::fill_live_sets(*lr->rs, (gw.*slot) ? (gw.*slot)->rs.get() : nullptr, gw.clock.now_ms());
  if (policies) gw.ct.policies.store(policies.get(), std::memory_order_release);
  lr->group = gw.next_ruleset_group++;
  lr->rs->group = lr->group;
  uint32_t old_group = (gw.*slot) ? (gw.*slot)->group : 0;
  const uint8_t ct_was_on = gw.ct_hooks_registered.load();
  uint8_t ct_on = ct_was_on;
  bool synproxy_now = false;
  result<void> ok = gw.hooks->edit([&](hook_registry::editor& ed) -> result<void> {
    if (old_group != 0) ed.remove_group(old_group);
    // Conntrack for the families of table `t`, if not yet: Linux registers it per family (an
    // inet table's rule both), when the first rule that needs it is added. A bridge table's
    // takes IPv4's and IPv6's too (nf_ct_netns_get(NFPROTO_BRIDGE) gets inet's): what is routed
    // to, from and through the gateway is tracked as well.
    auto need_ct = [&](uint32_t t) -> result<void> {
      uint8_t fams = table_families(lr->rs->ast.tables[t].fam);
      if (fams == HOOK_FAM_BRIDGE) fams |= HOOK_FAM_IPV4 | HOOK_FAM_IPV6;
      if ((ct_on & fams) == fams) return {};
      if (result<void> r = register_conntrack_hooks(ed, static_cast<uint8_t>(fams & ~ct_on)); !r)
        return r;
      ct_on |= fams;
      return {};
    };
    // Nat chains by family (IPv4, IPv6) and hook point, for the NAT hooks.
    std::vector<uint32_t> nat_chains[2][5];
    for (uint32_t i = 0; i < lr->rs->chains.size(); i++) {
      const nft::cchain& cc = lr->rs->chains[i];
      const nft::chain& ast_chain = lr->rs->ast.tables[cc.table].chains[cc.ast_chain];
      if (cc.nat) {
        const uint8_t fams = table_families(lr->rs->ast.tables[cc.table].fam);
        for (int f = 0; f < 2; f++)
          if (fams & (f == 0 ? HOOK_FAM_IPV4 : HOOK_FAM_IPV6))
            nat_chains[f][static_cast<int>(to_hook_point(cc.hook_point))].push_back(i);
        // A nat chain needs conntrack (nf_ct_netns_get), registered with it.
        if (result<void> r = need_ct(cc.table); !r) return r;
        continue;
      }
      if (cc.base) {
        lr->refs.push_back(std::make_unique<nft_chain_ref>(nft_chain_ref{lr->rs.get(), i}));
        std::string name = "nft " + lr->rs->ast.tables[cc.table].name + " " + cc.name;
        // An inet table's chains see both families, an ip table's IPv4 only (as Linux
        // registers them per family).
        result<int> id = ed.add(to_hook_point(cc.hook_point), cc.priority, name, nft_chain_hook,
                                lr->refs.back().get(), lr->group,
                                table_families(lr->rs->ast.tables[cc.table].fam));
        if (!id) return std::move(id).error();
      }
      // Linux registers conntrack when the first rule needing it is added,
      // i.e. after this chain's own hook.
      if (chain_uses_ct(ast_chain))
        if (result<void> r = need_ct(cc.table); !r) return r;
    }
    if (result<void> r = register_nat_hooks(ed, *lr, nat_chains[0], HOOK_FAM_IPV4); !r) return r;
    if (result<void> r = register_nat_hooks(ed, *lr, nat_chains[1], HOOK_FAM_IPV6); !r) return r;
    if (lr->rs->uses_synproxy && !gw.synproxy->hook_registered) {
      if (result<void> r = register_synproxy_hook(ed); !r) return r;
      synproxy_now = true;
    }
    return {};
  });
  if (synproxy_now) gw.synproxy->hook_registered = true;
  if (!ok && policies) {
    // Workers may have loaded the new policies: put the old ones back and free the new ones
    // only after a grace period.
    gw.ct.policies.store(gw.ct_timeout_policies.get(), std::memory_order_release);
    if (gw.qs != nullptr) rte_rcu_qsbr_synchronize(gw.qs, RTE_QSBR_THRID_INVALID);
  }
  if (!ok) {
    return error{.file = source,
                 .severity = "error",
                 .message = "cannot register chains: " + ok.error().message};
  }
  if (lr->rs->uses_synproxy && gw.cfg.conntrack.tcp_loose)
    res.warnings.push_back(source +
                           ": warning: synproxy with conntrack.tcp_loose: true: a client's "
                           "ACK is picked up as a new flow instead of reaching the synproxy rule "
                           "as INVALID. Set conntrack.tcp_loose: false (Linux: "
                           "nf_conntrack_tcp_loose=0), as synproxy requires.");
  if (ok && ct_on != ct_was_on) gw.ct_hooks_registered.store(ct_on);
  // The edit waited for a grace period: no worker can still be walking the
  // old ruleset's chains, so its counters are final. Rules the load kept
  // go on from them (the new ones count from zero until now).
  if (gw.*slot) carry_counters(*(gw.*slot)->rs, lr->rs.get());
  if (policies) {
    // The edit's grace period has passed: no worker reads the old policies any more.
    gw.ct_timeout_slots = slots;
    gw.ct_timeout_policies = std::move(policies);
  }
  if (slot == &gateway::ruleset) warn_ordering(gw, *lr, &res.warnings);
  for (const auto& wmsg : res.warnings) lr->rs->warnings.push_back(wmsg);
  res.tables = lr->rs->ast.tables.size();
  res.chains = lr->rs->chains.size();
  res.rules = lr->rs->rules.size();
  gw.*slot = std::move(lr);
  update_tracing(gw);
  return res;
}

nft::parse_limits limits_of(const ruleset_limits_config& c) {
  return {.rules = c.rules, .set_elements = c.set_elements};
}

// A load reads the live ruleset, applies the file to it and installs the result: two loads
// at once (telemetry clients each have a thread) would each miss the other's changes. One
// load at a time, in every gateway of the process (tests build several).
std::mutex g_load_mu;

// The live ruleset's tree, the base a file applies to (empty when none is loaded).
nft::ruleset current_ast(gateway& gw) {
  lock_guard lock(gw.ruleset_mu);
  return gw.ruleset ? gw.ruleset->rs->ast : nft::ruleset{};
}

// A text of nothing but `add element` / `delete element`: applied to copies of the sets it
// names, swapped in, without copying or compiling the rest (element_update.h). nullopt when
// this path does not take the text, which then loads as any other; errors in its syntax come
// from that load too, so both paths word them alike. Called with g_load_mu held: no other
// load changes the live ruleset meanwhile.
std::optional<result<ruleset_summary>> update_elements(gateway& gw, const std::string& text,
                                                       const std::string& name,
                                                       const std::string* quote_text) {
  nft::ruleset skeleton;
  {
    lock_guard lock(gw.ruleset_mu);
    if (!gw.ruleset) return std::nullopt;
    skeleton = nft::skeleton_of(gw.ruleset->rs->ast);
  }
  auto cmds = nft::parse_element_commands(text, name, skeleton);
  if (!cmds || !*cmds || (*cmds)->empty()) return std::nullopt;
  ruleset_summary res;
  nft::retired_sets retired;
  {
    lock_guard lock(gw.ruleset_mu);
    nft::compiled_ruleset& rs = *gw.ruleset->rs;
    auto plan = nft::plan_element_update(rs, **cmds, gw.cfg.ruleset_limits.set_elements);
    if (!plan)
      return result<ruleset_summary>(quote_compile_error(std::move(plan).error(), quote_text));
    if (!*plan) return std::nullopt;
    res.in_place = true;
    res.elements_added = (*plan)->added;
    res.elements_deleted = (*plan)->removed;
    retired = nft::apply_element_update(rs, std::move(**plan));
    res.tables = rs.ast.tables.size();
    res.chains = rs.chains.size();
    res.rules = rs.rules.size();
  }
  // Workers may still read the replaced sets until each has passed a quiescent state.
  if (gw.qs != nullptr) rte_rcu_qsbr_synchronize(gw.qs, RTE_QSBR_THRID_INVALID);
  return result<ruleset_summary>(std::move(res));
}

}  // namespace

void carry_counters(const nft::compiled_ruleset& from, nft::compiled_ruleset* to) {
  // A rule's identity: its table's handle, its own handle and its serial (a rule replaced
  // in place keeps its handle but starts counting again, as in nft), and which of its
  // counter (or quota) statements this is.
  using key = std::tuple<uint64_t, uint64_t, uint64_t, uint32_t>;
  // A named object's: its table's handle, its own handle and serial (rules and objects share
  // a table's handle numbers).
  auto keys_of = [](const nft::compiled_ruleset& rs, const std::vector<nft::crule>& rules) {
    std::vector<key> keys;
    std::map<std::pair<uint64_t, uint64_t>, uint32_t> ordinal;
    for (const nft::crule& cr : rules) {
      const nft::table& tb = rs.ast.tables[cr.table];
      if (cr.chain == nft::k_none) {
        const nft::object& ob = tb.objects[cr.index];
        keys.emplace_back(tb.handle, ob.handle, ob.serial, 0);
        continue;
      }
      const nft::rule& rl = tb.chains[cr.chain].rules[cr.index];
      keys.emplace_back(tb.handle, rl.handle, rl.serial, ordinal[{tb.handle, rl.handle}]++);
    }
    return keys;
  };
  // For each of `to`'s statements, the index of the same statement in `from`, if kept.
  auto carried = [&](const std::vector<nft::crule>& old_rules,
                     const std::vector<nft::crule>& new_rules, auto&& copy) {
    const std::vector<key> old_keys = keys_of(from, old_rules);
    std::map<key, uint32_t> old_index;
    for (uint32_t i = 0; i < old_keys.size(); i++) old_index.emplace(old_keys[i], i);
    const std::vector<key> new_keys = keys_of(*to, new_rules);
    for (uint32_t i = 0; i < new_keys.size(); i++)
      if (auto it = old_index.find(new_keys[i]); it != old_index.end()) copy(it->second, i);
  };
  carried(from.counter_rule, to->counter_rule,
          [&](uint32_t was, uint32_t is) { to->counter_base[is] = from.counter_total(was); });
  carried(from.quota_rule, to->quota_rule, [&](uint32_t was, uint32_t is) {
    to->quotas[is].consumed.store(from.quotas[was].consumed.load(std::memory_order_relaxed),
                                  std::memory_order_relaxed);
  });
}

result<ruleset_summary> load_ruleset_file(gateway& gw, const std::string& path) {
  std::lock_guard load(g_load_mu);
  {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    if (in && !text.str().empty()) {
      if (auto done = update_elements(gw, text.str(), path, nullptr)) return std::move(*done);
    }
  }
  const nft::ruleset base = current_ast(gw);
  result<nft::ruleset> ast = nft::parse_file(path, limits_of(gw.cfg.ruleset_limits), &base);
  if (!ast) return std::move(ast).error();
  return install(gw, *ast, path);
}

result<ruleset_summary> load_ruleset_text(gateway& gw, const std::string& text,
                                          const std::string& name) {
  std::lock_guard load(g_load_mu);
  if (auto done = update_elements(gw, text, name, &text)) return std::move(*done);
  const nft::ruleset base = current_ast(gw);
  result<nft::ruleset> ast = nft::parse_string(text, name, limits_of(gw.cfg.ruleset_limits), &base);
  if (!ast) return std::move(ast).error();
  return install(gw, *ast, name, &gateway::ruleset, &text);
}

std::string config_ruleset_path(const gateway_config& cfg) {
  std::string path = cfg.ruleset;
  const auto slash = cfg.source_file.rfind('/');
  if (!path.empty() && path[0] != '/' && slash != std::string::npos)
    path = cfg.source_file.substr(0, slash + 1) + path;
  return path;
}

result<ruleset_summary> reload_ruleset(gateway& gw) {
  const std::string path = config_ruleset_path(gw.cfg);
  if (path.empty())
    return error{.file = gw.cfg.source_file,
                 .message = "the config names no ruleset (ruleset:): nothing to reload"};
  if (path.find('"') != std::string::npos)
    return error{.file = path, .message = "a ruleset path with '\"' cannot be included"};
  return load_ruleset_text(gw, "flush ruleset\ninclude \"" + path + "\"\n", "reload");
}

result<ruleset_summary> check_ruleset_file(const std::string& path, const gateway_config* cfg) {
  result<nft::ruleset> ast = nft::parse_file(
      path, limits_of(cfg != nullptr ? cfg->ruleset_limits : ruleset_limits_config{}));
  if (!ast) return std::move(ast).error();
  std::vector<std::string> names;
  std::vector<nft::bridge_members> bridges;
  if (cfg != nullptr) {
    for (const port_config& p : cfg->ports) names.push_back(p.name);
    for (const bridge_config& b : cfg->bridges) {
      nft::bridge_members m{b.name, {}};
      for (const bridge_port_config& bp : b.ports)
        m.ports.push_back(static_cast<uint16_t>(port_index(*cfg, bp.port)));
      bridges.push_back(std::move(m));
    }
  } else {
    // Without a config, any interface name the ruleset uses is a port, and any name `meta
    // ibrname` or `obrname` compares with is a bridge (of no ports).
    for (const auto& t : ast->tables)
      for (const auto& c : t.chains)
        for (const auto& r : c.rules)
          for (const auto& m : r.matches) {
            std::vector<std::string> strs = m.rhs.strs;
            if (!m.rhs.str.empty()) strs.push_back(m.rhs.str);
            names.insert(names.end(), strs.begin(), strs.end());
            if (m.f == nft::field::meta_ibrname || m.f == nft::field::meta_obrname)
              for (const std::string& s : strs) bridges.push_back({s, {}});
          }
  }
  auto rs = nft::compile(*ast, path, names, 1, bridges);
  if (!rs) return quote_compile_error(std::move(rs).error(), nullptr);
  ruleset_summary res;
  res.tables = (*rs)->ast.tables.size();
  res.chains = (*rs)->chains.size();
  res.rules = (*rs)->rules.size();
  return res;
}

result<ruleset_summary> trace_start(gateway& gw, const std::string& expr) {
  // The selector runs first on both entry hooks; INT_MIN is below raw.
  std::string body = expr + (expr.empty() ? "" : " ") + "meta nftrace set 1";
  std::string text =
      "table ip ctgate_trace {\n"
      "  chain trace_prerouting { type filter hook prerouting priority -2147483648; " +
      body +
      "; }\n"
      "  chain trace_output { type filter hook output priority -2147483648; " +
      body + "; }\n}\n";
  result<nft::ruleset> ast = nft::parse_string(text, "trace");
  // The selector's text is ours: only the user's part of the message helps.
  if (!ast) return error{.message = "trace expression: " + ast.error().message};
  return install(gw, *ast, "trace", &gateway::trace_ruleset);
}

void trace_stop(gateway& gw) {
  lock_guard lock(gw.ruleset_mu);
  if (!gw.trace_ruleset) return;
  uint32_t group = gw.trace_ruleset->group;
  (void)gw.hooks->edit([&](hook_registry::editor& ed) -> result<void> {
    ed.remove_group(group);
    return {};
  });
  gw.trace_ruleset.reset();
  update_tracing(gw);
}

namespace {

const char* verdict_name(uint8_t v) {
  switch (static_cast<verdict>(v)) {
    case verdict::accept: return "accept";
    case verdict::drop: return "drop";
    default: return "stolen";
  }
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "ipv6-icmp";
    default: return std::to_string(p);
  }
}

std::string packet_text(const gateway& gw, const trace_record& r) {
  char buf[64];
  // No input port (what a bridge interface sends, at the bridge's output): no iif, as nft's
  // trace of a locally sent packet.
  std::string s = r.in_port == k_out_port_flood
                      ? std::string("packet:")
                      : "packet: iif \"" +
                            (r.in_port < gw.ports.size() ? gw.ports[r.in_port].name : "?") + "\"";
  if (r.v6) {
    ipv6_addr src, dst;
    std::memcpy(src.b, r.src6, 16);
    std::memcpy(dst.b, r.dst6, 16);
    s += " ip6 saddr " + format_ipv6(src) + " ip6 daddr " + format_ipv6(dst);
    s += " ip6 nexthdr " + proto_name(r.proto);
  } else {
    s += " ip saddr " + format_ipv4(ntohl(r.src)) + " ip daddr " + format_ipv4(ntohl(r.dst));
    s += " ip protocol " + proto_name(r.proto);
  }
  if (r.proto == 6 || r.proto == 17) {
    std::string l4 = proto_name(r.proto);
    s += " " + l4 + " sport " + std::to_string(ntohs(r.sport)) + " " + l4 + " dport " +
         std::to_string(ntohs(r.dport));
  }
  if (r.proto == 6) {
    std::snprintf(buf, sizeof(buf), " tcp flags == 0x%02x", r.tcp_flags);
    s += buf;
  }
  return s;
}

// "ip TABLE CHAIN" and the rule text, from whichever loaded ruleset the
// record's generation belongs to.
std::string chain_text(gateway& gw, const trace_record& r, std::string* rule_text)
    CTGATE_REQUIRES(gw.ruleset_mu) {
  for (auto* lr : {gw.ruleset.get(), gw.trace_ruleset.get()}) {
    if (lr == nullptr || lr->group != r.group) continue;
    const nft::compiled_ruleset& rs = *lr->rs;
    const nft::cchain& c = rs.chains[r.chain];
    const nft::table& t = rs.ast.tables[c.table];
    if (rule_text != nullptr && r.rule < rs.rules.size()) {
      const nft::crule& cr = rs.rules[r.rule];
      const nft::rule& ru = rs.ast.tables[cr.table].chains[cr.chain].rules[cr.index];
      *rule_text = nft::format_rule(ru);
    }
    return std::string(nft::detail::family_name(t.fam)) + " " + t.name + " " + c.name;
  }
  return "(a replaced ruleset)";
}

}  // namespace

std::string trace_read(gateway& gw, size_t* packets) {
  std::string out;
  char id[32];
  *packets = 0;
  lock_guard lock(gw.ruleset_mu);
  for (auto* w : gw.workers) {
    trace_record r;
    for (int i = 0; i < 4096 && w->traces->pop(&r); i++) {
      std::snprintf(id, sizeof(id), "trace id %08x ", r.id);
      std::string rule;
      // The selector chain that marked the packet is not part of its path.
      bool selector = gw.trace_ruleset && r.group == gw.trace_ruleset->group;
      if (selector && (r.kind == trace_kind::rule || r.kind == trace_kind::policy)) continue;
      switch (r.kind) {
        case trace_kind::packet:
          (*packets)++;
          out += id + packet_text(gw, r) + "\n";
          break;
        case trace_kind::hook:
          // nft chains report their own rule/policy lines; list the rest.
          if (std::strncmp(r.name, "nft ", 4) == 0) break;
          out += std::string(id) + hook_point_name(static_cast<hook_point>(r.hook)) + " " + r.name +
                 " verdict " + verdict_name(r.verdict) + "\n";
          break;
        case trace_kind::rule: {
          std::string where = chain_text(gw, r, &rule);
          out += id + where + " rule " + rule + " (verdict " + verdict_name(r.verdict) + ")\n";
          break;
        }
        case trace_kind::policy:
          out += id + chain_text(gw, r, nullptr) + " policy " + verdict_name(r.verdict) + "\n";
          break;
      }
    }
  }
  return out;
}

std::vector<std::string> ruleset_ordering_warnings(gateway& gw) {
  std::vector<std::string> w;
  lock_guard lock(gw.ruleset_mu);
  if (gw.ruleset) warn_ordering(gw, *gw.ruleset, &w);
  return w;
}

namespace {

class live_counters : public nft::counter_lookup {
 public:
  live_counters(const nft::compiled_ruleset& rs, uint32_t now_ms) : rs_(rs), now_ms_(now_ms) {}
  std::optional<nft::counter_value> get(size_t t, size_t c, size_t r) const override {
    for (uint32_t i = 0; i < rs_.counter_rule.size(); i++) {
      const auto& cr = rs_.counter_rule[i];
      if (cr.table == t && cr.chain == c && cr.index == r) return rs_.counter_total(i);
    }
    return std::nullopt;
  }
  std::optional<nft::counter_value> object_counter(size_t t, size_t o) const override {
    return get(t, nft::k_none, o);
  }
  std::optional<uint64_t> object_quota_used(size_t t, size_t o) const override {
    return quota_used(t, nft::k_none, o);
  }
  std::optional<uint64_t> quota_used(size_t t, size_t c, size_t r) const override {
    for (uint32_t i = 0; i < rs_.quota_rule.size(); i++) {
      const auto& qr = rs_.quota_rule[i];
      if (qr.table == t && qr.chain == c && qr.index == r)
        return rs_.quotas[i].consumed.load(std::memory_order_relaxed);
    }
    return std::nullopt;
  }
  std::optional<std::vector<std::string>> set_elements(size_t t, size_t s) const override {
    for (uint32_t i = 0; i < rs_.live_sets.size(); i++)
      if (rs_.live_sets[i].ast_table == t && rs_.live_sets[i].ast_set == s)
        return nft::live_elements_text(rs_, i, now_ms_);
    return std::nullopt;
  }

 private:
  const nft::compiled_ruleset& rs_;
  uint32_t now_ms_ = 0;
};

}  // namespace

std::string list_limits(gateway& gw) {
  lock_guard lock(gw.ruleset_mu);
  if (!gw.ruleset) return "";
  const nft::compiled_ruleset& rs = *gw.ruleset->rs;
  std::string out;
  for (uint32_t i = 0; i < rs.limit_rule.size(); i++) {
    uint64_t within = 0, over = 0;
    for (uint16_t wk = 0; wk < rs.n_workers; wk++) {
      within += rs.limit_counters[wk * rs.limit_rule.size() + i].within.get();
      over += rs.limit_counters[wk * rs.limit_rule.size() + i].over.get();
    }
    const nft::crule& cr = rs.limit_rule[i];
    const nft::table& t = rs.ast.tables[cr.table];
    const std::string counts =
        "  within=" + std::to_string(within) + " over=" + std::to_string(over) + "\n";
    if (cr.chain == nft::k_none) {  // a named limit: within and over of every rule naming it
      const nft::object& ob = t.objects[cr.index];
      out += t.name + " limit " + ob.name + ": " + nft::format_statement(ob.spec) + counts;
      continue;
    }
    const nft::chain& c = t.chains[cr.chain];
    out += t.name + " " + c.name + ": " + nft::format_rule(c.rules[cr.index]) + counts;
  }
  return out;
}

uint32_t sweep_live_sets(gateway& gw, uint32_t now_ms) {
  lock_guard lock(gw.ruleset_mu);
  if (!gw.ruleset) return 0;
  uint32_t freed = 0;
  for (const nft::live_set& ls : gw.ruleset->rs->live_sets) freed += ls.table->sweep(now_ms);
  return freed;
}

namespace {

// live_counters, with the values some named objects had when they were reset.
class reset_view : public live_counters {
 public:
  using live_counters::live_counters;
  std::map<size_t, nft::counter_value> counters;  // table << 32 | object
  std::map<size_t, uint64_t> quotas;
  std::optional<nft::counter_value> object_counter(size_t t, size_t o) const override {
    if (auto it = counters.find(t << 32 | o); it != counters.end()) return it->second;
    return live_counters::object_counter(t, o);
  }
  std::optional<uint64_t> object_quota_used(size_t t, size_t o) const override {
    if (auto it = quotas.find(t << 32 | o); it != quotas.end()) return it->second;
    return live_counters::object_quota_used(t, o);
  }
};

}  // namespace

std::string reset_objects(gateway& gw, const std::string& kind, const std::string& family,
                          const std::string& table_name, const std::string& name) {
  lock_guard lock(gw.ruleset_mu);
  if (!gw.ruleset) return "";
  nft::compiled_ruleset& rs = *gw.ruleset->rs;
  const nft::obj_kind want = kind == "quota" ? nft::obj_kind::quota : nft::obj_kind::counter;
  auto selected = [&](size_t t, size_t o) {
    const nft::table& tb = rs.ast.tables[t];
    if (!table_name.empty() &&
        (nft::detail::family_name(tb.fam) != family || tb.name != table_name))
      return false;
    const nft::object& ob = tb.objects[o];
    return ob.kind == want && (name.empty() || ob.name == name);
  };
  reset_view view(rs, gw.clock.now_ms());
  if (want == nft::obj_kind::counter) {
    for (uint32_t i = 0; i < rs.counter_rule.size(); i++) {
      const auto& cr = rs.counter_rule[i];
      if (cr.chain != nft::k_none || !selected(cr.table, cr.index)) continue;
      const nft::counter_value v = rs.counter_total(i);
      view.counters[size_t{cr.table} << 32 | cr.index] = v;
      rs.counter_base[i].packets -= v.packets;
      rs.counter_base[i].bytes -= v.bytes;
    }
  } else {
    for (uint32_t i = 0; i < rs.quota_rule.size(); i++) {
      const auto& qr = rs.quota_rule[i];
      if (qr.chain != nft::k_none || !selected(qr.table, qr.index)) continue;
      view.quotas[size_t{qr.table} << 32 | qr.index] =
          rs.quotas[i].consumed.exchange(0, std::memory_order_relaxed);
    }
  }
  return nft::format(rs.ast, &view, false);
}

std::string list_ruleset(gateway& gw, bool handles) {
  lock_guard lock(gw.ruleset_mu);
  if (!gw.ruleset) return "";
  live_counters lc(*gw.ruleset->rs, gw.clock.now_ms());
  return nft::format(gw.ruleset->rs->ast, &lc, handles);
}

}  // namespace ctgate
