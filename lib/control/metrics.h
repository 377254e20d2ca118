// The Prometheus endpoint: `metrics: { listen: 127.0.0.1:9101 }` in the config serves
// GET /metrics in Prometheus's text exposition format (version 0.0.4).
//
// libmicrohttpd's own thread answers; a scrape reads the workers' per-lcore counters with
// relaxed loads, as the telemetry commands do, and takes only control-plane locks (the
// ruleset's, the routes'), which no worker ever takes: a scrape never stalls a worker.
// docs/operations.md "Metrics" lists the metrics; docs/design/concurrency.md "Metrics".
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"

struct MHD_Daemon;

namespace ctgate {

struct gateway;

// Every metric, as one scrape returns it. Counters are the sums the workers have published so
// far; gauges are read once each, without a common instant (as /proc's are).
std::string metrics_text(gateway& gw);

class metrics_server {
 public:
  // Listens on `mc`'s address and port. Errors name the config key and line and say why (the
  // address is not this host's, the port is taken).
  static result<std::unique_ptr<metrics_server>> start(gateway& gw, const metrics_config& mc);
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  uint16_t port() const { return port_; }  // the bound one (the config's 0: any)
  gateway& gw() { return gw_; }

 private:
  explicit metrics_server(gateway& gw) : gw_(gw) {}
  gateway& gw_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace ctgate
