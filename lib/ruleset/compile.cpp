// The last stage of the front end (nft's netlink side): an evaluated ruleset (ast.h, from
// parse_file/parse_string) becomes the flat arrays of compiled.h that the data plane walks:
// sets as sorted range arrays, chains and rules by index, jumps resolved, counters, limiters
// and meters allocated per worker, runs of exact-match rules indexed. See compiled.h.
#include <algorithm>
#include <map>

#include "ruleset/compiled.h"

namespace ctgate::nft {

range_set::range_set(std::vector<value_range> r) {
  std::sort(r.begin(), r.end(),
            [](const value_range& a, const value_range& b) { return a.lo < b.lo; });
  for (const auto& x : r) {
    if (!lo_.empty() && x.lo <= hi_.back() + 1) {
      hi_.back() = std::max(hi_.back(), x.hi);
    } else {
      lo_.push_back(x.lo);
      hi_.push_back(x.hi);
    }
  }
}

bool range_set::contains(uint64_t v) const {
  // The last range starting at or below v is the only candidate.
  const size_t i = last_at_or_below(lo_, v);
  return i < lo_.size() && v <= hi_[i];
}

bool limiter::conforming(uint64_t now_ns) {
  uint64_t tat = tat_ns.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 8; tries++) {
    uint64_t base = tat > now_ns ? tat : now_ns;
    if (base - now_ns > tolerance_ns) return false;
    if (tat_ns.compare_exchange_weak(tat, base + interval_ns, std::memory_order_relaxed))
      return true;
  }
  return false;  // heavy contention: count it as over the rate
}

uint32_t rule_run::next_candidate(uint64_t v, uint32_t from) const {
  auto k = std::lower_bound(keys.begin(), keys.end(), v);
  if (k == keys.end() || *k != v) return end;
  size_t i = static_cast<size_t>(k - keys.begin());
  auto b = rules_by_key.begin() + list_off[i], e = rules_by_key.begin() + list_off[i + 1];
  auto r = std::lower_bound(b, e, from);
  return r == e ? end : *r;
}

namespace {

// One GCRA step on an atomic theoretical-arrival-time word.
bool gcra(std::atomic<uint64_t>& tat_ns, uint64_t now_ns, uint64_t interval, uint64_t tolerance) {
  uint64_t tat = tat_ns.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 8; tries++) {
    uint64_t base = tat > now_ns ? tat : now_ns;
    if (base - now_ns > tolerance) return false;
    if (tat_ns.compare_exchange_weak(tat, base + interval, std::memory_order_relaxed)) return true;
  }
  return false;
}

uint32_t mix32(uint32_t x, uint32_t seed) {  // murmur3 finalizer: cheap, well spread
  x ^= seed;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

}  // namespace

bool meter_state::conforming(uint32_t key_value, uint64_t now_ns) {
  std::atomic<uint64_t>& a = cells[mix32(key_value, 0x9e3779b9u) & (k_cells - 1)];
  std::atomic<uint64_t>& b = cells[k_cells + (mix32(key_value, 0x7f4a7c15u) & (k_cells - 1))];
  bool ok_a = gcra(a, now_ns, interval_ns, tolerance_ns);
  bool ok_b = gcra(b, now_ns, interval_ns, tolerance_ns);
  return ok_a || ok_b;
}

range_map::range_map(const std::vector<value_range>& keys, std::vector<entry> data) {
  std::vector<size_t> order(keys.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return keys[a].lo < keys[b].lo; });
  for (size_t i : order) {
    lo_.push_back(keys[i].lo);
    hi_.push_back(keys[i].hi);
    data_.push_back(data[i]);
  }
}

counter_value compiled_ruleset::counter_total(uint32_t i) const {
  counter_value v = counter_base[i];
  for (uint16_t w = 0; w < n_workers; w++) {
    v.packets += counters[w * n_counters + i].packets.get();
    v.bytes += counters[w * n_counters + i].bytes.get();
  }
  return v;
}

