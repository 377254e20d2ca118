// The last stage of the front end (nft's netlink side): an evaluated ruleset (ast.h, from
// parse_file/parse_string) becomes the flat arrays of compiled.h that the data plane walks:
// sets as sorted range arrays, chains and rules by index, jumps resolved, counters, limiters
// and meters allocated per worker, runs of exact-match rules indexed. See compiled.h.
#include <rte_random.h>

#include <algorithm>
#include <array>
#include <map>
#include <span>
#include <tuple>

#include "common/jhash.h"
#include "conntrack/proto.h"
#include "ruleset/compiled.h"
#include "ruleset/fields.h"

namespace ctgate::nft {

using detail::vkind;

namespace {
// Whether many distinct single values are better hashed than searched: every element is a
// single value, and merging adjacent ones still leaves many ranges.
bool worth_hashing(const std::vector<value_range>& r, size_t merged) {
  if (merged < exact_index::k_min_keys) return false;
  for (const value_range& x : r)
    if (x.lo != x.hi) return false;
  return true;
}

// --- IPv6 addresses, lowered into 32-bit words ------------------------------------------------
// The compiled sets, maps and live sets hold keys of 64-bit fields; an IPv6 address is a
// concatenation of its four words there (ast.h field::ip6_saddr_w0). A prefix is one element
// of word ranges; any other range of addresses, several (cover6).

using words6 = std::array<value_range, 4>;

uint32_t word_of(uint128 v, unsigned d) { return static_cast<uint32_t>(v >> (32 * (3 - d))); }

// Appends to `out` the elements of word ranges that hold exactly the addresses [lo, hi], which
// agree on the words before d (in cur[0..d)): at most seven, one for a prefix.
void cover6(uint128 lo, uint128 hi, unsigned d, words6& cur, std::vector<words6>& out) {
  if (d == 4) {
    out.push_back(cur);
    return;
  }
  const uint128 below = d == 3 ? 0 : (uint128{1} << (32 * (3 - d))) - 1;  // the later words
  const uint32_t wl = word_of(lo, d), wh = word_of(hi, d);
  if (wl == wh) {
    cur[d] = {wl, wl};
    cover6(lo, hi, d + 1, cur, out);
    return;
  }
  uint32_t mid_lo = wl, mid_hi = wh;
  if ((lo & below) != 0) {  // lo's word, from lo's later words up to all ones
    cur[d] = {wl, wl};
    cover6(lo, lo | below, d + 1, cur, out);
    ++mid_lo;
  }
  const bool upper = (hi & below) != below;
  if (upper) --mid_hi;
  if (mid_lo <= mid_hi) {  // whole words between: every later word takes any value
    cur[d] = {mid_lo, mid_hi};
    for (unsigned k = d + 1; k < 4; ++k) cur[k] = {0, 0xffffffffu};
    out.push_back(cur);
  }
  if (upper) {  // hi's word, from all zeros up to hi's later words
    cur[d] = {wh, wh};
    cover6(hi & ~below, hi, d + 1, cur, out);
  }
}

bool has_addr6(const std::vector<vkind>& kinds) {
  return std::find(kinds.begin(), kinds.end(), vkind::addr6) != kinds.end();
}

// A live set's key is made of 32-bit words (dyn_key), which an Ethernet address does not fit.
bool has_ether(const std::vector<vkind>& kinds) {
  return std::find(kinds.begin(), kinds.end(), vkind::ether) != kinds.end();
}
constexpr const char* k_no_live_ether =
    "not supported: Ethernet addresses in a dynamic set, a set with timeouts or a meter";

// The kinds of a key once lowered: four u32 words for each IPv6 address.
std::vector<vkind> lower_kinds(const std::vector<vkind>& kinds) {
  std::vector<vkind> out;
  for (vkind k : kinds)
    out.insert(out.end(), k == vkind::addr6 ? 4 : 1, k == vkind::addr6 ? vkind::u32 : k);
  return out;
}

// Elements of a key of `kinds` (kinds.size() ranges each) as elements of the lowered key: each
// element becomes the product of its parts' covers. `origin[i]`: the element lowered element i
// came from (a map's data follows its key).
std::vector<value_range> lower_elems(const std::vector<value_range>& elems,
                                     const std::vector<vkind>& kinds,
                                     std::vector<uint32_t>* origin) {
  const size_t w = kinds.size();
  std::vector<value_range> out;
  for (size_t e = 0; e < elems.size() / w; ++e) {
    std::vector<std::vector<value_range>> rows{{}};
    for (size_t d = 0; d < w; ++d) {
      const value_range& r = elems[e * w + d];
      std::vector<words6> covers;
      if (kinds[d] == vkind::addr6) {
        words6 cur;
        cover6(r.lo, r.hi, 0, cur, covers);
      }
      std::vector<std::vector<value_range>> next;
      for (const std::vector<value_range>& row : rows) {
        if (kinds[d] != vkind::addr6) {
          next.push_back(row);
          next.back().push_back(r);
          continue;
        }
        for (const words6& c : covers) {
          next.push_back(row);
          next.back().insert(next.back().end(), c.begin(), c.end());
        }
      }
      rows = std::move(next);
    }
    for (const std::vector<value_range>& row : rows) {
      out.insert(out.end(), row.begin(), row.end());
      origin->push_back(static_cast<uint32_t>(e));
    }
  }
  return out;
}

// A key's fields once lowered: four words for each IPv6 address.
std::vector<field> lower_fields(field f, const std::vector<field>& concat) {
  std::vector<field> out;
  auto add = [&](field g) {
    if (!is_addr6_field(g)) {
      out.push_back(g);
      return;
    }
    for (unsigned i = 0; i < 4; ++i) out.push_back(addr6_word(g, i));
  };
  add(f);
  for (field g : concat) add(g);
  return out;
}

}  // namespace

range_set::range_set(std::vector<value_range> r) {
  auto by_lo = [](const value_range& a, const value_range& b) { return a.lo < b.lo; };
  if (!std::is_sorted(r.begin(), r.end(), by_lo)) std::sort(r.begin(), r.end(), by_lo);
  for (const auto& x : r) {
    if (!lo_.empty() && x.lo <= hi_.back() + 1) {
      hi_.back() = std::max(hi_.back(), static_cast<uint64_t>(x.hi));
    } else {
      lo_.push_back(x.lo);
      hi_.push_back(x.hi);
    }
  }
  if (worth_hashing(r, lo_.size())) {
    std::vector<uint64_t> keys;
    for (const value_range& x : r)
      if (keys.empty() || keys.back() != x.lo) keys.push_back(x.lo);  // sorted: distinct
    exact_ = exact_index(keys, /*positions=*/false);
  }
  n_ = lo_.size();
  if (hashed()) {  // the hash answers every lookup: the sorted arrays would only take memory
    std::vector<uint64_t>().swap(lo_);
    std::vector<uint64_t>().swap(hi_);
  }
}

bool gcra_conforming(std::atomic<uint64_t>& tat_ns, uint64_t now_ns, uint64_t interval_ns,
                     uint64_t tolerance_ns) {
  uint64_t tat = tat_ns.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 8; tries++) {
    uint64_t base = tat > now_ns ? tat : now_ns;
    if (base - now_ns > tolerance_ns) return false;
    if (tat_ns.compare_exchange_weak(tat, base + interval_ns, std::memory_order_relaxed))
      return true;
  }
  return false;  // heavy contention: count it as over the rate
}

