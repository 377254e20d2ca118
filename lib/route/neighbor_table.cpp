#include "route/neighbor_table.h"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <vector>

namespace ctgate {

uint64_t mac_to_u64(const mac_addr& m) {
  uint64_t w = 0;
  for (int i = 0; i < 6; i++) w = (w << 8) | m.b[i];
  return w;
}

mac_addr u64_to_mac(uint64_t w) {
  mac_addr m;
  for (int i = 5; i >= 0; i--) {
    m.b[i] = static_cast<uint8_t>(w);
    w >>= 8;
  }
  return m;
}

template <typename Key>
neighbor_table_t<Key>::~neighbor_table_t() {
  if (hash_ != nullptr) rte_hash_free(hash_);
  if (free_ != nullptr) rte_ring_free(free_);
  delete[] slots_;
}

template <typename Key>
result<std::unique_ptr<neighbor_table_t<Key>>> neighbor_table_t<Key>::create(
    const std::string& name) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = k_capacity;
  p.key_len = sizeof(Key);
  p.hash_func = rte_jhash;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
  // The constructor is private: make_unique cannot reach it.
  std::unique_ptr<neighbor_table_t> t(new neighbor_table_t());
  t->hash_ = rte_hash_create(&p);
  if (t->hash_ == nullptr) {
    return error{.message =
                     "neighbor table: rte_hash_create: " + std::string(rte_strerror(rte_errno))};
  }
  // Multi-producer, multi-consumer: workers take slots, the collector returns them.
  t->free_ = rte_ring_create((name + "_free").c_str(), k_capacity, SOCKET_ID_ANY, RING_F_EXACT_SZ);
  if (t->free_ == nullptr) {
    return error{.message =
                     "neighbor table: rte_ring_create: " + std::string(rte_strerror(rte_errno))};
  }
  t->slots_ = new slot[k_capacity];
  return t;
}

template <typename Key>
bool neighbor_table_t<Key>::lookup(const Key& ip, mac_addr* mac, uint32_t* confirmed) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  const slot& s = slots_[reinterpret_cast<uintptr_t>(data)];
  uint64_t w = s.word.load(std::memory_order_acquire);
  if (!(w & k_valid)) return false;
  *mac = u64_to_mac(w);
  if (confirmed != nullptr)
    *confirmed = (w & k_static) ? 0 : s.confirmed_ms.load(std::memory_order_relaxed);
  return true;
}

// A free slot: one never used (handed out in order), else one the collector freed. -1 when
// the table is full.
template <typename Key>
int32_t neighbor_table_t<Key>::take_slot() {
  uint32_t n = count_.load(std::memory_order_relaxed);
  while (n < k_capacity)
    if (count_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel))
      return static_cast<int32_t>(n);
  void* obj = nullptr;
  if (rte_ring_dequeue(free_, &obj) != 0) return -1;
  return static_cast<int32_t>(reinterpret_cast<uintptr_t>(obj));
}

// Gives back a slot that holds no entry (reset, and no reader can still reach it).
template <typename Key>
void neighbor_table_t<Key>::release_slot(uint32_t idx) {
  // The ring holds every slot: it cannot be full.
  rte_ring_enqueue(free_, reinterpret_cast<void*>(static_cast<uintptr_t>(idx)));
}