namespace {

constexpr uint32_t k_min_run = 4;  // shorter runs are cheaper to just try

// The values a rule's first match selects, if it is an exact `F == v` /
// `F == { v1, v2 }` match on plain values (no ranges, masks or named sets).
bool index_values(const compiled_ruleset& rs, const crule& r, field* f,
                  std::vector<uint64_t>* vals) {
  if (r.n_matches == 0) return false;
  const cmatch& m = rs.matches[r.first_match];
  if (m.op != cmp_op::eq) return false;
  vals->clear();
  if (m.set == k_none) {
    if (m.lo != m.hi) return false;
    vals->push_back(m.lo);
  } else {
    return false;  // sets already cost O(log n) inside the rule
  }
  *f = m.f;
  return true;
}

void build_runs(compiled_ruleset& rs) {
  for (const cchain& c : rs.chains) {
    uint32_t i = c.first_rule, end = c.first_rule + c.n_rules;
    while (i < end) {
      field f, g;
      std::vector<uint64_t> vals;
      if (!index_values(rs, rs.rules[i], &f, &vals)) {
        i++;
        continue;
      }
      uint32_t j = i + 1;
      while (j < end && index_values(rs, rs.rules[j], &g, &vals) && g == f) j++;
      if (j - i >= k_min_run) {
        rule_run run;
        run.f = f;
        run.first = i;
        run.end = j;
        std::vector<std::pair<uint64_t, uint32_t>> pairs;
        for (uint32_t k = i; k < j; k++) {
          index_values(rs, rs.rules[k], &g, &vals);
          for (uint64_t v : vals) pairs.emplace_back(v, k);
          rs.rules[k].run = static_cast<uint32_t>(rs.runs.size());
        }
        std::sort(pairs.begin(), pairs.end());
        for (size_t p = 0; p < pairs.size(); p++) {
          if (p == 0 || pairs[p].first != pairs[p - 1].first) {
            run.keys.push_back(pairs[p].first);
            run.list_off.push_back(static_cast<uint32_t>(run.rules_by_key.size()));
          }
          run.rules_by_key.push_back(pairs[p].second);
        }
        run.list_off.push_back(static_cast<uint32_t>(run.rules_by_key.size()));
        rs.runs.push_back(std::move(run));
      }
      i = j;
    }
  }
}

class compiler {
 public:
  compiler(const ruleset& rs, const std::vector<std::string>& ports, compiled_ruleset* out,
           error* err)
      : rs_(rs), ports_(ports), out_(out), err_(err) {}

  bool run() {
    for (uint32_t t = 0; t < rs_.tables.size(); t++) {
      const table& tb = rs_.tables[t];
      std::map<std::string, uint32_t> sets;
      for (const auto& s : tb.sets) {
        if (!s.data_type.empty()) continue;  // maps: once every chain has its index
        sets[s.name] = static_cast<uint32_t>(out_->sets.size());
        out_->sets.emplace_back(s.elems);
      }
      table_sets_.push_back(sets);
      for (uint32_t c = 0; c < tb.chains.size(); c++) {
        const chain& ch = tb.chains[c];
        chain_index_[{t, ch.name}] = static_cast<uint32_t>(out_->chains.size());
        cchain cc;
        cc.name = ch.name;
        cc.table = t;
        cc.ast_chain = c;
        cc.base = ch.base;
        cc.hook_point = ch.hook;
        cc.priority = ch.priority;
        cc.policy_drop = ch.policy_drop;
        out_->chains.push_back(cc);
      }
    }
    for (uint32_t t = 0; t < rs_.tables.size(); t++) {
      std::map<std::string, uint32_t> maps;
      for (const auto& s : rs_.tables[t].sets) {
        if (s.data_type.empty()) continue;
        maps[s.name] = static_cast<uint32_t>(out_->maps.size());
        if (!add_map(t, s.elems, s.data, s.loc)) return false;
      }
      table_maps_.push_back(maps);
    }
    // Rules after all chains exist, so jumps resolve forwards too.
    for (uint32_t t = 0; t < rs_.tables.size(); t++) {
      const table& tb = rs_.tables[t];
      for (uint32_t c = 0; c < tb.chains.size(); c++) {
        cchain& cc = out_->chains[chain_index_[{t, tb.chains[c].name}]];
        cc.first_rule = static_cast<uint32_t>(out_->rules.size());
        for (uint32_t r = 0; r < tb.chains[c].rules.size(); r++)
          if (!compile_rule(t, c, r)) return false;
        cc.n_rules = static_cast<uint32_t>(out_->rules.size()) - cc.first_rule;
      }
    }
    return true;
  }

 private:
  bool fail(const location& loc, const std::string& msg) {
    *err_ = error{.file = loc.file,
                  .line = loc.line,
                  .col = loc.col,
                  .len = loc.len,
                  .severity = "error",
                  .message = msg};
    return false;
  }

