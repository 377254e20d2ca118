// Editing a compiled set or map into a new copy, for element updates without a reload
// (element_update.cpp): the copy is built on the control plane while workers read the old one,
// then swapped in (compiled.h, swappable). Linux's pipapo sets clone themselves per
// transaction the same way; its hash sets insert in place, which a lock-free reader here
// would need tombstones for (docs/design/element-updates.md).
#include <algorithm>

#include "ruleset/compiled.h"

namespace ctgate::nft {

exact_index::exact_index(const std::vector<uint64_t>& keys, bool positions) {
  size_t cap = 2;
  while (cap < 2 * keys.size()) cap *= 2;
  capacity_ = cap;
  mask_ = cap - 1;
  shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(cap));
  wide_ = std::any_of(keys.begin(), keys.end(), [](uint64_t k) { return k > UINT32_MAX; });
  if (wide_)
    keys64_.assign(cap, k_empty<uint64_t>);
  else
    keys32_.assign(cap, k_empty<uint32_t>);
  if (positions) pos_.assign(cap, k_none);
  keys_ = keys.size();
  for (size_t p = 0; p < keys.size(); ++p) {
    if (wide_)
      place(keys64_, keys[p], static_cast<uint32_t>(p));
    else
      place(keys32_, static_cast<uint32_t>(keys[p]), static_cast<uint32_t>(p));
  }
  build_filter();
}

// A power of two of 64-bit words, an eighth of the table's bytes: 8 bits per key for 32-bit
// keys, 16 for 64-bit ones, whose table is twice as big and each pass through the filter a
// costlier miss (at 8 bits, about 5% of concat_100k's absent keys passed, and the lookup cost
// 8 cycles more; docs/bench.md). None while the slots fit in cache. Built from every key,
// which also drops the bits of keys erased since.
void exact_index::build_filter() {
  stale_ = 0;
  const size_t slot_bytes = wide_ ? sizeof(uint64_t) : sizeof(uint32_t);
  if (capacity_ * slot_bytes < k_filter_min_bytes) {
    std::vector<uint64_t>().swap(filter_);
    return;
  }
  const size_t keys_per_word = wide_ ? 4 : 8;
  size_t words = 2;
  while (words * keys_per_word < keys_) words *= 2;
  filter_.assign(words, 0);
  filter_shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(words));
  if (wide_) {
    for (uint64_t k : keys64_)
      if (k != k_empty<uint64_t>) filter_add(k);
  } else {
    for (uint32_t k : keys32_)
      if (k != k_empty<uint32_t>) filter_add(k);
  }
  if (empty_key_pos_ != k_none) filter_add(wide_ ? k_empty<uint64_t> : k_empty<uint32_t>);
}

// Precondition: v is not in the table, and the table has an empty slot.
template <class K>
void exact_index::place(std::vector<K>& keys, K v, uint32_t pos) {
  if (v == k_empty<K>) {
    empty_key_pos_ = pos_.empty() ? 0 : pos;
    return;
  }
  size_t i = slot_of(v);
  while (keys[i] != k_empty<K>) i = (i + 1) & mask_;
  keys[i] = v;
  if (!pos_.empty()) pos_[i] = pos;
}

bool exact_index::insert(uint64_t v, uint32_t pos) {
  if (!wide_ && v > UINT32_MAX) return false;
  const bool all_ones = wide_ ? v == k_empty<uint64_t> : v == k_empty<uint32_t>;
  if (!all_ones && 2 * (keys_ + 1) > capacity_) return false;
  if (!all_ones || empty_key_pos_ == k_none) ++keys_;
  if (wide_)
    place(keys64_, v, pos);
  else
    place(keys32_, static_cast<uint32_t>(v), pos);
  if (!filter_.empty()) filter_add(v);
  return true;
}

