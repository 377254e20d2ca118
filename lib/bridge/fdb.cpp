#include "bridge/fdb.h"

#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include <bit>
#include <cstring>
#include <utility>

namespace ctgate {

namespace {

constexpr unsigned k_slots = 8;

// A key: bit 63 set (so no key is 0, the empty slot), the VLAN in bits 48-59, the MAC in 0-47.
uint64_t key_word(uint16_t vlan, const uint8_t mac[6]) {
  uint64_t k = uint64_t{1} << 63 | uint64_t{vlan} << 48;
  for (int i = 0; i < 6; i++) k |= uint64_t{mac[i]} << (40 - 8 * i);
  return k;
}

// A value: the port in bits 0-7, flags in 8-15, a tag of the key's hash in 16-31, the second
// it was last seen in 32-63. A live value is never 0 (k_live), so 0 means "being inserted".
// The tag makes a refresh's CAS fail on a slot reused by another key in the same second.
constexpr uint64_t k_live = 1u << 8;
constexpr uint64_t k_static = 2u << 8;
constexpr uint64_t k_dead = 0x80u << 8;

uint64_t make_value(uint32_t seen_s, uint16_t port, uint64_t h, uint64_t flags) {
  return uint64_t{seen_s} << 32 | ((h >> 16) & 0xffff) << 16 | flags | k_live | port;
}
bool is_live(uint64_t v) { return (v & (k_live | k_dead)) == k_live; }
// Live, and carrying the tag of the key whose hash is `h`: a reader that matched a key and then
// read the value of a key that took the slot since sees a foreign tag (1 in 65536 misses it).
bool is_live_for(uint64_t v, uint64_t h) {
  return is_live(v) && ((v >> 16) & 0xffff) == ((h >> 16) & 0xffff);
}
uint16_t port_of(uint64_t v) { return static_cast<uint16_t>(v & 0xff); }
uint32_t seen_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

}  // namespace

// One line of keys, one of values.
struct alignas(64) fdb::bucket {
  std::atomic<uint64_t> key[k_slots];
  std::atomic<uint64_t> value[k_slots];
};
static_assert(sizeof(std::atomic<uint64_t>) == 8 && std::atomic<uint64_t>::is_always_lock_free);

result<std::unique_ptr<fdb>> fdb::create(const std::string& name, uint32_t max_entries,
                                         const std::vector<uint32_t>& port_limits) {
  if (port_limits.size() > k_fdb_max_ports)
    return error{.message = "a bridge has at most " + std::to_string(k_fdb_max_ports) + " ports"};
  std::unique_ptr<fdb> t(new fdb());
  // Twice the bound in slots, a power of two in buckets (at least two: the second choice).
  const uint64_t buckets =
      std::bit_ceil(std::max<uint64_t>(2, uint64_t{max_entries} * 2 / k_slots));
  t->buckets_ = static_cast<bucket*>(
      rte_zmalloc((name + "_fdb").c_str(), buckets * sizeof(bucket), RTE_CACHE_LINE_SIZE));
  if (t->buckets_ == nullptr)
    return error{.message = "cannot allocate the FDB of " + name + " (" +
                            std::to_string(buckets * sizeof(bucket) >> 10) + " KiB)"};
  t->mask_ = static_cast<uint32_t>(buckets - 1);
  t->max_entries_ = max_entries;
  // Keyed, so that a host choosing source MACs cannot aim them all at one bucket pair.
  t->seed_ = rte_rand();
  for (size_t i = 0; i < port_limits.size(); i++) t->port_limit_[i] = port_limits[i];
  return t;
}

fdb::~fdb() { rte_free(buckets_); }

size_t fdb::memory_bytes() const { return (size_t{mask_} + 1) * sizeof(bucket); }

// murmur3's finaliser over the seeded key: every key bit reaches every hash bit.
uint64_t fdb::hash(uint64_t key) const {
  uint64_t h = key ^ seed_;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

fdb::bucket* fdb::first(uint64_t h) const { return &buckets_[h & mask_]; }
fdb::bucket* fdb::second(uint64_t h) const {
  uint32_t b = static_cast<uint32_t>(h >> 32) & mask_;
  if (b == (h & mask_)) b ^= 1;
  return &buckets_[b];
}

fdb::lookup_key fdb::make_key(uint16_t vlan, const uint8_t mac[6]) const {
  const uint64_t w = key_word(vlan, mac);
  return {w, hash(w)};
}

void fdb::prefetch(const lookup_key& k) const {
  const bucket* b1 = first(k.hash);
  const bucket* b2 = second(k.hash);
  rte_prefetch0(b1->key);
  rte_prefetch0(b2->key);
  rte_prefetch0(b1->value);
  rte_prefetch0(b2->value);
}

int fdb::lookup(const lookup_key& k) const {
  for (bucket* b : {first(k.hash), second(k.hash)})
    for (unsigned i = 0; i < k_slots; i++) {
      // Acquire, here and on the value: an insert clears nothing it did not see dead, so a
      // value read after its key matched is that key's, 0 or dead (not yet, or no more an
      // entry), or, if the slot was reused in between, another key's, which the tag refuses.
      if (b->key[i].load(std::memory_order_acquire) != k.word) continue;
      const uint64_t v = b->value[i].load(std::memory_order_acquire);
      if (is_live_for(v, k.hash)) return port_of(v);
    }
  return -1;
}

bool fdb::insert(const lookup_key& k, uint64_t value) {
  const uint64_t key = k.word, h = k.hash;
  // The emptier bucket first (two choices, the less loaded: at half load no bucket pair
  // overflows in practice; first-fit left one key in 200,000 without a slot).
  bucket* b1 = first(h);
  bucket* b2 = second(h);
  unsigned free1 = 0, free2 = 0;
  for (unsigned i = 0; i < k_slots; i++) {
    free1 += b1->key[i].load(std::memory_order_relaxed) == 0 ? 1 : 0;
    free2 += b2->key[i].load(std::memory_order_relaxed) == 0 ? 1 : 0;
  }
  if (free2 > free1) std::swap(b1, b2);
  for (bucket* b : {b1, b2})
    for (unsigned i = 0; i < k_slots; i++) {
      uint64_t empty = 0;
      if (b->key[i].load(std::memory_order_relaxed) != 0) continue;
      // The slot is ours once the key is in; readers see no entry until the value is stored.
      if (!b->key[i].compare_exchange_strong(empty, key, std::memory_order_acq_rel)) continue;
      // Release: whoever reads this value with acquire sees the key that owns it.
      b->value[i].store(value, std::memory_order_release);
      return true;
    }
  return false;
}

fdb_learn fdb::learn(const lookup_key& k, uint16_t port, uint32_t now_s) {
  const uint64_t key = k.word;
  const uint64_t h = k.hash;
  for (bucket* b : {first(h), second(h)})
    for (unsigned i = 0; i < k_slots; i++) {
      if (b->key[i].load(std::memory_order_acquire) != key) continue;
      uint64_t v = b->value[i].load(std::memory_order_acquire);
      if (!is_live_for(v, h)) continue;
      const uint16_t was = port_of(v);
      if (was == port) {
        // Refreshed at most once a second: a busy host's frames write its line once a second,
        // not once a frame from every worker. A lost CAS is a refresh someone else made.
        if (seen_of(v) != now_s && !(v & k_static))
          b->value[i].compare_exchange_strong(v, make_value(now_s, port, h, 0),
                                              std::memory_order_acq_rel);
        return fdb_learn::known;
      }
      if (v & k_static) return fdb_learn::fixed;
      if (port_limit_[port] != 0 &&
          port_count_[port].load(std::memory_order_relaxed) >= port_limit_[port])
        return fdb_learn::limited;
      if (!b->value[i].compare_exchange_strong(v, make_value(now_s, port, h, 0),
                                               std::memory_order_acq_rel))
        return fdb_learn::known;  // moved or removed meanwhile: the next frame decides
      port_count_[was].fetch_sub(1, std::memory_order_relaxed);
      port_count_[port].fetch_add(1, std::memory_order_relaxed);
      return fdb_learn::moved;
    }
  // Bounds are read, then the entry added: with W workers learning at once the count may pass
  // a bound by W - 1 at most.
  if (count_.load(std::memory_order_relaxed) >= max_entries_) return fdb_learn::full;
  if (port_limit_[port] != 0 &&
      port_count_[port].load(std::memory_order_relaxed) >= port_limit_[port])
    return fdb_learn::limited;
  if (!insert(k, make_value(now_s, port, h, 0))) return fdb_learn::full;
  count_.fetch_add(1, std::memory_order_relaxed);
  port_count_[port].fetch_add(1, std::memory_order_relaxed);
  return fdb_learn::learned;
}

bool fdb::add_static(uint16_t vlan, const uint8_t mac[6], uint16_t port) {
  const lookup_key k = make_key(vlan, mac);
  if (!insert(k, make_value(0, port, k.hash, k_static))) return false;
  count_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool fdb::remove_slot(bucket* b, unsigned i, uint64_t value) {
  // Dead first: a refresh that read `value` now fails its CAS, and no reader takes the slot.
  if (!b->value[i].compare_exchange_strong(value, k_dead, std::memory_order_acq_rel)) return false;
  // Release: an insert that takes the cleared key finds the value dead, not this entry's.
  b->key[i].store(0, std::memory_order_release);
  count_.fetch_sub(1, std::memory_order_relaxed);
  port_count_[port_of(value)].fetch_sub(1, std::memory_order_relaxed);
  return true;
}

uint32_t fdb::age(uint32_t now_s, uint32_t ageing_s) {
  uint32_t removed = 0;
  for (uint64_t bi = 0; bi <= mask_; bi++) {
    bucket* b = &buckets_[bi];
    for (unsigned i = 0; i < k_slots; i++) {
      if (b->key[i].load(std::memory_order_acquire) == 0) continue;
      const uint64_t v = b->value[i].load(std::memory_order_acquire);
      if (!is_live(v) || (v & k_static)) continue;
      // Expired once now >= seen + ageing, in wrapping arithmetic (Linux's has_expired).
      if (static_cast<int32_t>(now_s - seen_of(v) - ageing_s) < 0) continue;
      removed += remove_slot(b, i, v) ? 1 : 0;
    }
  }
  return removed;
}

uint32_t fdb::flush(int port) {
  uint32_t removed = 0;
  for (uint64_t bi = 0; bi <= mask_; bi++) {
    bucket* b = &buckets_[bi];
    for (unsigned i = 0; i < k_slots; i++) {
      const uint64_t v = b->value[i].load(std::memory_order_acquire);
      if (!is_live(v) || (v & k_static) || (port >= 0 && port_of(v) != port)) continue;
      removed += remove_slot(b, i, v) ? 1 : 0;
    }
  }
  return removed;
}

std::vector<fdb_entry> fdb::entries() const {
  std::vector<fdb_entry> out;
  for (uint64_t bi = 0; bi <= mask_; bi++) {
    const bucket* b = &buckets_[bi];
    for (unsigned i = 0; i < k_slots; i++) {
      const uint64_t k = b->key[i].load(std::memory_order_acquire);
      const uint64_t v = b->value[i].load(std::memory_order_acquire);
      if (k == 0 || !is_live(v)) continue;
      fdb_entry e;
      for (int j = 0; j < 6; j++) e.mac[j] = static_cast<uint8_t>(k >> (40 - 8 * j));
      e.vlan = static_cast<uint16_t>((k >> 48) & 0xfff);
      e.port = port_of(v);
      e.is_static = v & k_static;
      e.seen_s = seen_of(v);
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace ctgate
