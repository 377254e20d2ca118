// libFuzzer target: the telemetry commands, the daemon's side of ctgatectl,
// on arbitrary commands and parameters. Requests go through DPDK's telemetry
// socket as ctgatectl sends them, so DPDK's own splitting of "command,params"
// and its reply formatting (which frees nested replies) are in the loop.
//
// An input is [command] [mode] [parameters...]:
// - the command is one of telemetry_commands(), its index modulo their number;
// - mode bit 0: no parameters at all (DPDK passes NULL when nothing follows
//   the comma);
// - mode bit 1, for ruleset/load: the parameters are a ruleset's text,
//   written to a file whose path is passed. Otherwise they are the path
//   itself, taken inside a scratch directory that holds a directory, a FIFO,
//   an empty file and a ruleset that includes "*.nft" (never a path outside:
//   a load reads what it is given, and /proc has files that block);
// - parameters end at the first NUL and at DPDK's 1024-byte command limit.
//
// Before each command the table holds a dozen flows (TCP, UDP, ICMP from
// four hosts; a SYN to the synproxy port adds none). After it:
// - the reply is a JSON object keyed by the command, not DPDK's null reply
//   to a handler that failed: every error is a reply, never a failure;
// - no unconfirmed entry is left, and the table's count equals a scan;
// - nothing leaks (ASan), including replies DPDK frees after formatting.
// Then reply files are removed, the base ruleset is reloaded if the command
// replaced it, and tracing is stopped, so inputs do not depend on each other.
#include <dirent.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "conntrack/ct_format.h"
#include "control/telemetry.h"
#include "fuzz/fuzz_gateway.h"
#include "packet/build.h"

namespace {

using namespace ctgate;
namespace fs = std::filesystem;

constexpr size_t k_dpdk_cmd_limit = 1024;  // MAX_CMD_LEN + params: DPDK's read buffer

struct harness {
  gateway* gw = nullptr;
  worker_ctx* w = nullptr;
  fs::path scratch;
  int sock = -1;
  std::vector<char> buf = std::vector<char>(1 << 17);

  static void sink(void*, uint16_t, rte_mbuf** pkts, uint16_t n) { rte_pktmbuf_free_bulk(pkts, n); }