template <typename Key>
int32_t neighbor_table_t<Key>::find_or_add(const Key& ip) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) >= 0)
    return static_cast<int32_t>(reinterpret_cast<uintptr_t>(data));
  // The slot is initialised before the key is published, so a reader that finds the key
  // sees its ip. A freed slot comes back reset (gc). It is marked used only once its key is
  // in the hash: the collector never sees a slot whose key is still being added (it would
  // take it for an orphan and free it under the key), and a slot whose add failed is
  // released by this thread alone.
  const int32_t taken = take_slot();
  if (taken < 0) return -1;
  const auto idx = static_cast<uint32_t>(taken);
  slots_[idx].ip = ip;
  if (rte_hash_add_key_data(hash_, &ip, reinterpret_cast<void*>(static_cast<uintptr_t>(idx))) < 0) {
    release_slot(idx);  // never published: nobody can have seen it
    return -1;
  }
  slots_[idx].used.store(true, std::memory_order_release);
  in_use_.fetch_add(1, std::memory_order_relaxed);
  // Two threads adding the same ip concurrently: the later add overwrote
  // the data; both slots hold the same ip and the table points at one. The
  // other slot is harmless (it is never found); bounded by the rarity of it.
  if (rte_hash_lookup_data(hash_, &ip, &data) >= 0)
    return static_cast<int32_t>(reinterpret_cast<uintptr_t>(data));
  return static_cast<int32_t>(idx);
}

template <typename Key>
bool neighbor_table_t<Key>::learn(const Key& ip, const mac_addr& mac, bool is_static,
                                  uint32_t now_ms, uint16_t port) {
  int32_t idx = find_or_add(ip);
  if (idx < 0) return false;
  slot& s = slots_[idx];
  uint64_t old = s.word.load(std::memory_order_acquire);
  if ((old & k_static) && !is_static) return true;
  s.confirmed_ms.store(now_ms, std::memory_order_relaxed);
  s.port.store(port, std::memory_order_relaxed);
  uint64_t w = mac_to_u64(mac) | k_valid | (is_static ? k_static : 0);
  if (old != w) s.word.store(w, std::memory_order_release);
  return true;
}

template <typename Key>
bool neighbor_table_t<Key>::update_if_known(const Key& ip, const mac_addr& mac, uint32_t now_ms,
                                            uint16_t port) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  const uint64_t w = slots_[reinterpret_cast<uintptr_t>(data)].word.load(std::memory_order_acquire);
  if (w & k_static) return false;  // configured: never overridden
  return learn(ip, mac, false, now_ms, port);
}

template <typename Key>
uint32_t neighbor_table_t<Key>::forget_port(uint16_t port) {
  uint32_t forgotten = 0;
  const uint32_t n = count_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    slot& s = slots_[i];
    uint64_t w = s.word.load(std::memory_order_acquire);
    if (!(w & k_valid) || (w & k_static) || s.port.load(std::memory_order_relaxed) != port)
      continue;
    // A learn() racing with this may win: then the entry is simply fresh.
    if (s.word.compare_exchange_strong(w, 0, std::memory_order_release)) forgotten++;
  }
  return forgotten;
}

template <typename Key>
uint32_t neighbor_table_t<Key>::confirmed_ms(const Key& ip) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return 0;
  return slots_[reinterpret_cast<uintptr_t>(data)].confirmed_ms.load(std::memory_order_relaxed);
}

template <typename Key>
bool neighbor_table_t<Key>::should_request(const Key& ip, uint32_t now_ms, uint32_t interval_ms,
                                           uint16_t port) {
  int32_t idx = find_or_add(ip);
  if (idx < 0) return false;
  slot& s = slots_[idx];
  if (!(s.word.load(std::memory_order_acquire) & k_valid))
    s.port.store(port, std::memory_order_relaxed);
  uint32_t next = s.next_request_ms.load(std::memory_order_relaxed);
  if (next != 0 && static_cast<int32_t>(now_ms - next) < 0) return false;
  return s.next_request_ms.compare_exchange_strong(next, now_ms + interval_ms,
                                                   std::memory_order_relaxed);
}

template <typename Key>
bool neighbor_table_t<Key>::confirm(const Key& ip, uint32_t now_ms) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  slot& s = slots_[reinterpret_cast<uintptr_t>(data)];
  const uint64_t w = s.word.load(std::memory_order_acquire);
  if (!(w & k_valid) || (w & k_static)) return false;
  s.confirmed_ms.store(now_ms, std::memory_order_relaxed);
  return true;
}