bool limiter::conforming(uint64_t now_ns) {
  return gcra_conforming(tat_ns, now_ns, interval_ns, tolerance_ns);
}

void hash_state::add_field(field f) {
  const detail::register_layout l =
      detail::hash_layout(f).value_or(detail::register_layout{4, true});
  fields[width] = f;
  len[width] = static_cast<uint8_t>(l.len);
  host_order[width] = l.host_order;
  ++width;
}

uint32_t hash_state::of(const uint64_t* values) const {
  uint8_t bytes[4 * k_max_key_words] = {};
  uint32_t used = 0;
  for (size_t i = 0; i < width; ++i) {
    for (uint32_t b = 0; b < len[i]; ++b) {
      // Host order on x86 is little-endian: the low byte first; the packet's order, the high.
      const uint32_t shift = host_order[i] ? 8 * b : 8 * (len[i] - 1 - b);
      bytes[used + b] = static_cast<uint8_t>(values[i] >> shift);
    }
    used += width == 1 ? len[i] : 4;  // a concatenation pads each field to a register
  }
  const uint32_t h = jhash(bytes, used, seed);
  return static_cast<uint32_t>(static_cast<uint64_t>(h) * mod >> 32) + offset;
}

uint32_t hash_state::of_flow(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                             uint8_t proto) const {
  if (daddr < saddr || (daddr == saddr && dport < sport)) {
    std::swap(saddr, daddr);
    std::swap(sport, dport);
  }
  const uint32_t words[4] = {saddr, daddr, static_cast<uint32_t>(sport) << 16 | dport, proto};
  uint8_t bytes[sizeof words];
  std::memcpy(bytes, words, sizeof words);
  const uint32_t h = jhash(bytes, sizeof bytes, seed);
  return static_cast<uint32_t>(static_cast<uint64_t>(h) * mod >> 32) + offset;
}

uint32_t numgen_state::next() {
  if (random) {
    // reciprocal_scale, as the kernel scales get_random_u32() into [0, mod).
    return static_cast<uint32_t>((static_cast<uint64_t>(rte_rand()) & 0xffffffffu) * mod >> 32) +
           offset;
  }
  uint32_t v = counter.load(std::memory_order_relaxed);
  while (!counter.compare_exchange_weak(v, v + 1 < mod ? v + 1 : 0, std::memory_order_relaxed)) {
  }
  return v + offset;
}

uint32_t rule_run::next_candidate(uint64_t v, uint32_t from) const {
  auto k = std::lower_bound(keys.begin(), keys.end(), v);
  if (k == keys.end() || *k != v) return end;
  size_t i = static_cast<size_t>(k - keys.begin());
  auto b = rules_by_key.begin() + list_off[i], e = rules_by_key.begin() + list_off[i + 1];
  auto r = std::lower_bound(b, e, from);
  return r == e ? end : *r;
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
  // Keys do not overlap, so single-value keys are distinct; data_ is in lo_'s order.
  if (worth_hashing(keys, keys.size())) {
    exact_ = exact_index(lo_);
    std::vector<uint64_t>().swap(lo_);
    std::vector<uint64_t>().swap(hi_);
  }
}

// Builds a concat_table (compiled.h): node(list, d) makes the node for field d of the elements
// in `list` (sorted indices), sharing nodes already made for the same list.
class concat_builder {
 public:
  // Segments created (the work of cutting, in element visits) before a build gives up: a few
  // nested ranges per field cost little, but crossing ranges multiply.
  static constexpr uint64_t k_budget = uint64_t{1} << 25;

  concat_builder(const std::vector<value_range>& elems, size_t width, bool is_map)
      : elems_(elems), width_(width), is_map_(is_map), memo_(width) {}

  // False when the elements would cut the space into too many pieces.
  bool build(concat_table* out) {
    t_ = out;
    t_->width_ = width_;
    std::vector<uint32_t> all(elems_.size() / width_);
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint32_t>(i);
    node(all, 0);
    return !over_;
  }

 private:
  const value_range& part(uint32_t e, size_t d) const { return elems_[e * width_ + d]; }