  bool compile_match(uint32_t t, const match& m, cmatch* out) {
    out->f = m.f;
    out->op = m.op;
    out->mask = m.rhs.mask;
    out->value = m.rhs.value;
    if (m.f == field::ct_state || m.f == field::ct_mark || m.f == field::ct_zone)
      out_->uses_ct = true;
    if (!m.rhs.str.empty()) {  // interface name
      auto it = std::find(ports_.begin(), ports_.end(), m.rhs.str);
      if (it == ports_.end())
        return fail(
            m.loc, "unknown interface '" + m.rhs.str + "' (ports are named in the gateway config)");
      out->lo = out->hi = static_cast<uint64_t>(it - ports_.begin());
      return true;
    }
    if (!m.rhs.set_name.empty()) {
      auto it = table_sets_[t].find(m.rhs.set_name);
      if (it == table_sets_[t].end())
        return fail(m.loc, "set '" + m.rhs.set_name + "' does not exist");
      out->set = it->second;
      return true;
    }
    if (m.rhs.elems.size() == 1) {
      out->lo = m.rhs.elems[0].lo;
      out->hi = m.rhs.elems[0].hi;
    } else if (!m.rhs.elems.empty()) {
      out->set = static_cast<uint32_t>(out_->sets.size());
      out_->sets.emplace_back(m.rhs.elems);
    }
    return true;
  }

  // A map's keys and data as the data plane looks them up; jump targets by chain index.
  bool add_map(uint32_t t, const std::vector<value_range>& keys, const std::vector<map_data>& data,
               const location& loc) {
    std::vector<range_map::entry> entries;
    for (const map_data& d : data) {
      range_map::entry e;
      e.verdict = d.verdict;
      e.value = d.value;
      if (!d.target.empty()) {
        auto it = chain_index_.find({t, d.target});
        if (it == chain_index_.end()) return fail(loc, "chain '" + d.target + "' does not exist");
        if (out_->chains[it->second].base)
          return fail(loc, "cannot jump to base chain '" + d.target + "'");
        e.target = it->second;
      }
      entries.push_back(e);
    }
    out_->maps.emplace_back(keys, std::move(entries));
    return true;
  }

  // vmap and `mark set FIELD [map ...]`: the field read, and the map looked up.
  bool compile_source(uint32_t t, const statement& s, cstmt* out) {
    out->has_from = true;
    out->from = *s.from;
    if (s.from == field::ct_mark || s.from == field::ct_state) out_->uses_ct = true;
    if (!s.map_name.empty()) {
      auto it = table_maps_[t].find(s.map_name);
      if (it == table_maps_[t].end()) return fail(s.loc, "map '" + s.map_name + "' does not exist");
      out->map = it->second;
    } else if (!s.map_keys.empty()) {
      out->map = static_cast<uint32_t>(out_->maps.size());
      if (!add_map(t, s.map_keys, s.map_values, s.loc)) return false;
    }
    return true;
  }

  bool compile_stmt(uint32_t t, const statement& s, cstmt* out) {
    out->kind = s.kind;
    out->value = s.value;
    out->reject = s.reject;
    if (s.from && !compile_source(t, s, out)) return false;
    switch (s.kind) {
      case stmt_kind::counter: out->counter = out_->n_counters++; break;
      case stmt_kind::jump:
      case stmt_kind::goto_: {
        auto it = chain_index_.find({t, s.target});
        if (it == chain_index_.end()) return fail(s.loc, "chain '" + s.target + "' does not exist");
        if (out_->chains[it->second].base)
          return fail(s.loc, "cannot jump to base chain '" + s.target + "'");
        out->target = it->second;
        break;
      }
      case stmt_kind::limit: {
        static constexpr uint64_t unit_ns[] = {1000000000ull, 60000000000ull, 3600000000000ull,
                                               86400000000000ull};
        if (s.rate == 0) return fail(s.loc, "limit rate must be positive");
        out->limit = out_->n_limiters++;
        // nft_limit's bucket holds rate + burst packets' worth of tokens.
        uint64_t burst = s.burst == 0 ? 5u : s.burst;
        limits_.push_back({unit_ns[static_cast<int>(s.unit)] / s.rate, s.rate + burst - 1, s.over});
        break;
      }
      case stmt_kind::meter: {
        static constexpr uint64_t unit_ns[] = {1000000000ull, 60000000000ull, 3600000000000ull,
                                               86400000000000ull};
        if (s.rate == 0) return fail(s.loc, "meter rate must be positive");
        auto m = std::make_unique<meter_state>();
        m->key = s.meter_key;
        m->interval_ns = unit_ns[static_cast<int>(s.unit)] / s.rate;
        m->tolerance_ns = m->interval_ns * (s.rate + (s.burst == 0 ? 5u : s.burst) - 1);
        m->over = s.over;
        m->cells = std::make_unique<std::atomic<uint64_t>[]>(2 * meter_state::k_cells);
        out->meter = static_cast<uint32_t>(out_->meters.size());
        out_->meters.push_back(std::move(m));
        break;
      }
      case stmt_kind::synproxy:
        // Options packed in value: mss | wscale << 16 | timestamp << 24 | sack-perm << 25.
        out->value = (s.mss != 0 ? s.mss : 1460u) | (static_cast<uint64_t>(s.wscale) << 16) |
                     (static_cast<uint64_t>(s.timestamp) << 24) |
                     (static_cast<uint64_t>(s.sack_perm) << 25);
        out_->uses_synproxy = out_->uses_ct = true;
        break;
      case stmt_kind::log:
        out->log = static_cast<uint32_t>(out_->log_prefixes.size());
        out_->log_prefixes.push_back(s.log_prefix);
        break;
      case stmt_kind::meta_nftrace_set:
        out_->uses_nftrace = out_->uses_nftrace || s.value != 0;
        break;
      case stmt_kind::notrack:
      case stmt_kind::ct_zone_set:
      case stmt_kind::ct_mark_set: out_->uses_ct = true; break;
      default: break;
    }
    return true;
  }

