#include "conntrack/flow_table.h"

#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "conntrack/flow_cache.h"

namespace ctgate::ct {

uint8_t icmp_reply_type(uint8_t t) {
  switch (t) {
    case icmp::echo: return icmp::echo_reply;
    case icmp::timestamp: return icmp::timestamp_reply;
    case icmp::info_request: return icmp::info_reply;
    case icmp::address: return icmp::address_reply;
    default: return k_icmp_not_query;
  }
}

uint8_t icmp6_reply_type(uint8_t t) {
  switch (t) {
    case 128: return 129;  // echo request, reply
    case 139: return 140;  // node information query, reply
    default: return k_icmp_not_query;
  }
}

ct_tuple invert(const ct_tuple& t) {
  ct_tuple r = t;
  r.src = t.dst;
  r.dst = t.src;
  if (is_icmp_like(t.proto)) {
    const auto type = static_cast<uint8_t>(t.dport >> 8);
    const uint8_t reply = t.proto == IPPROTO_ICMP ? icmp_reply_type(type) : icmp6_reply_type(type);
    r.dport = static_cast<uint16_t>((reply << 8) | (t.dport & 0xff));
  } else {
    r.sport = t.dport;
    r.dport = t.sport;
  }
  return r;
}

track_state ct_entry::load_track() const {
  return std::bit_cast<track_state>(track.load(std::memory_order_acquire));
}

void ct_entry::store_track(const track_state& s) {
  track.store(std::bit_cast<uint64_t>(s), std::memory_order_release);
}

bool ct_entry::cas_track(uint64_t& expected, const track_state& s) {
  return track.compare_exchange_strong(expected, std::bit_cast<uint64_t>(s),
                                       std::memory_order_acq_rel);
}

flow_table::~flow_table() {
  if (hash_ != nullptr) rte_hash_free(hash_);
  rte_free(entries_);
  rte_free(windows_);
  rte_free(acct_.load(std::memory_order_relaxed));
  rte_free(nat_replies_.load(std::memory_order_relaxed));
  rte_free(addrs6_);
  rte_free(nat_replies6_);
}

namespace {
constexpr uint32_t k_reclaim_trigger = 1024;
constexpr uint32_t k_reclaim_batch = 128;
}  // namespace

result<rte_hash*> create_shared_hash(const std::string& name, uint32_t entries, rte_rcu_qsbr* qs,
                                     const char* what) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = entries;
  p.key_len = sizeof(flow_key);
  p.hash_func = rte_hash_crc;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD |
                 RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  rte_hash* h = rte_hash_create(&p);
  if (h == nullptr)
    return error{.message = std::string(what) + ": rte_hash_create: " + rte_strerror(rte_errno)};
  if (qs == nullptr) return h;  // the caller frees deleted positions (flow_table::release)
  rte_hash_rcu_config rc{};
  rc.v = qs;
  rc.mode = RTE_HASH_QSBR_MODE_DQ;
  // Reclaim in batches: by default every delete that finds the queue non-empty also tries to
  // reclaim. The queue keeps up to trigger_reclaim_limit positions, and a delete that finds
  // more reclaims up to k_reclaim_batch of the oldest. The reclaim runs inside the delete,
  // under the table's writer lock, which every other worker's adds and deletes wait for: a
  // batch of 128 keeps that short. DPDK 22.11's defer queue also calls rte_log at INFO level
  // once for every position it takes and once for every one it gives back, which prints
  // nothing but costs about 90 instructions each; the flow table, which deletes far more often
  // than the reply tables, waits for its grace periods itself (flow_table::release).
  // An add that finds no free position reclaims on its own (rte_hash's alloc_slot).
  rc.trigger_reclaim_limit = std::min<uint32_t>(k_reclaim_trigger, entries / 8);
  rc.max_reclaim_size = k_reclaim_batch;
  if (rte_hash_rcu_qsbr_add(h, &rc) != 0) {
    const std::string why = rte_strerror(rte_errno);
    rte_hash_free(h);
    return error{.message = std::string(what) + ": rte_hash_rcu_qsbr_add: " + why};
  }
  return h;
}

