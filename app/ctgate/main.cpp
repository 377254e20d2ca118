// ctgate: the gateway daemon.
//
//   ctgate --config FILE            run
//   ctgate --check-config FILE      validate a config and exit (0 ok, 1 error)
//
// Startup may fail loudly (and exit non-zero with one clear line); once the
// workers run, errors are counted, never thrown.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_pdump.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "common/flag_names.h"
#include "conntrack/ct_format.h"
#include "control/gateway.h"
#include "control/metrics.h"
#include "control/ports.h"
#include "control/reload.h"
#include "control/rule_log.h"
#include "control/ruleset_runtime.h"
#include "control/telemetry.h"
#include "dataplane/pipeline.h"
#include "service.h"
#include "synproxy/synproxy.h"

DEFINE_string(config, "", "gateway config file (YAML, see docs/config.md)");
DEFINE_string(check_config, "", "validate this config file and exit");
DEFINE_string(check_ruleset, "",
              "validate this nft ruleset file and exit (like nft -c -f); with --config, "
              "interface names are checked against its ports");
DEFINE_uint32(run_seconds, 0, "stop after this many seconds (0: run until SIGINT/SIGTERM)");
DEFINE_uint32(exit_idle_ms, 0,
              "stop once no packet has arrived for this long, after the first one (pcap tests)");
DEFINE_string(dump_conntrack, "", "at exit, write `conntrack -L` lines to this file");
DEFINE_uint32(stats_interval, 0, "log a stats line every N seconds (overrides the config)");

