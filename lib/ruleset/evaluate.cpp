// Evaluation: the semantic checks of the nftables subset. See evaluate.h.
#include "ruleset/evaluate.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "ruleset/fields.h"

namespace ctgate::nft::detail {
namespace {

// auto-merge: overlapping and adjacent intervals become one, as nft lists them.
void merge_elements(set& st) {
  std::vector<value_range> v = st.elems;
  std::sort(v.begin(), v.end(),
            [](const value_range& a, const value_range& b) { return a.lo < b.lo; });
  std::vector<value_range> out;
  for (const value_range& r : v) {
    if (!out.empty() && r.lo <= out.back().hi + 1)
      out.back().hi = std::max(out.back().hi, r.hi);
    else
      out.push_back(r);
  }
  st.elems = out;
  st.elem_text.clear();
  for (const value_range& r : out) {
    std::string text;
    if (st.type == "ipv4_addr") {
      const int plen =
          detail::prefix_length(static_cast<uint32_t>(r.lo), static_cast<uint32_t>(r.hi));
      text = detail::ipv4_to_string(static_cast<uint32_t>(r.lo));
      if (plen >= 0 && plen < 32)
        text += "/" + std::to_string(plen);
      else if (plen < 0)
        text += "-" + detail::ipv4_to_string(static_cast<uint32_t>(r.hi));
    } else if (st.type == "ipv6_addr") {
      const int plen = detail::prefix_length6(r.lo, r.hi);
      text = detail::ipv6_to_string(r.lo);
      if (plen >= 0 && plen < 128)
        text += "/" + std::to_string(plen);
      else if (plen < 0)
        text += "-" + detail::ipv6_to_string(r.hi);
    } else if (st.type == "ether_addr") {
      text = detail::ether_to_string(static_cast<uint64_t>(r.lo));
      if (r.hi != r.lo) text += "-" + detail::ether_to_string(static_cast<uint64_t>(r.hi));
    } else {
      text = std::to_string(static_cast<uint64_t>(r.lo));
      if (r.hi != r.lo) text += "-" + std::to_string(static_cast<uint64_t>(r.hi));
    }
    st.elem_text.push_back(text);
  }
}

// The references of a whole ruleset, checked once it is read.
class reference_check {
 public:
  reference_check(const ruleset& rs, const std::vector<table_info>& info,
                  const std::vector<jump_ref>& jumps, const std::vector<set_use>& set_uses,
                  const std::vector<reject_use>& rejects, const std::vector<nat_use>& nats)
      : rs_(rs), info_(info), jumps_(jumps), set_uses_(set_uses), rejects_(rejects), nats_(nats) {}

  void check_references() {
    for (const set_use& u : set_uses_) {
      const table_info& info = info_[u.table];
      if (info.deleted) continue;
      auto found = info.sets.find(u.name);
      if (found == info.sets.end())
        fail(u.at, "set '" + u.name + "' does not exist in " + table_title(rs_, u.table));
      const set& st = rs_.tables[u.table].sets[found->second];
      if (st.data_type != u.data_type)
        fail(u.at,
             (st.data_type.empty() ? "set '" : "map '") + u.name + "' " +
                 (u.data_type.empty()    ? std::string("is a map: match against a set")
                  : st.data_type.empty() ? "is a set: " + u.data_type + " maps need a map"
                                         : "maps to " + st.data_type + ", not " + u.data_type));
      const std::string want = set_type_for_key(u.f, u.concat);
      if (want.empty() || st.type != want) {
        std::string key = detail::field_name(u.f);
        for (field g : u.concat) key += std::string(" . ") + detail::field_name(g);
        fail(u.at, "datatype mismatch: '" + key + "' expects " +
                       (want.empty() ? "no named set" : want) + ", set '" + u.name + "' has type " +
                       st.type);
      }
      if (u.kind != set_use_kind::lookup && st.interval)
        fail(u.at, "not supported: adding to or deleting from set '" + u.name +
                       "' from a rule: it has flags interval");
      if (u.ct_count && (st.timeout_flag || st.timeout_ms != 0))
        fail(u.at, "set '" + u.name +
                       "' has timeouts: its elements cannot keep a ct count (nft: Operation not "
                       "supported)");
      if (u.timeout && !st.timeout_flag && st.timeout_ms == 0)
        fail(u.at, "set '" + u.name +
                       "' has no timeouts: declare it with flags timeout to give its elements "
                       "one (nft: Operation not supported)");
    }
    // Resolve jumps into an adjacency list per table.
    std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>> edges(info_.size());
    for (size_t ti = 0; ti < info_.size(); ++ti) edges[ti].resize(rs_.tables[ti].chains.size());
    for (const jump_ref& j : jumps_) {
      if (info_[j.table].deleted) continue;
      auto found = info_[j.table].chains.find(j.target);
      const char* verb = j.is_goto ? "goto" : "jump";
      if (found == info_[j.table].chains.end())
        fail(j.at, std::string(verb) + " to undefined chain '" + j.target + "' in " +
                       table_title(rs_, j.table));
      if (rs_.tables[j.table].chains[found->second].base)
        fail(j.at, std::string("cannot ") + verb + " to base chain '" + j.target + "'");
      // A named map's jumps have no chain of their own (loops through them are not
      // looked for; the data plane's jump stack is bounded).
      if (j.chain != SIZE_MAX) edges[j.table][j.chain].push_back({found->second, &j});
    }
    for (size_t ti = 0; ti < edges.size(); ++ti) check_loops(ti, edges[ti]);
    check_reject_hooks(edges);
    check_nat_hooks(edges);
  }