  uint32_t node(const std::vector<uint32_t>& list, size_t d) {
    auto [it, fresh] = memo_[d].emplace(list, 0);
    if (!fresh) return it->second;
    const auto id = static_cast<uint32_t>(t_->nodes_.size());
    it->second = id;
    t_->nodes_.emplace_back();
    std::vector<uint64_t> cuts{0};
    for (uint32_t e : list) {
      cuts.push_back(part(e, d).lo);
      if (part(e, d).hi != UINT64_MAX) cuts.push_back(part(e, d).hi + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<uint32_t> by_lo = list;
    std::sort(by_lo.begin(), by_lo.end(),
              [&](uint32_t a, uint32_t b) { return part(a, d).lo < part(b, d).lo; });
    std::vector<uint32_t> active;
    std::vector<uint64_t> lo;
    std::vector<uint32_t> child;
    size_t next = 0;
    for (uint64_t cut : cuts) {
      while (next < by_lo.size() && part(by_lo[next], d).lo <= cut) active.push_back(by_lo[next++]);
      std::erase_if(active, [&](uint32_t e) { return part(e, d).hi < cut; });
      work_ += active.size() + 1;
      if (work_ > k_budget) over_ = true;
      if (over_) return id;
      uint32_t c = k_none;
      if (!active.empty() && d + 1 == width_) {
        c = is_map_ ? *std::min_element(active.begin(), active.end()) : 0;
      } else if (!active.empty()) {
        std::vector<uint32_t> covering = active;
        std::sort(covering.begin(), covering.end());
        c = node(covering, d + 1);
      }
      if (!child.empty() && child.back() == c) continue;  // same as the segment before
      lo.push_back(cut);
      child.push_back(c);
    }
    t_->nodes_[id] = {static_cast<uint32_t>(t_->lo_.size()), static_cast<uint32_t>(lo.size())};
    t_->lo_.insert(t_->lo_.end(), lo.begin(), lo.end());
    t_->child_.insert(t_->child_.end(), child.begin(), child.end());
    return id;
  }

  const std::vector<value_range>& elems_;
  size_t width_;
  bool is_map_;
  std::vector<std::map<std::vector<uint32_t>, uint32_t>> memo_;  // per field
  concat_table* t_ = nullptr;
  uint64_t work_ = 0;
  bool over_ = false;
};

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
  // Values made per evaluation (numgen advances a counter) or read with the clock: not
  // loadable once for a run.
  if (m.f == field::numgen || m.f == field::jhash || m.f == field::ct_expiration ||
      is_ct_acct_field(m.f))
    return false;
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
  struct limit_params {
    uint64_t interval_ns;
    uint64_t tolerance;  // packets beyond the first that may arrive at once
    bool over;
  };

  compiler(const ruleset& rs, const std::vector<std::string>& ports,
           const std::vector<bridge_members>& bridges, compiled_ruleset* out, error* err)
      : rs_(rs), ports_(ports), bridges_(bridges), out_(out), err_(err) {}

  bool run() {
    table_concat_.resize(rs_.tables.size());
    table_live_.resize(rs_.tables.size());
    out_->named.resize(rs_.tables.size());
    for (uint32_t t = 0; t < rs_.tables.size(); t++)
      out_->named[t].resize(rs_.tables[t].sets.size());
    for (uint32_t t = 0; t < rs_.tables.size(); t++) {
      const table& tb = rs_.tables[t];
      std::map<std::string, uint32_t> sets;
      for (uint32_t si = 0; si < tb.sets.size(); ++si) {
        const set& s = tb.sets[si];
        if (!s.data_type.empty()) continue;  // maps: once every chain has its index
        if (s.live()) {
          // Its elements live in dyn_table slots, whose keys hold 128 bits (four words).
          if (lower_kinds(kinds_of_type(s.type)).size() > 4)
            return fail(s.loc,
                        "not supported: a dynamic set or a set with timeouts whose "
                        "elements take more than 128 bits (" +
                            s.type + ")");
          if (has_ether(kinds_of_type(s.type))) return fail(s.loc, k_no_live_ether);
          table_live_[t][s.name] = add_live_set(s.size_limit, s.timeout_ms, t, si);
          continue;
        }
        if (s.width() > 1 || has_addr6(kinds_of_type(s.type))) {
          if (!add_concat(t, s.elems, kinds_of_type(s.type), nullptr, s.loc,
                          &table_concat_[t][s.name]))
            return false;
          continue;
        }
        sets[s.name] = static_cast<uint32_t>(out_->sets.size());
        out_->named[t][si].set = sets[s.name];
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
        cc.nat = ch.base && ch.type == "nat";
        if (cc.nat) out_->uses_nat = out_->uses_ct = true;
        out_->chains.push_back(cc);
      }
    }
    // Objects before maps: an object map's elements name them.
    for (uint32_t t = 0; t < rs_.tables.size(); t++) compile_objects(t);
    for (uint32_t t = 0; t < rs_.tables.size(); t++) {
      std::map<std::string, uint32_t> maps;
      for (uint32_t si = 0; si < rs_.tables[t].sets.size(); ++si) {
        const set& s = rs_.tables[t].sets[si];
        if (s.data_type.empty()) continue;
        if (s.width() > 1 || has_addr6(kinds_of_type(s.type))) {
          if (!add_concat(t, s.elems, kinds_of_type(s.type), &s.data, s.loc,
                          &table_concat_[t][s.name]))
            return false;
          continue;
        }
        maps[s.name] = static_cast<uint32_t>(out_->maps.size());
        out_->named[t][si].map = maps[s.name];
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
        note_live_lookups(cc);
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

  // numgen inc|random mod N [offset M]: its shared state; the index into numgens.
  uint32_t add_numgen(const statement& s) {
    auto ng = std::make_unique<numgen_state>();
    ng->mod = s.numgen_mod;
    ng->offset = s.numgen_offset;
    ng->random = s.numgen_random;
    out_->numgens.push_back(std::move(ng));
    return static_cast<uint32_t>(out_->numgens.size() - 1);
  }

  // jhash KEY mod N [seed S] [offset M]: the index into hashes.
  uint32_t add_hash(const statement& s) {
    hash_state h;
    for (size_t i = 0; i < s.hash_key.size(); ++i) {
      if (reads_ct(s.hash_key[i])) out_->uses_ct = true;
      if (!is_addr6_field(s.hash_key[i])) {
        h.add_field(s.hash_key[i]);
        continue;
      }
      // Four registers of the address, as nft's: a concatenation of its words.
      for (unsigned w = 0; w < 4; ++w) h.add_field(addr6_word(s.hash_key[i], w));
    }
    h.mod = s.numgen_mod;
    h.offset = s.numgen_offset;
    h.seed = s.hash_seed;
    h.symmetric = s.hash_symmetric;
    out_->hashes.push_back(h);
    return static_cast<uint32_t>(out_->hashes.size() - 1);
  }

  // ct expiration needs the worker's clock, which only a plain match reads (eval_match).
  static bool uses_expiration(field f, const std::vector<field>& concat) {
    return f == field::ct_expiration ||
           std::find(concat.begin(), concat.end(), field::ct_expiration) != concat.end();
  }

  static bool reads_ct(field f) {
    return f == field::ct_state || f == field::ct_mark || f == field::ct_zone ||
           f == field::ct_direction || f == field::ct_status || f == field::ct_expiration ||
           is_ct_acct_field(f) || is_ct_addr_field(f) || is_ct_addr6_field(f);
  }

  // Where a concatenated set's or map's elements went (see concat_lookup).
  struct concat_store {
    uint32_t table = k_none, data = k_none, set = k_none, map = k_none;
  };

  static unsigned bits_of(vkind k) {
    switch (k) {
      case vkind::ether: return 48;
      case vkind::addr:
      case vkind::u32:
      case vkind::mark: return 32;
      case vkind::port:
      case vkind::ethertype: return 16;
      default: return 8;  // protocols
    }
  }

  // The elements as single numbers, the fields' bits side by side (the first highest), when
  // the key fits in 64 bits and every element is one contiguous run of such numbers: exact
  // values, then at most one range, then whole fields. False otherwise.
  static bool pack(const std::vector<value_range>& elems, const std::vector<unsigned>& bits,
                   std::vector<value_range>* out) {
    unsigned total = 0;
    for (unsigned b : bits) total += b;
    if (total > 64) return false;
    const size_t w = bits.size();
    for (size_t e = 0; e < elems.size() / w; ++e) {
      uint64_t lo = 0, hi = 0;
      bool ranged = false;
      for (size_t d = 0; d < w; ++d) {
        const value_range& r = elems[e * w + d];
        const uint64_t max = (uint64_t{1} << bits[d]) - 1;
        if (ranged && (r.lo != 0 || r.hi != max)) return false;
        lo = lo << bits[d] | r.lo;
        hi = hi << bits[d] | r.hi;
        ranged = ranged || r.lo != r.hi;
      }
      out->push_back({lo, hi});
    }
    return true;
  }

  // A concatenated set's or map's elements (`data`: a map's), compiled where their lookup is
  // fastest.
  bool add_concat(uint32_t t, const std::vector<value_range>& elems,
                  const std::vector<vkind>& kinds, const std::vector<map_data>* data,
                  const location& loc, concat_store* out) {
    if (has_addr6(kinds)) {
      std::vector<uint32_t> origin;
      const std::vector<value_range> lowered = lower_elems(elems, kinds, &origin);
      std::vector<map_data> lowered_data;
      if (data != nullptr)
        for (uint32_t o : origin) lowered_data.push_back((*data)[o]);
      return add_concat(t, lowered, lower_kinds(kinds), data != nullptr ? &lowered_data : nullptr,
                        loc, out);
    }
    std::vector<unsigned> bits;
    for (vkind k : kinds) bits.push_back(bits_of(k));
    std::vector<range_map::entry> entries;
    if (data != nullptr && !map_entries(t, *data, loc, &entries)) return false;
    std::vector<value_range> packed;
    if (pack(elems, bits, &packed)) {
      if (data == nullptr) {
        out->set = static_cast<uint32_t>(out_->sets.size());
        out_->sets.emplace_back(packed);
        return true;
      }
      // A map's keys must not overlap to be one range_map (the first element wins there).
      std::vector<value_range> sorted = packed;
      std::sort(sorted.begin(), sorted.end());
      bool overlap = false;
      for (size_t i = 1; i < sorted.size(); ++i)
        overlap = overlap || sorted[i].lo <= sorted[i - 1].hi;
      if (!overlap) {
        out->map = static_cast<uint32_t>(out_->maps.size());
        out_->maps.emplace_back(packed, std::move(entries));
        return true;
      }
    }
    concat_table table;
    if (!concat_builder(elems, kinds.size(), data != nullptr).build(&table))
      return fail(loc, "concatenated set too complex: its ranges cross into more than " +
                           std::to_string(concat_builder::k_budget) + " pieces");
    out->table = static_cast<uint32_t>(out_->concat_tables.size());
    out_->concat_tables.push_back(std::move(table));
    if (data != nullptr) {
      out->data = static_cast<uint32_t>(out_->concat_data.size());
      out_->concat_data.push_back(std::move(entries));
    }
    return true;
  }

  static std::vector<vkind> kinds_of_type(const std::string& type) {
    std::vector<vkind> kinds;
    for (std::string_view part : detail::set_type_parts(type))
      kinds.push_back(detail::kind_of_set_type(part).value_or(vkind::mark));
    return kinds;
  }

  // A concatenated key's lookup: in the named set or map `name`, or in new elements `elems`
  // (anonymous; `data` for a map).
  bool add_concat_lookup(uint32_t t, field f, const std::vector<field>& concat,
                         const std::string& name, const std::vector<value_range>& elems,
                         const std::vector<map_data>* data, const location& loc, uint32_t* index) {
    concat_lookup cl;
    const std::vector<field> lowered = lower_fields(f, concat);
    cl.width = static_cast<uint8_t>(lowered.size());
    std::copy(lowered.begin(), lowered.end(), cl.fields);
    std::vector<vkind> kinds{detail::kind_of(f)};  // the key's, before lowering
    for (field g : concat) kinds.push_back(detail::kind_of(g));
    const std::vector<vkind> lowered_kinds = lower_kinds(kinds);
    for (size_t i = 0; i < cl.width; ++i)
      if (reads_ct(cl.fields[i])) out_->uses_ct = true;
    unsigned shift = 0;
    for (size_t i = cl.width; i-- > 0;) {
      cl.shift[i] = static_cast<uint8_t>(shift);
      shift += bits_of(lowered_kinds[i]);
    }
    concat_store store;
    if (!name.empty()) {
      auto it = table_concat_[t].find(name);
      if (it == table_concat_[t].end()) return fail(loc, "set '" + name + "' does not exist");
      store = it->second;
    } else if (!add_concat(t, elems, kinds, data, loc, &store)) {
      return false;
    }
    cl.table = store.table;
    cl.data = store.data;
    cl.set = store.set;
    cl.map = store.map;
    *index = static_cast<uint32_t>(out_->concat_lookups.size());
    out_->concat_lookups.push_back(cl);
    return true;
  }

  // The live-set lookups of a chain's rules, for the evaluator to prefetch, with the
  // matches in front of each. Not those keyed by a field a statement can change before the
  // lookup (their keys are computed ahead), nor those of sets small enough to stay in cache.
  void note_live_lookups(cchain& cc) {
    auto note = [&](uint32_t lookup, uint32_t first_guard, uint32_t n_guards) {
      const live_lookup& ll = out_->live_lookups[lookup];
      if (dyn_table::bytes_for(out_->live_sets[ll.set].size) < k_prefetch_min_bytes) return;
      for (size_t i = 0; i < ll.width; ++i)
        if (ll.fields[i] == field::meta_mark || ll.fields[i] == field::ct_mark ||
            ll.fields[i] == field::ct_zone || ll.fields[i] == field::tcp_option_maxseg)
          return;
      std::vector<cchain::prefetch>& pf = cc.live_prefetch;
      if (pf.size() >= k_max_prefetch) return;
      for (const cchain::prefetch& p : pf)
        if (p.lookup == lookup) return;
      pf.push_back({lookup, first_guard, n_guards});
    };
    for (uint32_t r = cc.first_rule; r < cc.first_rule + cc.n_rules; ++r) {
      const crule& cr = out_->rules[r];
      for (uint32_t k = 0; k < cr.n_matches; ++k)
        if (out_->matches[cr.first_match + k].live)
          note(out_->matches[cr.first_match + k].set, cr.first_match, k);
      for (uint32_t k = 0; k < cr.n_stmts; ++k)
        if (out_->stmts[cr.first_stmt + k].live != k_none)
          note(out_->stmts[cr.first_stmt + k].live, cr.first_match, cr.n_matches);
    }
  }

  uint32_t add_live_set(uint32_t size, uint64_t timeout_ms, uint32_t t, uint32_t si) {
    live_set ls;
    ls.size = size != 0 ? size : k_default_live_set_size;
    ls.timeout_ms = static_cast<uint32_t>(timeout_ms);
    ls.ast_table = t;
    ls.ast_set = si;
    out_->live_sets.push_back(std::move(ls));
    return static_cast<uint32_t>(out_->live_sets.size() - 1);
  }

  // A live set's key is at most 128 bits (dyn_key): four 32-bit words.
  // `mask`: the key's address ANDed with it (a one-field key; statement::key_mask).
  bool add_live_lookup(uint32_t set, field f, const std::vector<field>& concat, const location& loc,
                       uint32_t* index, uint128 mask = ~uint128{0}) {
    live_lookup ll;
    ll.set = set;
    const std::vector<field> lowered = lower_fields(f, concat);
    if (lowered.size() > 4)
      return fail(loc, "not supported: a key of more than 128 bits (" + key_name(f, concat) +
                           ") in a dynamic set or meter");
    for (field g : lowered)
      if (detail::kind_of(g) == vkind::ether) return fail(loc, k_no_live_ether);
    ll.width = static_cast<uint8_t>(lowered.size());
    std::copy(lowered.begin(), lowered.end(), ll.fields);
    for (size_t i = 0; i < ll.width; ++i)
      if (reads_ct(ll.fields[i])) out_->uses_ct = true;
    if (is_addr6_field(f))
      for (unsigned w = 0; w < 4; ++w) ll.mask[w] = word_of(mask, w);
    else
      ll.mask[0] = static_cast<uint32_t>(mask);
    out_->live_lookups.push_back(ll);
    *index = static_cast<uint32_t>(out_->live_lookups.size() - 1);
    return true;
  }

  static std::string key_name(field f, const std::vector<field>& concat) {
    std::string out = detail::field_name(f);
    for (field g : concat) out += std::string(" . ") + detail::field_name(g);
    return out;
  }

  // The live set `name` of table t, k_none if it is not one.
  uint32_t live_set_of(uint32_t t, const std::string& name) const {
    auto it = table_live_[t].find(name);
    return it == table_live_[t].end() ? k_none : it->second;
  }

  // A per-element limit (meters, dynset statements with limit), with its counters.
  uint32_t add_elem_limit(const statement& s) {
    elem_limit l;
    l.interval_ns = unit_ns(s.unit) / s.rate;
    l.tolerance_ns = l.interval_ns * ((s.burst == 0 ? 5u : s.burst) - 1);  // as limit_params_of
    l.over = s.over;
    out_->elem_limits.push_back(l);
    return static_cast<uint32_t>(out_->elem_limits.size() - 1);
  }

  static uint64_t unit_ns(rate_unit u) {
    static constexpr uint64_t ns[] = {1000000000ull, 60000000000ull, 3600000000000ull,
                                      86400000000000ull};
    return ns[static_cast<int>(u)];
  }

  // `ip6 saddr < ADDR` (and >, <=, >=): the addresses it holds, as a range looked up.
  bool addr6_order(uint32_t t, const match& m, cmatch* out) {
    const uint128 v = m.rhs.elems.front().lo, all = ~uint128{0};
    value_range r{0, all};
    switch (m.op) {
      case cmp_op::lt: r.hi = v - 1; break;
      case cmp_op::le: r.hi = v; break;
      case cmp_op::gt: r.lo = v + 1; break;
      default: r.lo = v; break;
    }
    // `< ::` and `> ffff:...:ffff` hold no address: compare with != all of them.
    const bool none = (m.op == cmp_op::lt && v == 0) || (m.op == cmp_op::gt && v == all);
    out->op = none ? cmp_op::ne : cmp_op::eq;
    return add_concat_lookup(t, m.f, m.concat, "", {none ? value_range{0, all} : r}, nullptr, m.loc,
                             &out->set);
  }

  bool compile_match(uint32_t t, const match& m, cmatch* out) {
    out->f = m.f;
    out->op = m.op;
    out->mask = m.rhs.mask;
    out->value = m.rhs.value;
    if (reads_ct(m.f)) out_->uses_ct = true;
    if (is_ct_acct_field(m.f)) {
      if (!m.concat.empty() || !m.rhs.set_name.empty() || m.rhs.elems.size() > 1)
        return fail(m.loc, std::string("not supported: ") + detail::field_name(m.f) +
                               " in a set or a concatenation (compare it: ct bytes > 1000)");
      out_->uses_acct = true;
    }
    if (!m.gen.empty())
      out->gen = m.f == field::numgen ? add_numgen(m.gen.front()) : add_hash(m.gen.front());
    if (uses_expiration(m.f, m.concat) && (!m.concat.empty() || !m.rhs.set_name.empty()))
      return fail(m.loc, "not supported: ct expiration in a concatenation or a named set");
    if (!m.rhs.set_name.empty()) {
      if (const uint32_t ls = live_set_of(t, m.rhs.set_name); ls != k_none) {
        out->live = true;
        return add_live_lookup(ls, m.f, m.concat, m.loc, &out->set);
      }
    }
    if (!m.concat.empty() || is_addr6_field(m.f)) {
      out->concat = true;
      if (m.op != cmp_op::eq && m.op != cmp_op::ne) return addr6_order(t, m, out);
      return add_concat_lookup(t, m.f, m.concat, m.rhs.set_name, m.rhs.elems, nullptr, m.loc,
                               &out->set);
    }
    if (is_bridge_name_field(m.f)) return bridge_ports(m, out);
    if (!m.rhs.strs.empty()) {
      // A set of interface names: the ports they name (wildcards: the ports whose names start
      // so), as one set of port indices.
      std::vector<value_range> ports;
      for (const std::string& name : m.rhs.strs) {
        const bool wild =
            name.back() == '*' && (m.f == field::meta_iifname || m.f == field::meta_oifname);
        const std::string prefix = wild ? name.substr(0, name.size() - 1) : name;
        bool any = false;
        for (size_t i = 0; i < ports_.size(); ++i)
          if (wild ? ports_[i].compare(0, prefix.size(), prefix) == 0 : ports_[i] == name) {
            ports.push_back({i, i});
            any = true;
          }
        if (!any && !wild)
          return fail(m.loc,
                      "unknown interface '" + name + "' (ports are named in the gateway config)");
      }
      std::sort(ports.begin(), ports.end(),
                [](const value_range& a, const value_range& b) { return a.lo < b.lo; });
      ports.erase(
          std::unique(ports.begin(), ports.end(),
                      [](const value_range& a, const value_range& b) { return a.lo == b.lo; }),
          ports.end());
      out->set = static_cast<uint32_t>(out_->sets.size());
      out_->sets.emplace_back(ports);
      return true;
    }
    if (!m.rhs.str.empty() && m.rhs.str.back() == '*' &&
        (m.f == field::meta_iifname || m.f == field::meta_oifname)) {
      // A wildcard: the ports whose names start so (none is fine, as in nft).
      const std::string prefix = m.rhs.str.substr(0, m.rhs.str.size() - 1);
      std::vector<value_range> ports;
      for (size_t i = 0; i < ports_.size(); ++i)
        if (ports_[i].compare(0, prefix.size(), prefix) == 0) ports.push_back({i, i});
      out->set = static_cast<uint32_t>(out_->sets.size());
      out_->sets.emplace_back(ports);
      return true;
    }
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

  // meta ibrname|obrname NAME, or a set of names: the member ports of the bridges they name (a
  // name ending in `*`: of the bridges whose names start so, none being fine, as for
  // iifname), as one set of port indices the input or output port is looked up in.
  bool bridge_ports(const match& m, cmatch* out) {
    std::vector<std::string> names = m.rhs.strs;
    if (names.empty()) names.push_back(m.rhs.str);
    std::vector<value_range> ports;
    for (const std::string& name : names) {
      const bool wild = name.back() == '*';
      const std::string prefix = wild ? name.substr(0, name.size() - 1) : name;
      bool any = false;
      for (const bridge_members& br : bridges_) {
        if (wild ? br.name.compare(0, prefix.size(), prefix) != 0 : br.name != name) continue;
        any = true;
        for (uint16_t p : br.ports) ports.push_back({p, p});
      }
      if (!any && !wild)
        return fail(m.loc,
                    "unknown bridge '" + name + "' (bridges are named in the gateway config)");
    }
    out->set = static_cast<uint32_t>(out_->sets.size());
    out_->sets.emplace_back(ports);  // sorted and merged by range_set
    return true;
  }

  // A map's keys and data as the data plane looks them up; jump targets by chain index.
  bool add_map(uint32_t t, const std::vector<value_range>& keys, const std::vector<map_data>& data,
               const location& loc) {
    std::vector<range_map::entry> entries;
    if (!map_entries(t, data, loc, &entries)) return false;
    out_->maps.emplace_back(keys, std::move(entries));
    return true;
  }

  bool map_entries(uint32_t t, const std::vector<map_data>& data, const location& loc,
                   std::vector<range_map::entry>* out) {
    std::vector<range_map::entry>& entries = *out;
    for (const map_data& d : data) {
      range_map::entry e;
      e.verdict = d.verdict;
      e.value = d.value;
      if (!d.object.empty()) {
        // An object map's element: the object's state (its counter or quota index).
        const obj_kind kind = d.object_quota ? obj_kind::quota : obj_kind::counter;
        auto it = table_objects_.find({t, kind, d.object});
        if (it == table_objects_.end())
          return fail(loc, std::string(obj_kind_name(kind)) + " '" + d.object + "' does not exist");
        e.value = it->second;
      }
      if (!d.target.empty()) {
        auto it = chain_index_.find({t, d.target});
        if (it == chain_index_.end()) return fail(loc, "chain '" + d.target + "' does not exist");
        if (out_->chains[it->second].base)
          return fail(loc, "cannot jump to base chain '" + d.target + "'");
        e.target = it->second;
      }
      entries.push_back(e);
    }
    return true;
  }

  // vmap and `mark set FIELD [map ...]`: the field read, and the map looked up.
  bool compile_source(uint32_t t, const statement& s, cstmt* out) {
    out->has_from = true;
    out->from = *s.from;
    if (reads_ct(*s.from)) out_->uses_ct = true;
    if (*s.from == field::numgen) out->numgen = add_numgen(s);
    if (*s.from == field::jhash) out->hash = add_hash(s);
    if (!s.concat.empty() || is_addr6_field(*s.from)) {
      if (!s.has_map())
        return fail(s.loc, std::string("not supported: ") + detail::field_name(*s.from) +
                               " as a value (it does not fit a mark)");
      return add_concat_lookup(t, *s.from, s.concat, s.map_name, s.map_keys, &s.map_values, s.loc,
                               &out->concat);
    }
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

  // Named objects: each gets the state an anonymous statement of its kind would, which every
  // rule naming it shares. Its position is {table, k_none, object index} where a statement's
  // is its rule's (listings and carried counters tell them apart by the chain).
  void compile_objects(uint32_t t) {
    const table& tb = rs_.tables[t];
    for (uint32_t oi = 0; oi < tb.objects.size(); ++oi) {
      const object& ob = tb.objects[oi];
      crule where;
      where.table = t;
      where.chain = k_none;
      where.index = oi;
      uint32_t state = 0;
      switch (ob.kind) {
        case obj_kind::counter:
          state = out_->n_counters++;
          counter_start_.push_back({ob.spec.packets, ob.spec.bytes});
          out_->counter_rule.push_back(where);
          break;
        case obj_kind::quota:
          state = static_cast<uint32_t>(quotas_.size());
          quotas_.push_back(ob.spec);
          out_->quota_rule.push_back(where);
          break;
        case obj_kind::limit:
          state = out_->n_limiters++;
          limits_.push_back(limit_params_of(ob.spec));
          limit_rules_.push_back(where);
          break;
        case obj_kind::ct_timeout:
          state = static_cast<uint32_t>(out_->ct_timeouts.size());
          out_->ct_timeouts.push_back(ct_timeout_of(tb, ob));
          break;
      }
      table_objects_[{t, ob.kind, ob.name}] = state;
    }
  }

  // A policy's states as conntrack's timeout classes (every state: the parser filled the ones
  // not written with nft's defaults). TCP's syn_sent2 has no class of its own in ctgate (the
  // SYN_SENT2 state follows syn_sent): accepted and listed, not applied. Timeouts are kept in
  // ms within a signed 32-bit value (conntrack.h ct_expired_at): longer ones are cut to
  // 2147483 s, as the config's are bounded.
  static ct_timeout_spec ct_timeout_of(const table& tb, const object& ob) {
    static constexpr uint8_t k_tcp[] = {
        ct::TC_TCP_SYN_SENT,   ct::TC_TCP_SYN_RECV, ct::TC_TCP_ESTABLISHED, ct::TC_TCP_FIN_WAIT,
        ct::TC_TCP_CLOSE_WAIT, ct::TC_TCP_LAST_ACK, ct::TC_TCP_TIME_WAIT,   ct::TC_TCP_CLOSE,
        ct::TC_COUNT,          ct::TC_TCP_RETRANS,  ct::TC_TCP_UNACK};
    static constexpr uint8_t k_udp[] = {ct::TC_UDP, ct::TC_UDP_STREAM};
    const std::span<const uint8_t> classes =
        ob.l4proto == 6 ? std::span<const uint8_t>(k_tcp) : std::span<const uint8_t>(k_udp);
    ct_timeout_spec spec;
    spec.table_handle = tb.handle;
    spec.handle = ob.handle;
    spec.serial = ob.serial;
    spec.l4proto = ob.l4proto;
    spec.first = classes[0];  // Linux starts a flow with values[0]: syn_sent, unreplied
    for (size_t i = 0; i < ob.policy.size() && i < classes.size(); ++i)
      if (classes[i] != ct::TC_COUNT)
        spec.ms.emplace_back(classes[i], std::min<uint32_t>(ob.policy[i], 2147483) * 1000);
    return spec;
  }

  static limit_params limit_params_of(const statement& s) {
    // nft_limit's bucket holds `burst` packets' worth of tokens (5 when not given; Linux 6.x,
    // checked against this machine's kernel by differential test 15): `burst` packets pass
    // back to back, then one per interval.
    const uint64_t burst = s.burst == 0 ? 5u : s.burst;
    return {unit_ns(s.unit) / s.rate, burst - 1, s.over};
  }

  // `counter|quota|limit name "NAME"`: the object's state (the parser checked it exists).
  bool named_object(uint32_t t, const statement& s, cstmt* out) {
    const obj_kind kind = s.kind == stmt_kind::counter          ? obj_kind::counter
                          : s.kind == stmt_kind::quota          ? obj_kind::quota
                          : s.kind == stmt_kind::ct_timeout_set ? obj_kind::ct_timeout
                                                                : obj_kind::limit;
    auto it = table_objects_.find({t, kind, s.obj_name});
    if (it == table_objects_.end())
      return fail(s.loc, std::string(obj_kind_name(kind)) + " '" + s.obj_name + "' does not exist");
    if (kind == obj_kind::counter) out->counter = it->second;
    if (kind == obj_kind::quota) out->quota = it->second;
    if (kind == obj_kind::limit) out->limit = it->second;
    if (kind == obj_kind::ct_timeout) {
      out->value = it->second;
      out_->uses_ct = true;
    }
    return true;
  }

  bool compile_stmt(uint32_t t, const statement& s, cstmt* out) {
    out->kind = s.kind;
    out->value = s.value;
    out->reject = s.reject;
    if (!s.obj_name.empty()) return named_object(t, s, out);
    if (s.from && uses_expiration(*s.from, s.concat))
      return fail(s.loc, "not supported: ct expiration as a key or a value");
    if (s.from && is_ct_acct_field(*s.from))
      return fail(s.loc, std::string("not supported: ") + detail::field_name(*s.from) +
                             " as a key or a value");
    if (s.from && s.kind != stmt_kind::meter && s.kind != stmt_kind::dynset &&
        !compile_source(t, s, out))
      return false;
    if (s.is_object_map()) {
      // The map's values are the objects' indices (map_entries); the data plane takes the
      // one the packet's key maps to.
      if (!s.concat.empty())
        return fail(s.loc, "not supported: object maps with concatenated keys");
      return true;
    }
    switch (s.kind) {
      case stmt_kind::counter:
        out->counter = out_->n_counters++;
        counter_start_.push_back({s.packets, s.bytes});
        break;
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
        if (s.rate == 0) return fail(s.loc, "limit rate must be positive");
        out->limit = out_->n_limiters++;
        limits_.push_back(limit_params_of(s));
        break;
      }
      case stmt_kind::meter: {
        if (s.rate == 0) return fail(s.loc, "meter rate must be positive");
        // A dynamic set of its own, which no rule can look up: nft's meter.
        const uint32_t ls = add_live_set(s.meter_size, 0, k_none, k_none);
        out_->live_sets[ls].limits = true;
        if (!add_live_lookup(ls, *s.from, s.concat, s.loc, &out->live, s.key_mask)) return false;
        out->meter = add_elem_limit(s);
        out->elem_timeout_ms = static_cast<uint32_t>(s.elem_timeout_ms);
        break;
      }
      case stmt_kind::dynset: {
        const uint32_t ls = live_set_of(t, s.set_name);
        if (ls == k_none) return fail(s.loc, "set '" + s.set_name + "' is not dynamic");
        if (!add_live_lookup(ls, *s.from, s.concat, s.loc, &out->live, s.key_mask)) return false;
        out->value = static_cast<uint64_t>(s.op);
        out->elem_timeout_ms = static_cast<uint32_t>(s.elem_timeout_ms);
        if (s.has_limit) {
          if (s.rate == 0) return fail(s.loc, "limit rate must be positive");
          out->meter = add_elem_limit(s);
          out_->live_sets[ls].limits = true;
        }
        if (s.has_ct_count) {
          live_set& counted = out_->live_sets[ls];
          counted.counted = true;
          counted.count_limit = std::max(counted.count_limit, s.count_limit);
          out->ct_count = static_cast<uint32_t>(out_->ct_counts.size());
          out_->ct_counts.push_back({s.count_limit, s.count_over, true, nullptr});
          if (counted.count_stmt == k_none) counted.count_stmt = out->ct_count;
          out_->uses_ct = true;
        }
        break;
      }
      case stmt_kind::nat:
        out->nat = static_cast<uint32_t>(out_->nats.size());
        out_->nats.push_back(s.nat);
        out_->uses_nat = out_->uses_ct = true;
        if (s.has_map() && !compile_source(t, s, out)) return false;
        break;
      case stmt_kind::synproxy:
        // Options packed in value: mss | wscale << 16 | timestamp << 24 | sack-perm << 25.
        out->value = (s.mss != 0 ? s.mss : 1460u) | (static_cast<uint64_t>(s.wscale) << 16) |
                     (static_cast<uint64_t>(s.timestamp) << 24) |
                     (static_cast<uint64_t>(s.sack_perm) << 25);
        out_->uses_synproxy = out_->uses_ct = true;
        break;
      case stmt_kind::log:
        out->log = static_cast<uint32_t>(out_->logs.size());
        out_->logs.push_back({s.log_prefix, s.log_level, s.log_flags});
        break;
      case stmt_kind::meta_nftrace_set:
        out_->uses_nftrace = out_->uses_nftrace || s.value != 0;
        break;
      case stmt_kind::tcp_mss_set:
        if (s.rt_mtu) out->value = k_mss_rt_mtu;
        break;
      case stmt_kind::quota:
        out->quota = static_cast<uint32_t>(quotas_.size());
        quotas_.push_back(s);
        break;
      case stmt_kind::ct_count:
        out->ct_count = static_cast<uint32_t>(out_->ct_counts.size());
        out_->ct_counts.push_back({static_cast<uint32_t>(s.value), s.over, false, nullptr});
        out_->uses_ct = true;
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
      // A named object's state has its position already (compile_objects).
      const bool own = s.obj_name.empty();
      if (own && cs.counter != k_none) out_->counter_rule.push_back(cr);
      if (own && cs.quota != k_none) out_->quota_rule.push_back(cr);
      if (own && cs.limit != k_none) limit_rules_.push_back(cr);
      if (cs.meter != k_none) meter_rules_.push_back(cr);
      out_->stmts.push_back(cs);
    }
    cr.n_stmts = static_cast<uint32_t>(ru.stmts.size());
    out_->rules.push_back(cr);
    return true;
  }

 public:
  std::vector<limit_params> limits_;
  std::vector<crule> limit_rules_, meter_rules_;
  std::vector<statement> quotas_;
  std::vector<counter_value> counter_start_;  // per counter: the values written in the file

 private:
  const ruleset& rs_;
  const std::vector<std::string>& ports_;
  const std::vector<bridge_members>& bridges_;
  compiled_ruleset* out_;
  error* err_;
  std::vector<std::map<std::string, uint32_t>> table_sets_;
  std::vector<std::map<std::string, uint32_t>> table_maps_;
  std::vector<std::map<std::string, concat_store>> table_concat_;  // named, per table
  std::vector<std::map<std::string, uint32_t>> table_live_;        // live sets, per table
  std::map<std::pair<uint32_t, std::string>, uint32_t> chain_index_;
  std::map<std::tuple<uint32_t, obj_kind, std::string>, uint32_t> table_objects_;
};

}  // namespace

result<std::unique_ptr<compiled_ruleset>> compile(const ruleset& rs, const std::string& source,
                                                  const std::vector<std::string>& ports,
                                                  uint16_t n_workers,
                                                  const std::vector<bridge_members>& bridges) {
  auto out = std::make_unique<compiled_ruleset>();
  out->ast = rs;
  out->source = source;
  error err;
  compiler c(rs, ports, bridges, out.get(), &err);
  if (!c.run()) return err;
  out->limiters = std::make_unique<limiter[]>(out->n_limiters);
  for (uint32_t i = 0; i < out->n_limiters; i++) {
    out->limiters[i].interval_ns = c.limits_[i].interval_ns;
    out->limiters[i].tolerance_ns = c.limits_[i].interval_ns * c.limits_[i].tolerance;
    out->limiters[i].over = c.limits_[i].over;
  }
  out->quotas = std::make_unique<quota_state[]>(std::max<size_t>(1, c.quotas_.size()));
  for (size_t i = 0; i < c.quotas_.size(); ++i) {
    out->quotas[i].bytes = c.quotas_[i].bytes;
    out->quotas[i].over = c.quotas_[i].over;
    out->quotas[i].consumed.store(c.quotas_[i].used, std::memory_order_relaxed);
  }
  build_runs(*out);
  out->n_workers = n_workers;
  for (auto& cc : out->ct_counts)  // counts per element take their set's (fill_live_sets)
    if (!cc.per_element)
      cc.lists =
          std::make_unique<ct::ct_count_lists>(n_workers, 1, ct::ct_count_capacity(cc.limit));
  out->limit_rule = c.limit_rules_;
  out->limit_rule.insert(out->limit_rule.end(), c.meter_rules_.begin(), c.meter_rules_.end());
  out->limit_counters = std::make_unique<compiled_ruleset::limit_counter[]>(
      static_cast<size_t>(n_workers) * std::max<size_t>(1, out->limit_rule.size()));
  out->counters = std::make_unique<rule_counter[]>(static_cast<size_t>(n_workers) *
                                                   std::max(1u, out->n_counters));
  // A counter starts from the values the file gives it, as in nft (a listing saved with
  // `ruleset list` reloads with its counts).
  out->counter_base = std::move(c.counter_start_);
  // No policy until the install assigns the slots (ref 0 names none).
  out->ct_timeout_refs.assign(out->ct_timeouts.size(), 0);
  return out;
}

namespace {

// An element's key: its parts' values side by side, an IPv6 address as its four words.
dyn_key key_of_parts(const set& st, const std::vector<value_range>& parts) {
  const std::vector<std::string_view> types = detail::set_type_parts(st.type);
  uint64_t v[k_max_key_words] = {};
  size_t n = 0;
  for (size_t i = 0; i < parts.size() && n < 4; ++i) {
    if (i >= types.size() || types[i] != "ipv6_addr") {
      v[n++] = static_cast<uint64_t>(parts[i].lo);
      continue;
    }
    for (unsigned w = 0; w < 4 && n < 4; ++w) v[n++] = word_of(parts[i].lo, w);
  }
  return dyn_key::of(v);
}

// Adds an element; `expires_ms` (0: its timeout) is how long until it expires.
void insert_element(dyn_table& t, const dyn_key& k, uint32_t timeout_ms, uint32_t expires_ms,
                    uint32_t now_ms) {
  dyn_slot* slot = nullptr;
  if (t.add(k, timeout_ms, true, now_ms, &slot) == dyn_table::outcome::full) return;
  if (expires_ms != 0 && expires_ms != timeout_ms) {
    const uint32_t at = now_ms + expires_ms;
    slot->expires_ms.store(at == 0 ? 1 : at, std::memory_order_relaxed);
  }
}

// A written element's timeout and expiry, as insert_element takes them.
std::pair<uint32_t, uint32_t> written_timeouts(const set& st,
                                               const std::vector<value_range>& parts) {
  uint64_t timeout = st.timeout_ms, expires = 0;
  if (auto it = st.elem_timeouts.find(parts); it != st.elem_timeouts.end()) {
    if (it->second.first != 0) timeout = it->second.first;
    expires = it->second.second;
  }
  return {static_cast<uint32_t>(timeout), static_cast<uint32_t>(expires)};
}

// The live set of `from` that `ls` (of `to`) continues: the same set (not one made again by
// this load: its serial), of the same type; nullptr if none.
const live_set* predecessor(const compiled_ruleset& to, const live_set& ls,
                            const compiled_ruleset& from) {
  const table& tb = to.ast.tables[ls.ast_table];
  const set& st = tb.sets[ls.ast_set];
  for (const live_set& o : from.live_sets) {
    if (o.ast_set == k_none) continue;
    const table& otb = from.ast.tables[o.ast_table];
    const set& ost = otb.sets[o.ast_set];
    if (ost.serial == st.serial && otb.name == tb.name && ost.name == st.name &&
        ost.type == st.type)
      return &o;
  }
  return nullptr;
}

}  // namespace

namespace {

// A counted set's lists: its predecessor's when the table and the pool are the same (the
// counts go on), new otherwise.
void fill_counts(live_set& ls, const live_set* old, uint16_t n_workers) {
  if (!ls.counted) return;
  const uint32_t pool = ct::ct_count_set_capacity(ls.size, ls.count_limit);
  if (old != nullptr && old->table == ls.table && old->counts != nullptr &&
      old->counts->pool() == pool && old->counts->n_workers() == n_workers) {
    ls.counts = old->counts;
    return;
  }
  ls.counts = std::make_shared<ct::ct_count_lists>(n_workers, ls.table->n_slots(), pool);
}

}  // namespace

void fill_live_sets(compiled_ruleset& to, const compiled_ruleset* from, uint32_t now_ms) {
  for (live_set& ls : to.live_sets) {
    const live_set* old =
        from != nullptr && ls.ast_set != k_none ? predecessor(to, ls, *from) : nullptr;
    if (old != nullptr && old->table->size() == ls.size && old->table->limits() == ls.limits) {
      // Kept: the elements are where they were; apply this load's element commands.
      ls.table = old->table;
      fill_counts(ls, old, to.n_workers);
      const set& st = to.ast.tables[ls.ast_table].sets[ls.ast_set];
      for (const set::elem_op& op : st.ops) {
        const dyn_key k = key_of_parts(st, op.parts);
        if (op.remove) {
          ls.table->remove(k, now_ms);
          continue;
        }
        const auto [timeout, expires] = written_timeouts(st, op.parts);
        insert_element(*ls.table, k, timeout, expires, now_ms);
      }
      continue;
    }
    ls.table = std::make_shared<dyn_table>(ls.size, ls.limits, true);
    fill_counts(ls, nullptr, to.n_workers);
    if (ls.ast_set == k_none) continue;  // a meter: starts empty
    const set& st = to.ast.tables[ls.ast_table].sets[ls.ast_set];
    if (old != nullptr) {
      // Resized: the elements move to the new table (as many as fit), then the commands.
      old->table->for_each(now_ms, [&](const dyn_key& k, uint32_t timeout, uint32_t expires) {
        insert_element(*ls.table, k, timeout, expires, now_ms);
      });
      for (const set::elem_op& op : st.ops)
        if (op.remove) ls.table->remove(key_of_parts(st, op.parts), now_ms);
    }
    const size_t w = st.width();
    for (size_t i = 0; i < st.size(); ++i) {
      const std::vector<value_range> parts(st.elems.begin() + static_cast<ptrdiff_t>(i * w),
                                           st.elems.begin() + static_cast<ptrdiff_t>(i * w + w));
      const dyn_key k = key_of_parts(st, parts);
      if (old != nullptr && ls.table->contains(k, now_ms)) continue;
      const auto [timeout, expires] = written_timeouts(st, parts);
      insert_element(*ls.table, k, timeout, expires, now_ms);
    }
  }
}

}  // namespace ctgate::nft