template <typename Key>
template <typename Pred>
uint32_t neighbor_table_t<Key>::remove_where(Pred doomed_slot, rte_rcu_qsbr* qs) {
  struct doomed {
    uint32_t idx;
    int32_t key_pos;  // -1: the slot lost an add race and was never in the hash
  };
  std::vector<doomed> gone;
  const uint32_t n = count_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    slot& s = slots_[i];
    if (!s.used.load(std::memory_order_acquire) || !doomed_slot(s)) continue;
    void* data = nullptr;
    const int32_t at = rte_hash_lookup_data(hash_, &s.ip, &data);
    int32_t pos = -1;
    if (at >= 0 && reinterpret_cast<uintptr_t>(data) == i) {
      pos = rte_hash_del_key(hash_, &s.ip);
      if (pos < 0) continue;
    }
    s.used.store(false, std::memory_order_release);  // listings skip it from now
    gone.push_back({i, pos});
  }
  if (gone.empty()) return 0;
  // Workers may still hold a slot or key position found before the delete: wait until each
  // has passed a quiescent state (the end of its loop), after which none can.
  if (qs != nullptr) rte_rcu_qsbr_synchronize(qs, RTE_QSBR_THRID_INVALID);
  for (const doomed& d : gone) {
    if (d.key_pos >= 0) rte_hash_free_key_with_position(hash_, d.key_pos);
    slot& s = slots_[d.idx];
    s.word.store(0, std::memory_order_relaxed);
    s.next_request_ms.store(0, std::memory_order_relaxed);
    s.confirmed_ms.store(0, std::memory_order_relaxed);
    s.port.store(0, std::memory_order_relaxed);
    release_slot(d.idx);
  }
  in_use_.fetch_sub(static_cast<uint32_t>(gone.size()), std::memory_order_relaxed);
  return static_cast<uint32_t>(gone.size());
}

template <typename Key>
uint32_t neighbor_table_t<Key>::gc(uint32_t now_ms, const neigh_gc_params& p, rte_rcu_qsbr* qs) {
  if (in_use_.load(std::memory_order_relaxed) < p.thresh1) return 0;
  lock_guard lock(remove_mu_);
  const uint32_t removed = remove_where(
      [&](const slot& s) {
        const uint64_t w = s.word.load(std::memory_order_acquire);
        if (w & k_static) return false;
        // next_request_ms is when the next request may go: a worker resolving it moves it on
        // every retrans_time_ms, so it lies past failed_after_ms only when nobody asks any
        // more. 0: never asked for. Either just added (its first request is being claimed: it
        // stays) or learned and then forgotten (forget_port), which goes once stale.
        const uint32_t next = s.next_request_ms.load(std::memory_order_relaxed);
        const uint32_t confirmed = s.confirmed_ms.load(std::memory_order_relaxed);
        const bool failed =
            !(w & k_valid) && (next != 0 ? static_cast<int32_t>(now_ms - next) >=
                                               static_cast<int32_t>(p.failed_after_ms)
                                         : confirmed != 0 && now_ms - confirmed >= p.stale_ms);
        const bool stale = (w & k_valid) && now_ms - confirmed >= p.stale_ms;
        return failed || stale;
      },
      qs);
  gc_removed_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

template <typename Key>
bool neighbor_table_t<Key>::remove(const Key& ip, rte_rcu_qsbr* qs) {
  lock_guard lock(remove_mu_);
  return remove_where([&](const slot& s) { return s.ip == ip; }, qs) != 0;
}

template <typename Key>
bool neighbor_table_t<Key>::resolved(const Key& ip, bool* is_static) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  const uint64_t w = slots_[reinterpret_cast<uintptr_t>(data)].word.load(std::memory_order_acquire);
  if (is_static != nullptr) *is_static = (w & k_static) != 0;
  return (w & k_valid) != 0;
}

template class neighbor_table_t<uint32_t>;
template class neighbor_table_t<neigh6_key>;

}  // namespace ctgate