 private:
  // nft refuses jump loops (ELOOP). Iterative depth-first search over one table's chains.
  void check_loops(size_t ti,
                   const std::vector<std::vector<std::pair<size_t, const jump_ref*>>>& g) {
    const auto& chains = rs_.tables[ti].chains;
    std::vector<uint8_t> color(g.size(), 0);  // 0 new, 1 on the path, 2 done
    for (size_t root = 0; root < g.size(); ++root) {
      if (color[root]) continue;
      std::vector<std::pair<size_t, size_t>> path{{root, 0}};  // chain, next edge
      color[root] = 1;
      while (!path.empty()) {
        auto& [node, next] = path.back();
        if (next == g[node].size()) {
          color[node] = 2;
          path.pop_back();
          continue;
        }
        const auto [to, ref] = g[node][next++];
        if (color[to] == 1) {
          std::string cycle;
          bool on = false;
          // Report at a jump of this file: the ruleset it was applied to had no loop, so
          // one of the cycle's edges is new.
          const jump_ref* culprit = ref;
          for (const auto& [n, e] : path) {
            on = on || n == to;
            if (on) cycle += chains[n].name + " -> ";
            if (on && culprit->base && e > 0 && !g[n][e - 1].second->base)
              culprit = g[n][e - 1].second;
          }
          fail(culprit->at, "jump loop: " + cycle + chains[to].name);
        }
        if (color[to] == 0) {
          color[to] = 1;
          path.push_back({to, 0});
        }
      }
    }
  }

  // For each chain, a base chain at one of `hooks` that reaches it (directly or through
  // jumps), if any.
  std::vector<std::vector<std::optional<size_t>>> reached_from(
      const std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>>& edges,
      std::initializer_list<hook> hooks) {
    std::vector<std::vector<std::optional<size_t>>> from(rs_.tables.size());
    for (size_t ti = 0; ti < rs_.tables.size(); ++ti) {
      const auto& chains = rs_.tables[ti].chains;
      from[ti].resize(chains.size());
      if (info_[ti].deleted) continue;
      for (size_t base = 0; base < chains.size(); ++base) {
        if (info_[ti].chain_deleted[base] || !chains[base].base ||
            std::find(hooks.begin(), hooks.end(), chains[base].hook) == hooks.end())
          continue;
        std::vector<size_t> todo{base};
        from[ti][base] = base;
        while (!todo.empty()) {
          const size_t c = todo.back();
          todo.pop_back();
          for (const auto& [to, ref] : edges[ti][c])
            if (!from[ti][to]) {
              from[ti][to] = base;
              todo.push_back(to);
            }
        }
      }
    }
    return from;
  }

  // The kernel refuses reject in chains that run at postrouting, and `rt mtu` (which needs the
  // packet's route) in chains that run at prerouting or input: look at each such statement in
  // source order against the base chains that reach its chain.
  void check_reject_hooks(
      const std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>>& edges) {
    const auto from_post = reached_from(edges, {hook::postrouting});
    const auto from_in = reached_from(edges, {hook::prerouting, hook::input});
    // nft_synproxy_validate: local in and forward only.
    const auto from_not_in_fwd =
        reached_from(edges, {hook::prerouting, hook::output, hook::postrouting});
    for (const reject_use& r : rejects_) {
      if (info_[r.table].deleted) continue;
      const auto& from = r.synproxy ? from_not_in_fwd : r.rt_mtu ? from_in : from_post;
      const std::optional<size_t> base = from[r.table][r.chain];
      if (!base) continue;
      // A statement loaded before was fine then: a jump of this file made it reachable.
      pos at = r.at;
      if (r.base)
        for (const jump_ref& j : jumps_)
          if (!j.base && j.table == r.table && from[j.table][j.chain]) at = j.at;
      const chain& bc = rs_.tables[r.table].chains[*base];
      if (r.synproxy)
        fail(at, std::string("synproxy is only allowed in the input and forward hooks (base "
                             "chain '") +
                     bc.name + "' is at " + hook_name(bc.hook) +
                     "; nft: Could not process rule: Operation not supported)");
      if (r.rt_mtu)
        fail(at, std::string("rt mtu needs the packet's route: not available at the ") +
                     hook_name(bc.hook) + " hook (base chain '" + bc.name +
                     "'; nft: Could not process rule: Operation not supported)");
      fail(at, "reject is not allowed in the postrouting hook (base chain '" + bc.name + "')");
    }
  }

