// Expiry as Linux has it (issue 10's first bug): an entry whose timeout has
// run out is never found, listed or refreshed (nf_ct_is_expired at lookup),
// and an entry whose timeout shortens is reaped on its new time, within one
// wheel slot, for every transition that shortens it.
#include "common/test_env.h"

namespace ctgate::test {
namespace {

using ct::ct_counter;

gateway_config tracked(bool loose = true) {
  gateway_config c = default_config();
  c.conntrack.enable_hooks = true;
  c.conntrack.tcp_loose = loose;
  return c;
}

constexpr const char* k_client = "10.0.1.2";
constexpr const char* k_server = "10.0.2.2";

void from_client(test_gateway& t, uint8_t flags) {
  t.send(0, tcp(k_client, 40000, k_server, 80, flags));
}
void from_server(test_gateway& t, uint8_t flags) {
  t.send(1, tcp(k_server, 80, k_client, 40000, flags));
}

void handshake(test_gateway& t) {
  from_client(t, TCPF_SYN);
  from_server(t, TCPF_SYN | TCPF_ACK);
  from_client(t, TCPF_ACK);
}

// Runs housekeeping every 250 ms of injected time up to `until`.
void advance_to(test_gateway& t, uint32_t until) {
  while (static_cast<int32_t>(until - t.w->now_ms) > 0) {
    t.w->now_ms += 250;
    t.tick();
  }
}

struct shortening {
  const char* name;
  void (*reach)(test_gateway&);  // drives the flow into the state before the transition
  void (*transition)(test_gateway&);
  const char* state;   // the state it lands in
  uint32_t timeout_s;  // Linux's default for that state
};

const shortening k_cases[] = {
    {"SYN_SENT->SYN_RECV", [](test_gateway& t) { from_client(t, TCPF_SYN); },
     [](test_gateway& t) { from_server(t, TCPF_SYN | TCPF_ACK); }, "SYN_RECV", 60},
    {"ESTABLISHED->CLOSE (RST)", handshake, [](test_gateway& t) { from_server(t, TCPF_RST); },
     "CLOSE", 10},
    {"ESTABLISHED->FIN_WAIT", handshake,
     [](test_gateway& t) { from_client(t, TCPF_FIN | TCPF_ACK); }, "FIN_WAIT", 120},
    {"FIN_WAIT->CLOSE_WAIT",
     [](test_gateway& t) {
       handshake(t);
       from_client(t, TCPF_FIN | TCPF_ACK);
     },
     [](test_gateway& t) { from_server(t, TCPF_ACK); }, "CLOSE_WAIT", 60},
    {"CLOSE_WAIT->LAST_ACK",
     [](test_gateway& t) {
       handshake(t);
       from_client(t, TCPF_FIN | TCPF_ACK);
       from_server(t, TCPF_ACK);
     },
     [](test_gateway& t) { from_server(t, TCPF_FIN | TCPF_ACK); }, "LAST_ACK", 30},
};

// Every transition that shortens a timeout: the entry is in the table until
// its new timeout and gone by timeout + one slot (256 ms) + a loop, where it
// used to stay filed under the old expiry (up to one wheel turn, 17.5 min).
TEST(Expiry, EveryShorteningTransitionIsReapedOnTime) {
  for (const auto& c : k_cases) {
    SCOPED_TRACE(c.name);
    test_gateway t(tracked());
    c.reach(t);
    t.w->now_ms += 5000;  // time passes in the old state
    t.tick();
    c.transition(t);
    auto lines = t.conntrack_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find(std::string(" ") + c.state + " "), std::string::npos) << lines[0];
    const uint32_t at = t.w->now_ms;
    advance_to(t, at + c.timeout_s * 1000 - 500);
    EXPECT_EQ(t.gw->ct.table->count(), 1) << "reaped before its time";
    advance_to(t, at + c.timeout_s * 1000 + 1000);
    EXPECT_EQ(t.gw->ct.table->count(), 0) << "not reaped within timeout + 1 s";
    EXPECT_EQ(t.ct_counter(ct_counter::expired), 1u);
    EXPECT_GE(t.ct_counter(ct_counter::refiled), 1u);
  }
}

// Lookup never returns an expired entry, even before the wheel reaps it: a
// late ACK of a connection closed by an RST is a new flow (loose pickup:
// ESTABLISHED [UNREPLIED], not the old ASSURED one refreshed), and the old
// entry is never listed with 0 s left.
TEST(Expiry, ExpiredEntryIsNeverFoundOrListed) {
  test_gateway t(tracked());
  handshake(t);
  from_server(t, TCPF_RST);  // CLOSE, 10 s
  // No housekeeping: jump past the timeout and look without the wheel.
  t.w->now_ms += 10000;
  EXPECT_TRUE(t.conntrack_lines().empty()) << t.conntrack_lines()[0];
  from_client(t, TCPF_ACK);
  EXPECT_EQ(t.ct_counter(ct_counter::expired_at_lookup), 1u);
  EXPECT_EQ(t.ct_counter(ct_counter::expired), 1u);  // reaped on the spot by its owner
  auto lines = t.conntrack_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("tcp      6 300 ESTABLISHED"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("[UNREPLIED]"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find("[ASSURED]"), std::string::npos) << lines[0];
}

// Strict TCP (tcp_loose off), as the kernel with nf_conntrack_tcp_loose=0:
// the same late ACK is INVALID (no entry), never ESTABLISHED.
TEST(Expiry, LateAckOfAnExpiredFlowIsInvalidWhenStrict) {
  test_gateway t(tracked(false));
  handshake(t);
  from_server(t, TCPF_RST);
  t.w->now_ms += 10000;
  uint64_t invalid = t.ct_counter(ct_counter::invalid);
  from_client(t, TCPF_ACK);
  EXPECT_EQ(t.ct_counter(ct_counter::invalid), invalid + 1);
  EXPECT_TRUE(t.conntrack_lines().empty());
}

// One millisecond before expiry the entry still matches and is refreshed.
TEST(Expiry, NotBeforeItsTime) {
  test_gateway t(tracked());
  t.send(0, udp(k_client, 5000, k_server, 53));  // UNREPLIED, 30 s
  t.w->now_ms += 29999;
  t.send(0, udp(k_client, 5000, k_server, 53));
  EXPECT_EQ(t.ct_counter(ct_counter::expired_at_lookup), 0u);
  EXPECT_EQ(t.ct_counter(ct_counter::found), 1u);
  EXPECT_EQ(t.conntrack_lines().size(), 1u);
}

// A worker that sees another's entry expired asks the owner to delete it
// "if still expired": the owner, whose clock may lag, refreshed it since, so
// it stays. Asked again once it has really expired, the owner reaps it.
TEST(Expiry, ExpiryDeleteRequestsAreRecheckedByTheOwner) {
  test_gateway t(tracked());
  t.send(0, udp(k_client, 5000, k_server, 53));      // UNREPLIED, 30 s
  std::vector<std::pair<uint32_t, uint32_t>> found;  // pos, live
  ct::scan(*t.gw->ct.table, {},
           [&](const ct::entry_view& v) { found.emplace_back(v.pos, v.live); });
  ASSERT_EQ(found.size(), 1u);
  ASSERT_TRUE(ct::ct_request_delete(t.w->ct, found[0].first, found[0].second, true));
  t.tick();
  EXPECT_EQ(t.gw->ct.table->count(), 1) << "deleted though not expired";
  t.w->now_ms += 30000;
  ASSERT_TRUE(ct::ct_request_delete(t.w->ct, found[0].first, found[0].second, true));
  t.burst(0, {});  // the request is served before the wheel gets there
  EXPECT_EQ(t.gw->ct.table->count(), 0);
  EXPECT_EQ(t.ct_counter(ct_counter::expired), 1u);
}

}  // namespace
}  // namespace ctgate::test