  bool compile_rule(uint32_t t, uint32_t c, uint32_t r) {
    const rule& ru = rs_.tables[t].chains[c].rules[r];
    crule cr;
    cr.table = t;
    cr.chain = c;
    cr.index = r;
    cr.first_match = static_cast<uint32_t>(out_->matches.size());
    for (const auto& m : ru.matches) {
      cmatch cm;
      if (!compile_match(t, m, &cm)) return false;
      out_->matches.push_back(cm);
    }
    cr.n_matches = static_cast<uint32_t>(ru.matches.size());
    cr.first_stmt = static_cast<uint32_t>(out_->stmts.size());
    for (const auto& s : ru.stmts) {
      cstmt cs;
      if (!compile_stmt(t, s, &cs)) return false;
      if (cs.counter != k_none) out_->counter_rule.push_back(cr);
      if (cs.limit != k_none) limit_rules_.push_back(cr);
      if (cs.meter != k_none) meter_rules_.push_back(cr);
      out_->stmts.push_back(cs);
    }
    cr.n_stmts = static_cast<uint32_t>(ru.stmts.size());
    out_->rules.push_back(cr);
    return true;
  }

 public:
  struct limit_params {
    uint64_t interval_ns;
    uint64_t tolerance;  // packets beyond the first that may arrive at once
    bool over;
  };
  std::vector<limit_params> limits_;
  std::vector<crule> limit_rules_, meter_rules_;

 private:
  const ruleset& rs_;
  const std::vector<std::string>& ports_;
  compiled_ruleset* out_;
  error* err_;
  std::vector<std::map<std::string, uint32_t>> table_sets_;
  std::vector<std::map<std::string, uint32_t>> table_maps_;
  std::map<std::pair<uint32_t, std::string>, uint32_t> chain_index_;
};

}  // namespace

result<std::unique_ptr<compiled_ruleset>> compile(const ruleset& rs, const std::string& source,
                                                  const std::vector<std::string>& ports,
                                                  uint16_t n_workers) {
  auto out = std::make_unique<compiled_ruleset>();
  out->ast = rs;
  out->source = source;
  error err;
  compiler c(rs, ports, out.get(), &err);
  if (!c.run()) return err;
  out->limiters = std::make_unique<limiter[]>(out->n_limiters);
  for (uint32_t i = 0; i < out->n_limiters; i++) {
    out->limiters[i].interval_ns = c.limits_[i].interval_ns;
    out->limiters[i].tolerance_ns = c.limits_[i].interval_ns * c.limits_[i].tolerance;
    out->limiters[i].over = c.limits_[i].over;
  }
  build_runs(*out);
  out->n_workers = n_workers;
  out->limit_rule = c.limit_rules_;
  out->limit_rule.insert(out->limit_rule.end(), c.meter_rules_.begin(), c.meter_rules_.end());
  out->limit_counters = std::make_unique<compiled_ruleset::limit_counter[]>(
      static_cast<size_t>(n_workers) * std::max<size_t>(1, out->limit_rule.size()));
  out->counters = std::make_unique<rule_counter[]>(static_cast<size_t>(n_workers) *
                                                   std::max(1u, out->n_counters));
  out->counter_base.resize(out->n_counters);
  return out;
}

}  // namespace ctgate::nft