  // The kernel takes NAT statements only in chains of type nat, snat and masquerade at
  // postrouting and input, dnat and redirect at prerouting and output (nft_nat_validate):
  // each statement is checked against every base chain that reaches its chain.
  void check_nat_hooks(
      const std::vector<std::vector<std::vector<std::pair<size_t, const jump_ref*>>>>& edges) {
    for (const nat_use& n : nats_) {
      if (info_[n.table].deleted) continue;
      const auto& chains = rs_.tables[n.table].chains;
      // nft_nat_validate, nft_masq_validate, nft_redir_validate.
      const char* allowed = n.kind == nat_kind::snat         ? "postrouting and input"
                            : n.kind == nat_kind::masquerade ? "postrouting"
                                                             : "prerouting and output";
      for (size_t b = 0; b < chains.size(); ++b) {
        const chain& bc = chains[b];
        if (info_[n.table].chain_deleted[b] || !bc.base) continue;
        if (b != n.chain && !reaches(edges[n.table], b, n.chain)) continue;
        pos at = n.at;
        if (n.base)
          for (const jump_ref& j : jumps_)
            if (!j.base && j.table == n.table) at = j.at;
        const char* what = nat_kind_name(n.kind);
        const std::string nft = "; nft: Could not process rule: Operation not supported)";
        if (bc.type != "nat")
          fail(at, std::string(what) + " is only valid in chains of type nat (base chain '" +
                       bc.name + "' is type " + bc.type + nft);
        const bool ok = n.kind == nat_kind::snat
                            ? bc.hook == hook::postrouting || bc.hook == hook::input
                        : n.kind == nat_kind::masquerade
                            ? bc.hook == hook::postrouting
                            : bc.hook == hook::prerouting || bc.hook == hook::output;
        if (!ok)
          fail(at, std::string(what) + " is not allowed in the " + hook_name(bc.hook) +
                       " hook (base chain '" + bc.name + "'; " + what + " runs at " + allowed +
                       nft);
      }
    }
  }

  // Whether chain `from` reaches chain `to` through jumps and gotos.
  static bool reaches(const std::vector<std::vector<std::pair<size_t, const jump_ref*>>>& g,
                      size_t from, size_t to) {
    std::vector<bool> seen(g.size(), false);
    std::vector<size_t> todo{from};
    seen[from] = true;
    while (!todo.empty()) {
      const size_t c = todo.back();
      todo.pop_back();
      for (const auto& [next, ref] : g[c]) {
        if (next == to) return true;
        if (!seen[next]) {
          seen[next] = true;
          todo.push_back(next);
        }
      }
    }
    return false;
  }