template <class K>
void exact_index::remove(std::vector<K>& keys, K v) {
  if (v == k_empty<K>) {
    if (empty_key_pos_ != k_none) --keys_;
    empty_key_pos_ = k_none;
    return;
  }
  size_t i = slot_of(v);
  while (keys[i] != v) {
    if (keys[i] == k_empty<K>) return;
    i = (i + 1) & mask_;
  }
  --keys_;
  // Linear probing without tombstones: move back each later key of the cluster whose home is
  // not between the hole and it, so that every key stays reachable from its home.
  for (size_t j = (i + 1) & mask_; keys[j] != k_empty<K>; j = (j + 1) & mask_) {
    const size_t home = slot_of(keys[j]);
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    keys[i] = keys[j];
    if (!pos_.empty()) pos_[i] = pos_[j];
    i = j;
  }
  keys[i] = k_empty<K>;
  if (!pos_.empty()) pos_[i] = k_none;
}

void exact_index::erase(uint64_t v) {
  const size_t before = keys_;
  if (wide_)
    remove(keys64_, v);
  else if (v <= UINT32_MAX)
    remove(keys32_, static_cast<uint32_t>(v));
  // An erased key's bits stay set (they may be other keys' too): the filter passes more absent
  // keys, never fewer present ones. Rebuilt once a quarter of the keys went that way.
  if (keys_ < before && !filter_.empty() && ++stale_ > keys_ / 4) build_filter();
}

template <class K>
void exact_index::list(const std::vector<K>& keys,
                       std::vector<std::pair<uint64_t, uint32_t>>& out) const {
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] != k_empty<K>) out.emplace_back(keys[i], pos_.empty() ? 0 : pos_[i]);
  if (empty_key_pos_ != k_none) out.emplace_back(k_empty<K>, empty_key_pos_);
}

std::vector<std::pair<uint64_t, uint32_t>> exact_index::entries() const {
  std::vector<std::pair<uint64_t, uint32_t>> out;
  out.reserve(keys_);
  if (wide_)
    list(keys64_, out);
  else
    list(keys32_, out);
  return out;
}

namespace {

bool all_single(const std::vector<value_range>& r) {
  return std::all_of(r.begin(), r.end(), [](const value_range& x) { return x.lo == x.hi; });
}

// Sorted disjoint `ranges` less the values of `remove` (each inside one range).
std::vector<value_range> subtract(const std::vector<value_range>& ranges,
                                  std::vector<value_range> remove) {
  std::sort(remove.begin(), remove.end());
  std::vector<value_range> out;
  out.reserve(ranges.size() + remove.size());
  size_t j = 0;
  for (const value_range& r : ranges) {
    uint64_t from = r.lo;
    bool rest = true;  // [from, r.hi] is still to keep
    for (; j < remove.size() && remove[j].lo <= r.hi; ++j) {
      if (remove[j].lo > from) out.push_back({from, remove[j].lo - 1});
      rest = remove[j].hi < r.hi;
      if (!rest) break;
      from = remove[j].hi + 1;
    }
    if (rest) out.push_back({from, r.hi});
    if (!rest) ++j;
  }
  return out;
}

// Whether a value of r is among the keys: hashed ones (`exact` not empty), or sorted disjoint
// ranges [lo[i], hi[i]]. A range against a hash takes a pass over it (rare: an interval set
// of exact values gaining a range).
bool overlap(const exact_index& exact, const std::vector<uint64_t>& lo,
             const std::vector<uint64_t>& hi, const value_range& r) {
  if (!exact.empty()) {
    if (r.lo == r.hi) return exact.find(r.lo) != k_none;
    for (const auto& kv : exact.entries())
      if (kv.first >= r.lo && kv.first <= r.hi) return true;
    return false;
  }
  const size_t i = last_at_or_below(lo, r.hi);
  return i < lo.size() && hi[i] >= r.lo;
}

}  // namespace

bool range_set::overlaps(const value_range& r) const { return overlap(exact_, lo_, hi_, r); }