namespace {

ctgate::gateway* g_gw = nullptr;

// Errors go to stderr as their text, ending with one newline.
void print_error(const ctgate::error& e) {
  std::string text = e.to_string();
  std::fprintf(stderr, "%s%s", text.c_str(), text.empty() || text.back() == '\n' ? "" : "\n");
}

// Which signal stopped ctgate, and who sent it: logged once the loop ends,
// so a ctgate that stops unexpectedly says why.
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_stop_sender = 0;
// SIGHUP: reload the ruleset, from the control loop (a handler may do nothing more).
volatile sig_atomic_t g_reload_requested = 0;

void on_reload_signal(int) { g_reload_requested = 1; }

void on_signal(int sig, siginfo_t* info, void*) {
  g_stop_signal = sig;
  g_stop_sender = info != nullptr ? info->si_pid : 0;
  if (g_gw != nullptr) g_gw->stop.store(true);
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_reload_signal;
  hup.sa_flags = SA_RESTART;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

// SIGHUP's reload: systemd hears RELOADING=1, then READY=1 with the outcome in STATUS.
void reload_on_signal(ctgate::gateway& gw, ctgate::service_notifier& service) {
  service.reloading();
  ctgate::result<ctgate::reload_summary> r = ctgate::reload_config(gw);
  if (!r) {
    LOG(ERROR) << "SIGHUP: config not reloaded, the running one stays: " << r.error().to_string();
    service.ready("forwarding; the last reload failed: " + r.error().to_string());
    return;
  }
  for (const auto& w : r->ruleset.warnings) LOG(WARNING) << w;
  if (r->has_ruleset)
    LOG(INFO) << "SIGHUP: ruleset " << gw.cfg.ruleset << " reloaded: " << r->ruleset.tables
              << " tables, " << r->ruleset.chains << " chains, " << r->ruleset.rules << " rules";
  for (const auto& c : r->changes) LOG(INFO) << "SIGHUP: " << c;
  service.ready("forwarding; config reloaded");
}

// "SIGTERM from pid 123 (python3 test.py)"; the sender may be gone by now.
std::string describe_stop_signal() {
  const int sig = g_stop_signal;
  const pid_t pid = g_stop_sender;
  std::string s = std::string(sig == SIGINT    ? "SIGINT"
                              : sig == SIGTERM ? "SIGTERM"
                                               : "signal") +
                  " from pid " + std::to_string(pid);
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmd, arg;
  while (std::getline(f, arg, '\0')) cmd += (cmd.empty() ? "" : " ") + arg;
  if (!cmd.empty()) s += " (" + cmd.substr(0, 200) + ")";
  return s;
}

std::vector<std::string> eal_args(const ctgate::gateway_config& cfg,
                                  const std::vector<std::string>& port_args) {
  std::vector<std::string> a = {"ctgate",
                                "--lcores",
                                cfg.eal.lcores,
                                "--file-prefix",
                                cfg.eal.file_prefix,
                                "-m",
                                std::to_string(cfg.eal.memory_mb)};
  if (cfg.eal.no_huge) a.push_back("--no-huge");
  if (cfg.eal.no_pci) a.push_back("--no-pci");
  a.insert(a.end(), port_args.begin(), port_args.end());
  a.insert(a.end(), cfg.eal.extra_args.begin(), cfg.eal.extra_args.end());
  return a;
}

uint64_t total_rx(const ctgate::gateway& gw) {
  uint64_t n = 0;
  for (auto* w : gw.workers) n += w->counters.get(ctgate::dp_counter::rx);
  return n;
}

// `log` statements: workers queue records; the control thread prints them, at the glog
// severity of their level (emerg..err: ERROR, warn: WARNING, notice..debug: INFO).
void drain_rule_logs(ctgate::gateway& gw) {
  ctgate::nft_log_record r;
  for (auto* w : gw.workers) {
    for (int i = 0; i < 1024 && w->logs->pop(&r); i++) {
      const std::string line = ctgate::rule_log_line(gw, r);
      if (r.level <= 3)
        LOG(ERROR) << line;
      else if (r.level == 4)
        LOG(WARNING) << line;
      else
        LOG(INFO) << line;
    }
  }
}

void drain_log_mailbox(ctgate::gateway& gw) {
  drain_rule_logs(gw);
  if (gw.mailbox.take(ctgate::log_kind::conntrack_table_full))
    LOG(WARNING) << "nf_conntrack: table full, dropping packet (count=" << gw.ct.table->count()
                 << " max=" << gw.ct.table->max() << ")";
  if (gw.mailbox.take(ctgate::log_kind::nat_no_port)) {
    const auto& n = gw.ct.nat_full_note;
    auto ip = [](uint32_t a) {
      return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
             std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
    };
    const std::string range =
        n.v6 ? "[" + ctgate::format_ipv6(n.addr6_min) + "]" +
                   (n.addr6_max == n.addr6_min ? "" : "-[" + ctgate::format_ipv6(n.addr6_max) + "]")
             : ip(n.addr_min) + (n.addr_max != n.addr_min ? "-" + ip(n.addr_max) : "");
    LOG(WARNING) << "nf_nat: no free tuple in " << (n.manip == 0 ? "source" : "destination")
                 << " range " << range
                 << (n.port_min != 0
                         ? ":" + std::to_string(n.port_min) + "-" + std::to_string(n.port_max)
                         : "")
                 << ", dropping new connection (conntrack -S nat_no_port)";
  }
  if (gw.mailbox.take(ctgate::log_kind::conntrack_invalid))
    LOG(INFO) << ctgate::ct::format_invalid_note(gw.ct.invalid_note);
}

// EAL's runtime directory for `prefix`, as root (ctgate runs as root).
std::string runtime_dir(const std::string& prefix) { return "/var/run/dpdk/" + prefix; }

// The PID of the process holding `prefix`'s DPDK runtime lock (0: none).
// EAL's own message for this ("Cannot create lock ... Is another primary
// process running?") names neither the process nor the setting to change.
// EAL locks its config file with a write lock for the whole run; F_GETLK asks
// who holds it without taking it. Root's runtime directory only (ctgate runs
// as root); elsewhere EAL's message stands.
pid_t prefix_holder(const std::string& prefix) {
  const std::string path = runtime_dir(prefix) + "/config";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  const bool locked = fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
  close(fd);
  return locked ? lk.l_pid : 0;
}

// rte_eal_cleanup, then removes what EAL leaves behind, so a stopped ctgate
// holds nothing. EAL keeps its hugepage files (HugePages_Free stays down by
// eal.memory_mb until they are deleted) and its runtime directory with a
// stale telemetry socket. --huge-unlink would drop the files early, but
// secondary processes (dpdk-dumpcap) need them while ctgate runs.
void eal_cleanup(const ctgate::gateway_config& cfg) {
  rte_pdump_uninit();
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir(cfg.eal.file_prefix), ec);
  if (cfg.eal.no_huge) return;
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, rest;
  const std::string stem = cfg.eal.file_prefix + "map_";
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type != "hugetlbfs") continue;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().filename().string().starts_with(stem)) std::filesystem::remove(e.path(), ec);
  }
}

