// systemd's service protocol (sd_notify(3)), for `Type=notify` with a watchdog
// (drivers-config/ctgate.service): readiness once the workers run, a watchdog ping from the
// control loop only while every worker makes progress, and the stop. Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ctgate {

struct gateway;

class service_notifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC (sd_watchdog_enabled) once.
  service_notifier();
  void ready(const std::string& status);
  void stopping(const std::string& status);
  // A reload begins (RELOADING=1); ready() again says it ended.
  void reloading();
  // Called from the control loop: pings the watchdog every half interval, when every worker's
  // loop counter moved since the last ping. A worker that did not is named in the returned line
  // (empty when nothing is to be logged), once per stall; systemd restarts the service when the
  // pings stop for WatchdogSec.
  std::string tick(const gateway& gw, uint32_t now_ms);
  uint64_t watchdog_usec() const { return watchdog_usec_; }

 private:
  uint64_t watchdog_usec_ = 0;
  uint32_t last_ping_ms_ = 0;
  bool started_ = false;
  bool stalled_ = false;
  std::vector<uint64_t> last_loops_;
};

}  // namespace ctgate