  const ruleset& rs_;
  const std::vector<table_info>& info_;
  const std::vector<jump_ref>& jumps_;
  const std::vector<set_use>& set_uses_;
  const std::vector<reject_use>& rejects_;
  const std::vector<nat_use>& nats_;
};

// An element added again to a set changes nothing; to a map, it must map to the same thing
// as element i, which has its key.
void check_added_again(const set& st, size_t i, const elem_syntax& e) {
  if (st.data_type.empty()) return;
  const map_data& had = st.data[i];
  if (had.verdict != e.data.verdict || had.target != e.data.target || had.value != e.data.value)
    fail(e.at, "element " + e.text + " already exists in map '" + st.name +
                   "' with other data (nft: File exists)");
}

// A concatenation's elements: an element whose every part equals one already there is a
// duplicate (a map's must map to the same thing). Intervals may overlap, as in nft's pipapo
// sets; a lookup takes the first element, in the order added, that holds the key.
void add_concat_elements(set& st, const std::vector<elem_syntax>& elems) {
  const size_t w = st.width();
  const bool is_map = !st.data_type.empty();
  std::map<std::vector<value_range>, size_t> present;
  for (size_t i = 0; i < st.size(); ++i)
    present.emplace(std::vector<value_range>(st.elems.begin() + static_cast<ptrdiff_t>(i * w),
                                             st.elems.begin() + static_cast<ptrdiff_t>(i * w + w)),
                    i);
  for (const elem_syntax& e : elems) {
    auto [it, fresh] = present.emplace(e.parts, st.size());
    if (!fresh) {
      check_added_again(st, it->second, e);
      continue;
    }
    st.elems.insert(st.elems.end(), e.parts.begin(), e.parts.end());
    st.elem_text.push_back(e.text);
    if (is_map) st.data.push_back(e.data);
  }
}

}  // namespace

std::string table_title(const ruleset& rs, size_t ti) {
  const table& tb = rs.tables[ti];
  return std::string("table ") + detail::family_name(tb.fam) + " " + tb.name;
}

void check_interval_flag(const set& st, const std::vector<elem_syntax>& elems) {
  for (const elem_syntax& e : elems) {
    if (!st.interval && (e.prefix || e.range))
      fail(e.at, std::string("You must add 'flags interval' to your set declaration if you "
                             "want to add ") +
                     (e.prefix ? "prefix" : "range") + " elements");
  }
}

void add_elements(set& st, bool auto_merge, const std::vector<elem_syntax>& elems) {
  check_interval_flag(st, elems);
  if (st.width() > 1) return add_concat_elements(st, elems);
  const size_t old = st.elems.size();
  const bool is_map = !st.data_type.empty();
  std::unordered_map<uint64_t, size_t> present;
  if (!st.interval)
    for (size_t i = 0; i < st.elems.size(); ++i) present.emplace(st.elems[i].lo, i);
  for (const elem_syntax& e : elems) {
    // A plain set holds a value once; adding it again changes nothing, as in nft. A map's
    // key added again must map to the same thing.
    if (!st.interval) {
      auto [it, fresh] = present.emplace(e.r.lo, st.elems.size());
      if (!fresh) {
        check_added_again(st, it->second, e);
        continue;
      }
    }
    st.elems.push_back(e.r);
    st.elem_text.push_back(e.text);
    if (is_map) st.data.push_back(e.data);
  }
  if (auto_merge) {
    merge_elements(st);
    return;
  }
  if (!st.interval || elems.empty()) return;
  // nft refuses overlapping intervals in a named set unless it has auto-merge.
  std::vector<std::pair<value_range, size_t>> sorted;
  for (size_t i = 0; i < st.elems.size(); ++i) sorted.push_back({st.elems[i], i});
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.first.lo != b.first.lo ? a.first.lo < b.first.lo : a.second < b.second;
  });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].first.lo > sorted[i - 1].first.hi) continue;
    // Old elements never overlap each other, so the later one is new.
    const size_t later = std::max(sorted[i].second, sorted[i - 1].second);
    fail(elems[later >= old ? later - old : 0].at, "conflicting intervals specified");
  }
}

// nft infers the transport protocol from the matches and refuses contradictions.
void track_l4(const match& mt, const pos& at, uint8_t& l4) {
  for (field g : mt.concat) {
    const uint8_t q = l4_proto_of(g);
    if (q == 0) continue;
    if (l4 != 0 && l4 != q)
      fail(at, "conflicting protocols specified: " + proto_text(l4) + " vs. " + proto_text(q));
    l4 = q;
  }
  uint8_t p = l4_proto_of(mt.f);
  if ((mt.f == field::ip_protocol || mt.f == field::meta_l4proto) && mt.concat.empty() &&
      mt.op == cmp_op::eq && mt.rhs.elems.size() == 1 && mt.rhs.elems[0].lo == mt.rhs.elems[0].hi)
    p = static_cast<uint8_t>(mt.rhs.elems[0].lo);
  if (p == 0) return;
  if (l4 != 0 && l4 != p)
    fail(at, "conflicting protocols specified: " + proto_text(l4) + " vs. " + proto_text(p));
  l4 = p;
}

// `reject with tcp reset` only applies to TCP: nft puts `meta l4proto tcp` in front of a
// rule that does not already match TCP, so that other packets skip the rule.
void add_reject_dependency(rule& rl, uint8_t l4, const pos& at, const location& loc) {
  if (l4 == 6) return;
  if (l4 != 0) fail(at, "you cannot use tcp reset with this protocol");
  match dep;
  dep.f = field::meta_l4proto;
  dep.op = cmp_op::eq;
  dep.rhs.elems.push_back({6, 6});
  dep.rhs.text = "tcp";
  dep.loc = loc;
  rl.matches.insert(rl.matches.begin(), std::move(dep));
}

void check_references(const ruleset& rs, const std::vector<table_info>& info,
                      const std::vector<jump_ref>& jumps, const std::vector<set_use>& set_uses,
                      const std::vector<reject_use>& rejects, const std::vector<nat_use>& nats) {
  reference_check(rs, info, jumps, set_uses, rejects, nats).check_references();
}

}  // namespace ctgate::nft::detail