// DPDK 22.11's rte_pcapng sets its clock (TSC to wall time) at its first conversion, and the
// first conversion is of a timestamp the capture callback read before: the difference wraps,
// and every timestamp after it is 2^64 ns / tsc_hz ahead (224 years at 2.6 GHz, which tcpdump's
// time of day shows as about 2 hours behind). Converting one timestamp half a second ahead
// first sets the clock right. Fixed upstream in 23.11 (166591931b, "pcapng: modify timestamp
// calculation"), not backported. docs/operations.md, "Capture".
void set_capture_clock() {
  rte_mempool* mp =
      rte_pktmbuf_pool_create("ctgate_pcapng_clock", 7, 0, 0,
                              static_cast<uint16_t>(rte_pcapng_mbuf_size(64)), SOCKET_ID_ANY);
  rte_mbuf* m = mp != nullptr ? rte_pktmbuf_alloc(mp) : nullptr;
  if (m == nullptr || rte_pktmbuf_append(m, 64) == nullptr) {
    LOG(WARNING) << "capture: could not set the capture clock: timestamps may be off";
  } else {
    rte_pktmbuf_free(rte_pcapng_copy(0, 0, m, mp, 64, rte_get_tsc_cycles() + rte_get_tsc_hz() / 2,
                                     RTE_PCAPNG_DIRECTION_UNKNOWN));
  }
  rte_pktmbuf_free(m);
  rte_mempool_free(mp);
}

// Live capture (docs/operations.md, "Capture"): dpdk-dumpcap and dpdk-pdump attach as
// secondary processes and ask over EAL's multi-process channel for RX/TX callbacks on the
// ports' queues; rte_pdump_init registers the handler that installs them. Until a capture
// starts there is no callback, and rte_eth_rx_burst/tx_burst pay one test of an empty list.
// Secondary processes map the primary's hugepage files, so without hugepages no capture can
// attach: the log says so instead of leaving dumpcap to fail obscurely.
void capture_init(const ctgate::gateway_config& cfg) {
  if (cfg.eal.no_huge) {
    LOG(INFO) << "capture: unavailable (eal.no_huge: dpdk-dumpcap cannot map this process's "
                 "memory)";
    return;
  }
  if (rte_pdump_init() != 0) {
    LOG(WARNING) << "capture: unavailable: rte_pdump_init: " << rte_strerror(rte_errno);
    return;
  }
  set_capture_clock();
  LOG(INFO) << "capture: ready (ctgatectl capture PORT, or dpdk-dumpcap --file-prefix "
            << cfg.eal.file_prefix << ")";
}

