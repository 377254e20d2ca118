#include "service.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>

#include "control/gateway.h"

namespace ctgate {

service_notifier::service_notifier() {
  uint64_t usec = 0;
  // > 0: systemd asked for pings every `usec` (WatchdogSec=) and this process is the one.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

void service_notifier::ready(const std::string& status) {
  sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status.c_str(),
             static_cast<unsigned long>(getpid()));
}

void service_notifier::reloading() { sd_notify(0, "RELOADING=1"); }

void service_notifier::stopping(const std::string& status) {
  sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status.c_str());
}

std::string service_notifier::tick(const gateway& gw, uint32_t now_ms) {
  if (watchdog_usec_ == 0) return {};
  // Half the interval, as sd_watchdog_enabled(3) advises.
  const uint64_t every_ms = std::max<uint64_t>(watchdog_usec_ / 2000, 1);
  if (started_ && now_ms - last_ping_ms_ < every_ms) return {};
  std::string stuck;
  if (last_loops_.size() != gw.workers.size()) last_loops_.assign(gw.workers.size(), UINT64_MAX);
  for (size_t i = 0; i < gw.workers.size(); i++) {
    const uint64_t loops = gw.workers[i]->loops.load(std::memory_order_relaxed);
    if (loops == last_loops_[i]) stuck += (stuck.empty() ? "" : ", ") + std::to_string(i);
    last_loops_[i] = loops;
  }
  started_ = true;
  last_ping_ms_ = now_ms;
  if (!stuck.empty()) {
    if (stalled_) return {};
    stalled_ = true;
    return "watchdog: worker " + stuck + " made no progress in " + std::to_string(every_ms) +
           " ms; not telling systemd it is alive (WatchdogSec restarts ctgate if this lasts)";
  }
  const bool was_stalled = stalled_;
  stalled_ = false;
  sd_notify(0, "WATCHDOG=1");
  return was_stalled ? "watchdog: every worker is making progress again" : std::string();
}

}  // namespace ctgate