  harness() {
    gw = fuzz::make_gateway(fuzz::k_ruleset, true);
    w = gw->workers[0];
    w->tx_sink = &harness::sink;
    w->now_ms = 1000;
    telemetry_register(gw);
    connect_socket();
    scratch = fs::temp_directory_path() / ("ctgate-fuzz-tel-" + std::to_string(getpid()));
    fs::create_directories(scratch / "dir");
    mkfifo((scratch / "fifo").c_str(), 0600);
    std::ofstream(scratch / "empty.nft").flush();
    std::ofstream(scratch / "all.nft") << "include \"*.nft\"\n";
    telemetry_set_reply_dir(scratch.string());
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::temp_directory_path() / ("ctgate-fuzz-tel-" + std::to_string(getpid())),
                     ec);
    });
  }

  void connect_socket() {
    const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
    sock = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (sock < 0 || connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      fail("cannot connect to the telemetry socket");
    // A handler that never returns is a finding too: a bounded wait, then abort.
    timeval tv{.tv_sec = 20, .tv_usec = 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    receive();  // the greeting
  }

  std::string_view receive() {
    // libFuzzer's SIGALRM (its -timeout check) interrupts a wait with a
    // receive timeout even under SA_RESTART: retry those.
    ssize_t n;
    do n = recv(sock, buf.data(), buf.size(), 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) fail("no reply from the telemetry socket (a hang or a closed connection)");
    return {buf.data(), static_cast<size_t>(n)};
  }

  // Sends "command[,params]" as ctgatectl does and checks the reply's shape.
  void request(const char* cmd, const std::string* params) {
    std::string msg = cmd;
    if (params != nullptr) msg += "," + *params;
    ssize_t sent;
    do sent = send(sock, msg.data(), msg.size(), 0);
    while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(msg.size())) fail("cannot send to the telemetry socket");
    const std::string_view reply = receive();
    const std::string head = std::string("{\"") + cmd + "\":";
    if (!reply.starts_with(head) || reply.substr(head.size()).starts_with("null"))
      fail("the reply is not a JSON object for the command");
  }

  // Four lan hosts open a TCP, a UDP and an ICMP flow each to the server;
  // one also sends a SYN to the synproxy port (cookie, no entry).
  void populate() {
    rte_mbuf* pkts[16];
    uint16_t n = 0;
    for (uint32_t h = 2; h < 6; h++) {
      for (uint8_t proto : {uint8_t{6}, uint8_t{17}, uint8_t{1}}) {
        pkt_spec s;
        s.dst_mac = gw->ports[0].mac;
        s.src_mac.b[0] = 0x02;
        s.src_mac.b[4] = 0x01;
        s.src_mac.b[5] = static_cast<uint8_t>(h);
        s.src = 0x0a000100 + h;
        s.dst = 0x0a000202;
        s.proto = proto;
        s.sport = static_cast<uint16_t>(40000 + h);
        s.dport = proto == 6 ? 80 : 53;
        s.tcp_flags = 0x02;  // SYN
        s.icmp_id = static_cast<uint16_t>(h);
        pkts[n++] = frame(s);
      }
    }
    pkt_spec syn;
    syn.dst_mac = gw->ports[0].mac;
    syn.src = 0x0a000102;
    syn.dst = 0x0a000202;
    syn.proto = 6;
    syn.sport = 41000;
    syn.dport = 8080;
    syn.tcp_flags = 0x02;
    pkts[n++] = frame(syn);
    fuzz::run_burst(*gw, *w, 0, pkts, n);
  }

  rte_mbuf* frame(const pkt_spec& s) {
    rte_mbuf* m = rte_pktmbuf_alloc(gw->mbuf_pool);
    if (m == nullptr) fail("mbuf pool exhausted");
    const size_t len = build_frame(s, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    return m;
  }

  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }

  void check() {
    if (w->ct.n_unconfirmed != 0) fail("unconfirmed entries left after the command");
    std::atomic<int64_t> scanned{0};
    ct::scan(*gw->ct.table, {}, [&](const ct::entry_view&) { scanned++; });
    if (scanned.load() != gw->ct.table->count()) fail("table count differs from a scan");
  }

  void remove_replies() {
    DIR* d = opendir(scratch.c_str());
    if (d == nullptr) fail("scratch directory gone");
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
      if (std::string_view(e->d_name).starts_with("ctgate-reply-")) names.push_back(e->d_name);
    closedir(d);
    for (const auto& n : names) unlink((scratch / n).c_str());
  }
};

harness* h = nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (h == nullptr) h = new harness();
  if (size < 2) return 0;
  const std::span<const telemetry_command> cmds = telemetry_commands();
  const telemetry_command& cmd = cmds[data[0] % cmds.size()];
  bool no_params = data[1] & 1;
  const bool is_load = std::string_view(cmd.name) == "/ctgate/ruleset/load";
  // Commands that change the ruleset: it is restored after them.
  const bool changes_ruleset = is_load || std::string_view(cmd.name) == "/ctgate/nft";
  const bool load_text = is_load && (data[1] & 2);
  std::string params(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string file_text;
  if (load_text) {
    file_text = std::move(params);
    params = (h->scratch / "input.nft").string();
    std::ofstream(params, std::ios::binary) << file_text;
  } else {
    params = params.substr(0, params.find('\0'));
    params.resize(std::min(params.size(), k_dpdk_cmd_limit - std::strlen(cmd.name) - 2));
    // DPDK takes everything after the first comma as the parameters, and an
    // empty rest as none: an empty string cannot be sent.
    if (params.empty()) no_params = true;
    if (is_load) {
      // Inside the scratch directory, whatever the input says.
      std::replace(params.begin(), params.end(), '/', '_');
      params = (h->scratch / params).string();
    }
  }

  h->w->now_ms += 1;
  h->populate();
  h->request(cmd.name, no_params ? nullptr : &params);
  h->check();

  h->remove_replies();
  if (load_text) unlink(params.c_str());
  if (changes_ruleset && !load_ruleset_text(*h->gw, fuzz::k_ruleset, "fuzz.nft"))
    harness::fail("the base ruleset no longer loads");
  trace_stop(*h->gw);
  return 0;
}