int run(const ctgate::gateway_config& cfg) {
  if (pid_t holder = prefix_holder(cfg.eal.file_prefix); holder != 0) {
    LOG(ERROR) << cfg.source_file << ": eal.file_prefix '" << cfg.eal.file_prefix
               << "' is in use by process " << holder
               << " (another ctgate or DPDK application): give each its own file_prefix";
    return 1;
  }
  auto args = eal_args(cfg, ctgate::port_eal_args(cfg));
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  std::string joined;
  for (auto& s : args) joined += s + " ";
  LOG(INFO) << "EAL: " << joined;
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    // rte_errno is not always set (a failed lock leaves it 0: "Success").
    LOG(ERROR) << "EAL initialisation failed"
               << (rte_errno != 0 ? std::string(" (") + rte_strerror(rte_errno) + ")" : "")
               << ": see the EAL lines above; check hugepages, lcores and devargs";
    return 1;
  }
  capture_init(cfg);
  unsigned worker_lcores = rte_lcore_count() - 1;
  if (cfg.workers > worker_lcores) {
    LOG(ERROR) << cfg.source_file << ": workers: " << cfg.workers << " workers need "
               << cfg.workers + 1 << " lcores (eal.lcores gives " << rte_lcore_count() << ")";
    eal_cleanup(cfg);
    return 1;
  }
  auto made = ctgate::gateway_create(cfg, "ctgate");
  if (!made) {
    LOG(ERROR) << made.error().to_string();
    eal_cleanup(cfg);
    return 1;
  }
  ctgate::gateway* gw = (*made).release();
  if (ctgate::result<void> started = ctgate::ports_start(*gw); !started) {
    LOG(ERROR) << started.error().to_string();
    delete gw;
    eal_cleanup(cfg);
    return 1;
  }
  if (!cfg.ruleset.empty()) {
    const std::string path = ctgate::config_ruleset_path(cfg);
    ctgate::result<ctgate::ruleset_summary> r = ctgate::load_ruleset_file(*gw, path);
    if (!r) {
      print_error(r.error());
      LOG(ERROR) << "ruleset " << cfg.ruleset << " not loaded";
      ctgate::ports_stop(*gw);
      delete gw;
      eal_cleanup(cfg);
      return 1;
    }
    for (const auto& w : r->warnings) LOG(WARNING) << w;
    LOG(INFO) << "ruleset " << cfg.ruleset << ": " << r->tables << " tables, " << r->chains
              << " chains, " << r->rules << " rules";
  }
  g_gw = gw;
  install_stop_handlers();
  ctgate::telemetry_register(gw);
  // The metrics endpoint; a reload may move it (from a telemetry thread: under metrics_mu).
  std::mutex metrics_mu;
  std::unique_ptr<ctgate::metrics_server> metrics;
  auto start_metrics = [&](const ctgate::metrics_config& mc) -> ctgate::result<void> {
    auto started = ctgate::metrics_server::start(*gw, mc);
    if (!started) return std::move(started).error();
    metrics = std::move(*started);
    LOG(INFO) << "metrics: http://" << (mc.ipv6 ? "[" + mc.host + "]" : mc.host) << ":"
              << metrics->port() << "/metrics";
    return {};
  };
  if (!cfg.metrics.listen.empty()) {
    if (auto ok = start_metrics(cfg.metrics); !ok) {
      LOG(ERROR) << ok.error().to_string();
      g_gw = nullptr;
      ctgate::ports_stop(*gw);
      delete gw;
      eal_cleanup(cfg);
      return 1;
    }
  }
  // A reload that changes `metrics`: the old endpoint stops (the new one may want its port),
  // the new one starts; if it cannot, the old one starts again and the reload fails.
  ctgate::reload_set_metrics_mover([&](const ctgate::metrics_config& mc) -> ctgate::result<void> {
    std::lock_guard lock(metrics_mu);
    const ctgate::metrics_config old = gw->cfg.metrics;
    metrics.reset();
    if (mc.listen.empty()) return {};
    ctgate::result<void> ok = start_metrics(mc);
    if (!ok && !old.listen.empty())
      if (auto back = start_metrics(old); !back) LOG(ERROR) << back.error().to_string();
    return ok;
  });
  for (const auto& p : gw->ports) {
    if (p.bridge >= 0)
      LOG(INFO) << "port " << p.name << ": member of bridge "
                << gw->bridges[static_cast<size_t>(p.bridge)].name << " (pvid " << p.pvid
                << ") ethdev " << p.port_id;
    else if (p.iface_of >= 0)
      LOG(INFO) << "port " << p.name << ": " << ctgate::format_ipv4(p.addr) << "/"
                << int(p.prefix_len) << " interface of bridge "
                << gw->bridges[static_cast<size_t>(p.iface_of)].name << " in VLAN " << p.vlan;
    else if (p.vlan != 0)
      LOG(INFO) << "port " << p.name << ": " << ctgate::format_ipv4(p.addr) << "/"
                << int(p.prefix_len) << " VLAN " << p.vlan << " on " << gw->ports[p.parent].name;
    else
      LOG(INFO) << "port " << p.name << ": " << ctgate::format_ipv4(p.addr) << "/"
                << int(p.prefix_len) << " ethdev " << p.port_id;
  }
  for (const auto& br : gw->bridges)
    LOG(INFO) << "bridge " << br.name << ": " << br.members.size() << " ports, FDB of "
              << br.table->max_entries() << " entries (" << br.table->memory_bytes() / 1024
              << " KiB), ageing " << br.ageing_s << " s";

  uint16_t wi = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (wi == cfg.workers) break;
    gw->workers[wi]->lcore = lcore;
    rte_eal_remote_launch(ctgate::worker_main, gw->workers[wi], lcore);
    wi++;
  }
  LOG(INFO) << "ctgate running: " << cfg.workers << " worker(s), conntrack "
            << (gw->ct_hooks_registered ? "hooks registered" : "hooks not registered (lazy)")
            << ", telemetry /var/run/dpdk/" << cfg.eal.file_prefix << "/dpdk_telemetry.v2";
  // systemd (Type=notify): ready now that the workers run; pinged while they make progress.
  ctgate::service_notifier service;
  service.ready("forwarding, " + std::to_string(cfg.workers) + " worker(s)");
  if (service.watchdog_usec() != 0)
    LOG(INFO) << "systemd watchdog: every " << service.watchdog_usec() / 1000 << " ms";

  // The config's interval may change with a reload; --stats_interval overrides it.
  auto stats_every = [&] {
    return FLAGS_stats_interval != 0 ? FLAGS_stats_interval
                                     : std::atomic_ref<uint32_t>(gw->cfg.stats_interval_s)
                                           .load(std::memory_order_relaxed);
  };
  uint32_t start = gw->clock.now_ms(), last_stats = start, last_rx_change = start;
  uint32_t last_port_watch = start;
  uint64_t last_rx = 0;
  std::string stop_reason;
  while (!gw->stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint32_t now = gw->clock.now_ms();
    drain_log_mailbox(*gw);
    if (g_reload_requested) {
      g_reload_requested = 0;
      reload_on_signal(*gw, service);
    }
    if (std::string line = service.tick(*gw, now); !line.empty()) LOG(WARNING) << line;
    gw->ct_events.tick(gw->ct, static_cast<uint16_t>(gw->workers.size()), now);
    gw->synproxy->secrets.maybe_rotate(now / 1000);
    if (std::string line = ctgate::synproxy_auto_tick(*gw, now); !line.empty())
      LOG(WARNING) << line;
    if (now - last_port_watch >= 1000) {
      for (const auto& line : ctgate::ports_watch(*gw)) LOG(WARNING) << line;
      ctgate::sweep_live_sets(*gw, now);
      ctgate::neighbours_gc(*gw, now);
      ctgate::bridges_age(*gw, now);
      last_port_watch = now;
    }
    if (stats_every() != 0 && now - last_stats >= stats_every() * 1000) {
      LOG(INFO) << "stats: " << ctgate::stats_summary(*gw);
      last_stats = now;
    }
    uint64_t rx = total_rx(*gw);
    if (rx != last_rx) {
      last_rx = rx;
      last_rx_change = now;
    }
    if (FLAGS_exit_idle_ms != 0 && rx > 0 && now - last_rx_change >= FLAGS_exit_idle_ms) {
      stop_reason = "no packet for --exit-idle-ms " + std::to_string(FLAGS_exit_idle_ms);
      break;
    }
    if (FLAGS_run_seconds != 0 && now - start >= FLAGS_run_seconds * 1000) {
      stop_reason = "--run-seconds " + std::to_string(FLAGS_run_seconds) + " reached (" +
                    std::to_string(now - start) + " ms)";
      break;
    }
  }
  if (stop_reason.empty()) stop_reason = describe_stop_signal();
  LOG(INFO) << "ctgate stopping: " << stop_reason;
  service.stopping(stop_reason);
  gw->stop.store(true);
  rte_eal_mp_wait_lcore();
  ctgate::reload_set_metrics_mover({});
  {
    std::lock_guard lock(metrics_mu);
    metrics.reset();  // its thread reads the gateway: gone before the gateway is
  }
  drain_log_mailbox(*gw);
  LOG(INFO) << "final stats: " << ctgate::stats_summary(*gw);
  if (!FLAGS_dump_conntrack.empty()) {
    std::ofstream out(FLAGS_dump_conntrack);
    for (const auto& l : ctgate::ct::list_lines(*gw->ct.table, {}, gw->clock.now_ms()))
      out << l << "\n";
  }
  ctgate::ports_stop(*gw);
  g_gw = nullptr;
  delete gw;
  eal_cleanup(cfg);
  LOG(INFO) << "ctgate stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The control plane's large, short-lived buffers (a listing of the whole table is tens of
  // MiB) go to mmap and back to the system when freed. glibc's dynamic threshold would raise
  // itself to the largest buffer seen and then keep up to twice that at the top of a thread
  // arena, which malloc_trim does not release: the soak saw RSS 20 MiB above its idle floor
  // with 2 MiB of the heap in use. Fixed thresholds turn the adjustment off.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
  ctgate::normalize_flag_names(argc, argv);
  gflags::SetUsageMessage("ctgate --config FILE | --check-config FILE");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  if (!FLAGS_check_ruleset.empty()) {
    std::optional<ctgate::gateway_config> cfg;
    if (!FLAGS_config.empty()) {
      auto loaded = ctgate::load_config(FLAGS_config);
      if (!loaded) {
        print_error(loaded.error());
        return 1;
      }
      cfg = std::move(*loaded);
    }
    auto r = ctgate::check_ruleset_file(FLAGS_check_ruleset, cfg ? &*cfg : nullptr);
    if (!r) {
      print_error(r.error());
      return 1;
    }
    std::printf("%s: OK (%zu tables, %zu chains, %zu rules)\n", FLAGS_check_ruleset.c_str(),
                r->tables, r->chains, r->rules);
    return 0;
  }
  if (!FLAGS_check_config.empty()) {
    auto cfg = ctgate::load_config(FLAGS_check_config);
    if (!cfg) {
      print_error(cfg.error());
      return 1;
    }
    std::printf("%s: OK (%zu ports, %zu routes, %zu neighbors, %u workers)\n",
                FLAGS_check_config.c_str(), cfg->ports.size(), cfg->routes.size(),
                cfg->neighbors.size(), cfg->workers);
    return 0;
  }
  if (FLAGS_config.empty()) {
    std::fprintf(stderr, "ctgate: --config FILE is required (or --check-config FILE)\n");
    return 2;
  }
  auto cfg = ctgate::load_config(FLAGS_config);
  if (!cfg) {
    print_error(cfg.error());
    return 1;
  }
  return run(*cfg);
}