result<std::unique_ptr<flow_table>> flow_table::create(const std::string& name, uint32_t max) {
  std::unique_ptr<flow_table> t(new flow_table());
  t->max_ = max;
  // Slack over max: positions freed by deletes wait a grace period on their owner's retired
  // list before reuse (release), and cuckoo displacement can fail near 100% load. rte_hash adds
  // about 8,000 positions more for its per-lcore caches of free positions, sized for 128 lcores,
  // which the few workers leave mostly unused.
  uint64_t entries = static_cast<uint64_t>(max) + max / 8 + 64;
  result<rte_hash*> h =
      create_shared_hash(name, static_cast<uint32_t>(entries), nullptr, "flow table");
  if (!h) return h.error();
  t->hash_ = *h;
  t->capacity_ = static_cast<uint32_t>(rte_hash_max_key_id(t->hash_)) + 1;
  size_t bytes = sizeof(ct_entry) * static_cast<size_t>(t->capacity_);
  t->entries_ = static_cast<ct_entry*>(rte_zmalloc("ct_entries", bytes, 64));
  if (t->entries_ == nullptr) {
    return error{.message =
                     "flow table: cannot allocate " + std::to_string(bytes) + " bytes of entries"};
  }
  for (uint32_t i = 0; i < t->capacity_; i++) new (&t->entries_[i]) ct_entry();
  // TCP window records, one per position (tcp_window.h). Zeroed memory is
  // a valid empty record; every new flow initialises its own.
  const size_t window_bytes = sizeof(tcp_window) * static_cast<size_t>(t->capacity_);
  t->windows_ = static_cast<tcp_window*>(rte_zmalloc("ct_windows", window_bytes, 64));
  if (t->windows_ == nullptr) {
    return error{.message = "flow table: cannot allocate " + std::to_string(window_bytes) +
                            " bytes of TCP window records"};
  }
  bytes += window_bytes;
  // Hash memory: buckets (64 B each, 8 slots) twice (main + ext) plus the key
  // store (key + data pointer per slot).
  size_t buckets = (entries + 7) / 8;
  size_t pow2 = 1;
  while (pow2 < buckets) pow2 <<= 1;
  t->memory_bytes_ = bytes + pow2 * 2 * 128 + t->capacity_ * (sizeof(flow_key) + 8);
  return t;
}

namespace {
// The signature rte_hash computes through its hash_func pointer, computed here inline for the
// 16-byte key (two CRC32-C steps): the call per key was about a quarter of a lookup's
// instructions and a fifth of a delete's. It must be what the table computes for the calls
// without a signature: the same function (rte_hash_crc, create_shared_hash's hash_func) with the
// same initial value (0, unset).
inline hash_sig_t flow_sig(const flow_key& k) {
  static_assert(sizeof(flow_key) == 16);
  // rte_hash_crc's steps for 16 bytes, without its loop over the length.
  uint64_t half[2];
  std::memcpy(half, &k, sizeof half);
  return rte_hash_crc_8byte(half[1], rte_hash_crc_8byte(half[0], 0));
}
}  // namespace

void shared_hash_lookup_bulk(const rte_hash* h, const flow_key* const* keys, uint32_t n,
                             int32_t* pos) {
  RTE_ASSERT(n <= RTE_HASH_LOOKUP_BULK_MAX);
  hash_sig_t sig[RTE_HASH_LOOKUP_BULK_MAX];
  for (uint32_t i = 0; i < n; i++) sig[i] = flow_sig(*keys[i]);
  rte_hash_lookup_with_hash_bulk(
      h, reinterpret_cast<const void**>(const_cast<const flow_key**>(keys)), sig, n, pos);
}

uint32_t shared_hash_sig(const flow_key& k) { return flow_sig(k); }

int32_t shared_hash_lookup(const rte_hash* h, const flow_key& k) {
  return rte_hash_lookup_with_hash(h, &k, flow_sig(k));
}

int32_t shared_hash_add(const rte_hash* h, const flow_key& k) {
  return rte_hash_add_key_with_hash(h, &k, flow_sig(k));
}

int32_t shared_hash_del(const rte_hash* h, const flow_key& k) {
  return rte_hash_del_key_with_hash(h, &k, flow_sig(k));
}

void flow_table::lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* pos) const {
  shared_hash_lookup_bulk(hash_, keys, n, pos);
}

uint32_t flow_table::lookup_bulk(const flow_key* const* keys, uint32_t n, int32_t* pos,
                                 flow_cache& cache, uint32_t* found) const {
  RTE_ASSERT(n <= RTE_HASH_LOOKUP_BULK_MAX);
  hash_sig_t sig[RTE_HASH_LOOKUP_BULK_MAX];
  for (uint32_t i = 0; i < n; i++) {
    sig[i] = flow_sig(*keys[i]);
    pos[i] = cache.find(sig[i]);
    if (pos[i] >= 0) rte_prefetch0(at(static_cast<uint32_t>(pos[i])));
  }
  // A cached position is the key's while its entry is live with the key: an entry found live
  // here is not reused before this worker's next quiescent point (the table's grace period),
  // and its key does not change while it lives. Anything else is looked up in the table.
  const flow_key* missed[RTE_HASH_LOOKUP_BULK_MAX];
  hash_sig_t missed_sig[RTE_HASH_LOOKUP_BULK_MAX];
  uint8_t missed_at[RTE_HASH_LOOKUP_BULK_MAX];
  uint32_t n_missed = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (pos[i] >= 0) {
      const ct_entry* e = at(static_cast<uint32_t>(pos[i]));
      if (is_live(e->live.load(std::memory_order_acquire)) && is_key_of(e->orig, *keys[i]))
        continue;
    }
    missed[n_missed] = keys[i];
    missed_sig[n_missed] = sig[i];
    missed_at[n_missed++] = static_cast<uint8_t>(i);
  }
  *found = n - n_missed;
  if (n_missed == 0) return n;
  int32_t in_table[RTE_HASH_LOOKUP_BULK_MAX];
  rte_hash_lookup_with_hash_bulk(
      hash_, reinterpret_cast<const void**>(const_cast<const flow_key**>(missed)), missed_sig,
      n_missed, in_table);
  for (uint32_t k = 0; k < n_missed; k++) {
    pos[missed_at[k]] = in_table[k];
    if (in_table[k] >= 0) {
      cache.insert(missed_sig[k], in_table[k]);
      ++*found;
    }
  }
  return n - n_missed;
}