std::unique_ptr<range_set> range_set::edited(const std::vector<value_range>& add,
                                             const std::vector<value_range>& remove) const {
  if (hashed() && all_single(add) && all_single(remove)) {
    std::unique_ptr<range_set> out(new range_set());
    out->exact_ = exact_;  // the copy: one pass over the slots
    for (const value_range& r : remove) out->exact_.erase(r.lo);
    for (size_t i = 0; i < add.size(); ++i) {
      if (out->exact_.insert(add[i].lo, 0)) continue;
      // Past a load of 1/2: a table twice the size, with every key.
      std::vector<uint64_t> keys;
      for (const auto& kv : out->exact_.entries()) keys.push_back(kv.first);
      for (size_t k = i; k < add.size(); ++k) keys.push_back(add[k].lo);
      out->exact_ = exact_index(keys, /*positions=*/false);
      break;
    }
    out->n_ = out->exact_.keys();
    return out;
  }
  std::vector<value_range> ranges;
  if (hashed()) {
    for (const auto& kv : exact_.entries()) ranges.push_back({kv.first, kv.first});
    std::sort(ranges.begin(), ranges.end());
  } else {
    ranges.reserve(lo_.size() + add.size());
    for (size_t i = 0; i < lo_.size(); ++i) ranges.push_back({lo_[i], hi_[i]});
  }
  if (!remove.empty()) ranges = subtract(ranges, remove);
  std::vector<value_range> added = add;
  std::sort(added.begin(), added.end());
  std::vector<value_range> merged;
  merged.reserve(ranges.size() + added.size());
  std::merge(ranges.begin(), ranges.end(), added.begin(), added.end(), std::back_inserter(merged));
  return std::make_unique<range_set>(std::move(merged));  // sorted: merges, hashes if worth it
}

bool range_map::overlaps(const value_range& r) const { return overlap(exact_, lo_, hi_, r); }

std::unique_ptr<range_map> range_map::edited(const std::vector<std::pair<value_range, entry>>& add,
                                             const std::vector<value_range>& remove) const {
  const bool single = all_single(remove) && std::all_of(add.begin(), add.end(), [](const auto& a) {
                        return a.first.lo == a.first.hi;
                      });
  if (hashed() && single) {
    std::unique_ptr<range_map> out(new range_map());
    out->exact_ = exact_;
    out->data_ = data_;  // removed keys leave their entry behind until the table is rebuilt
    out->data_.reserve(data_.size() + add.size());
    for (const value_range& r : remove) out->exact_.erase(r.lo);
    bool fits = true;
    for (const auto& [key, e] : add) {
      out->data_.push_back(e);
      fits = fits && out->exact_.insert(key.lo, static_cast<uint32_t>(out->data_.size() - 1));
    }
    if (fits) return out;
    // Past a load of 1/2 (the adds not inserted are still in data_ beyond the table's
    // positions): rebuild from the table's keys and the adds after the first that failed.
    std::vector<value_range> keys;
    std::vector<entry> data;
    std::vector<bool> in_table(out->data_.size(), false);
    for (const auto& [k, pos] : out->exact_.entries()) {
      keys.push_back({k, k});
      data.push_back(out->data_[pos]);
      in_table[pos] = true;
    }
    for (size_t i = 0; i < add.size(); ++i) {
      const size_t pos = data_.size() + i;
      if (in_table[pos]) continue;
      keys.push_back(add[i].first);
      data.push_back(add[i].second);
    }
    return std::make_unique<range_map>(keys, std::move(data));
  }
  std::vector<value_range> keys;
  std::vector<entry> data;
  std::vector<value_range> gone = remove;
  std::sort(gone.begin(), gone.end());
  auto keep = [&](const value_range& k) {
    return !std::binary_search(gone.begin(), gone.end(), k);
  };
  if (hashed()) {
    for (const auto& [k, pos] : exact_.entries())
      if (keep({k, k})) {
        keys.push_back({k, k});
        data.push_back(data_[pos]);
      }
  } else {
    for (size_t i = 0; i < lo_.size(); ++i)
      if (keep({lo_[i], hi_[i]})) {
        keys.push_back({lo_[i], hi_[i]});
        data.push_back(data_[i]);
      }
  }
  for (const auto& [k, e] : add) {
    keys.push_back(k);
    data.push_back(e);
  }
  return std::make_unique<range_map>(keys, std::move(data));
}

}  // namespace ctgate::nft
