// Conntrack events, as conntrack -E shows them (Linux's ctnetlink events): NEW when a flow is
// confirmed, UPDATE when its TCP state changes or it is first replied to or assured, DESTROY
// when it is removed (timeout, conntrack -D/-F, early drop).
//
// A worker makes an event only while ct_runtime::events asks for its type (someone runs
// ctgatectl conntrack -E): a copy of the entry as read_entry takes one, into its own ring,
// which the control plane drains. A full ring loses the event and counts it
// (ct_counter::event_dropped): the packet path never waits.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "common/thread_annotations.h"

#include "common/spsc_ring.h"
#include "conntrack/ct_format.h"

namespace ctgate::ct {

enum : uint8_t { CT_EVENT_NEW = 1, CT_EVENT_UPDATE = 2, CT_EVENT_DESTROY = 4, CT_EVENT_ALL = 7 };

struct ct_event {
  uint32_t at_ms = 0;  // the workers' clock when it happened
  uint8_t type = 0;    // one CT_EVENT_* bit
  entry_view view{};
};

// Per worker: 2048 events (about 420 KiB), drained every 50 ms by the control plane.
struct ct_event_ring : spsc_ring<ct_event, 2048> {};

// Worker side, out of line: the event `type` of entry `e` (confirmed, live, owned or tracked by
// w) into w's ring. Callers check rt->events first.
void emit_event(ct_worker& w, uint8_t type, const ct_entry* e, uint32_t now_ms);

// conntrack -E's line (no newline), as conntrack-tools prints it:
//     [NEW] tcp      6 120 SYN_SENT src=10.0.1.2 dst=10.0.2.2 sport=41234 dport=80 [UNREPLIED] ...
//  [UPDATE] tcp      6 432000 ESTABLISHED src=... [ASSURED]
// [DESTROY] tcp      6 TIME_WAIT src=... [ASSURED]
// A DESTROY shows the seconds that were left, if any (conntrack -D, early drop; not an
// expiry), as Linux's; mark and zone only when set; no use=. `extended`: the family first
// (-o extended).
std::string format_event(const ct_event& ev, bool extended = false);
// One JSON object (no newline) for log shippers: {"event":"NEW","proto":"tcp",...}.
std::string format_event_json(const ct_event& ev);
// "NEW", "UPDATE", "DESTROY".
const char* event_name(uint8_t type);
// conntrack -e's list, "NEW,UPDATE" (ALL: every type); 0 if a name is unknown.
uint8_t parse_event_mask(const std::string& text);

// The control plane's side: the workers' rings drained into one bounded log (16,384 events),
// which each conntrack -E reader reads from its own cursor. Events are made only while a
// reader has polled in the last 10 s. Any control thread; one lock, which workers never take.
class ct_event_log {
 public:
  static constexpr size_t k_capacity = 16384;
  static constexpr uint32_t k_idle_off_ms = 10000;

  // Moves what the workers made into the log (oldest dropped past the capacity).
  void drain(ct_runtime& rt, uint16_t n_workers);
  // A reader's poll at `now_ms`: turns events on. Returns the lines after `cursor` (none: a
  // new reader, which starts now) of the types in `mask` that `f` matches, one per line (JSON
  // objects with `json`), and sets *next to the cursor to ask with next time and *lost to how many
  // events after `cursor` fell off the log before this read.
  std::string read(ct_runtime& rt, uint16_t n_workers, uint32_t now_ms,
                   std::optional<uint64_t> cursor, uint8_t mask, const ct_filter& f, bool json,
                   uint64_t* next, uint64_t* lost, size_t* count);
  // The control thread's tick: drains while on; off (and the log emptied) once no reader has
  // polled for k_idle_off_ms.
  void tick(ct_runtime& rt, uint16_t n_workers, uint32_t now_ms);

 private:
  void drain_locked(ct_runtime& rt, uint16_t n_workers) CTGATE_REQUIRES(mu_);
  mutex mu_;
  std::deque<ct_event> events_ CTGATE_GUARDED_BY(mu_);
  uint64_t next_seq_ CTGATE_GUARDED_BY(mu_) = 1;  // the sequence number of the next event
  uint32_t last_poll_ms_ CTGATE_GUARDED_BY(mu_) = 0;
  bool on_ CTGATE_GUARDED_BY(mu_) = false;
};

}  // namespace ctgate::ct