int32_t flow_table::lookup(const flow_key& k) const { return shared_hash_lookup(hash_, k); }

int32_t flow_table::add(const flow_key& k) { return shared_hash_add(hash_, k); }

int32_t flow_table::del(const flow_key& k) { return shared_hash_del(hash_, k); }

uint32_t flow_table::positions_taken() const {
  return static_cast<uint32_t>(rte_hash_count(hash_));
}

uint32_t flow_table::release(uint32_t head) {
  uint32_t n = 0;
  rte_spinlock_lock(&release_lock_);
  for (uint32_t p = head; p != k_no_pos; n++) {
    // The link first: once FREE, the entry may be claimed and rewritten. FREE before the
    // position goes back (a release store, and rte_hash's ring or this lcore's cache after it),
    // so the add that takes the position finds the entry claimable.
    ct_entry& e = entries_[p];
    const uint32_t next = e.wheel_next;
    const uint32_t live = e.live.load(std::memory_order_relaxed);
    e.live.store((live & ~ENTRY_STATE_MASK) | ENTRY_FREE, std::memory_order_release);
    rte_hash_free_key_with_position(hash_, static_cast<int32_t>(p));
    p = next;
  }
  rte_spinlock_unlock(&release_lock_);
  return n;
}

result<void> flow_table::enable_accounting() {
  if (accounting()) return {};
  const size_t bytes = sizeof(ct_acct) * static_cast<size_t>(capacity_);
  auto* a = static_cast<ct_acct*>(rte_zmalloc("ct_acct", bytes, 64));
  if (a == nullptr)
    return error{.message = "conntrack accounting: cannot allocate " + std::to_string(bytes) +
                            " bytes (32 per flow)"};
  // Release: the zeroed array before workers see its pointer.
  acct_.store(a, std::memory_order_release);
  memory_bytes_ += bytes;
  return {};
}

result<void> flow_table::enable_ipv6() {
  if (addrs6_ != nullptr) return {};
  const size_t bytes = sizeof(ct_addr6) * static_cast<size_t>(capacity_);
  addrs6_ = static_cast<ct_addr6*>(rte_zmalloc("ct_addr6", bytes, 64));
  if (addrs6_ == nullptr)
    return error{.message = "conntrack for IPv6: cannot allocate " + std::to_string(bytes) +
                            " bytes (32 per flow) of addresses"};
  memory_bytes_ += bytes;
  if (nat_replies_.load(std::memory_order_acquire) != nullptr) return enable_nat_replies6();
  return {};
}

result<void> flow_table::enable_nat_replies6() {
  if (nat_replies6_ != nullptr || addrs6_ == nullptr) return {};
  const size_t bytes = sizeof(ct_addr6) * static_cast<size_t>(capacity_);
  nat_replies6_ = static_cast<ct_addr6*>(rte_zmalloc("ct_nat_replies6", bytes, 64));
  if (nat_replies6_ == nullptr)
    return error{.message = "conntrack NAT for IPv6: cannot allocate " + std::to_string(bytes) +
                            " bytes (32 per flow) of reply addresses"};
  memory_bytes_ += bytes;
  return {};
}

result<void> flow_table::enable_nat_replies() {
  if (nat_replies_.load(std::memory_order_acquire) != nullptr) return {};
  // The IPv6 reply addresses first: a worker that sees the reply tuples finds them too.
  if (result<void> r6 = enable_nat_replies6(); !r6) return r6;
  const size_t bytes = sizeof(ct_tuple) * static_cast<size_t>(capacity_);
  auto* r = static_cast<ct_tuple*>(rte_zmalloc("ct_nat_replies", bytes, 64));
  if (r == nullptr)
    return error{.message = "conntrack NAT: cannot allocate " + std::to_string(bytes) +
                            " bytes (16 per flow)"};
  nat_replies_.store(r, std::memory_order_release);
  memory_bytes_ += bytes;
  return {};
}

bool flow_table::try_reserve(bool privileged) {
  int64_t limit = static_cast<int64_t>(privileged ? max_ : max_ - reserved_);
  int64_t n = count_.fetch_add(1, std::memory_order_relaxed);
  if (n < limit) return true;
  count_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

}  // namespace ctgate::ct
