// TCP window tracking (tcp_window.h, proto_tcp.cpp): Linux's four bounds,
// window scaling and SACK, the RST rules of RFC 5961, retransmission and
// unacknowledged-data timeouts, loose pickup, and the arithmetic near 2^32.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <vector>

#include "conntrack/conntrack.h"
#include "conntrack/proto.h"
#include "conntrack/tcp_window.h"

namespace ctgate::ct {
namespace {

constexpr uint8_t SYN = TCPF_SYN;
constexpr uint8_t SYNACK = TCPF_SYN | TCPF_ACK;
constexpr uint8_t ACK = TCPF_ACK;
constexpr uint8_t FINACK = TCPF_FIN | TCPF_ACK;
constexpr uint8_t RST = TCPF_RST;
constexpr uint8_t RSTACK = TCPF_RST | TCPF_ACK;
constexpr ct_dir orig = ct_dir::original;
constexpr ct_dir reply = ct_dir::reply;

// Option bytes: window scale `ws` (or none), SACK permitted.
std::vector<uint8_t> syn_options(int ws, bool sack_perm) {
  std::vector<uint8_t> o;
  if (ws >= 0) o.insert(o.end(), {1, 3, 3, static_cast<uint8_t>(ws)});
  if (sack_perm) o.insert(o.end(), {1, 1, 4, 2});
  return o;
}

// One SACK block [left, right).
std::vector<uint8_t> sack_block(uint32_t left, uint32_t right) {
  std::vector<uint8_t> o = {1, 1, 5, 10};
  for (uint32_t v : {left, right})
    for (int sh = 24; sh >= 0; sh -= 8) o.push_back(static_cast<uint8_t>(v >> sh));
  return o;
}

struct packet {
  uint8_t flags;
  uint32_t seq;
  uint32_t ack;
  uint16_t window = 65535;
  uint16_t payload = 0;
  std::vector<uint8_t> options = {};
};

// A flow with a window record, driven as conntrack drives it.
struct wflow {
  tracker_params params;
  track_state st;
  tcp_window win;
  uint16_t status = 0;
  uint32_t ack_offset = 0;

  static l4_info info(const packet& p) {
    l4_info l;
    l.proto = 6;
    l.tcp_flags = p.flags;
    l.payload_len = p.payload;
    return l;
  }
  tcp_segment segment(const packet& p, ct_dir dir) const {
    tcp_segment s;
    s.seq = p.seq;
    s.ack = p.ack;
    s.window = p.window;
    s.flags = p.flags;
    s.payload = p.payload;
    s.options = p.options.data();
    s.options_len = static_cast<uint8_t>(p.options.size());
    // conntrack applies the seqadj offset to the original direction only.
    if (dir == orig) s.ack_offset = ack_offset;
    return s;
  }
  bool open(const packet& p) {
    tcp_segment s = segment(p, orig);
    return tcp_tracker.new_flow(info(p), &s, params, 0, &st, &win);
  }
  track_result send(ct_dir dir, const packet& p) {
    tcp_segment s = segment(p, dir);
    track_result r = tcp_tracker.packet(&st, &win, status, dir, info(p), &s, params, 0);
    if (r.verdict != track_verdict::invalid) {
      status |= r.set_status;
      status &= static_cast<uint16_t>(~r.clear_status);
      if (dir == reply) status |= CT_STATUS_SEEN_REPLY;
    }
    return r;
  }
  int state() const { return st.l4state; }
};

bool accepted(const track_result& r) { return r.verdict == track_verdict::accept; }
bool ignored(const track_result& r) { return r.verdict == track_verdict::ignore; }
bool invalid(const track_result& r) { return r.verdict == track_verdict::invalid; }

// Client ISN 1000, server ISN 5000, 65535-byte windows, no scaling.
void establish(wflow& f, uint32_t c = 1000, uint32_t s = 5000) {
  ASSERT_TRUE(f.open({SYN, c, 0}));
  ASSERT_TRUE(accepted(f.send(reply, {SYNACK, s, c + 1})));
  ASSERT_TRUE(accepted(f.send(orig, {ACK, c + 1, s + 1})));
  ASSERT_EQ(f.state(), TCP_CT_ESTABLISHED);
  ASSERT_TRUE(f.status & CT_STATUS_ASSURED);
}

TEST(SeqArithmetic, BeforeAndAfterWrapAround) {
  EXPECT_TRUE(seq_before(0xfffffff0u, 0x10u));
  EXPECT_TRUE(seq_after(0x10u, 0xfffffff0u));
  EXPECT_FALSE(seq_before(5, 5));
  EXPECT_FALSE(seq_after(5, 5));
  EXPECT_TRUE(seq_before(0, 0x7fffffffu));
  EXPECT_FALSE(seq_before(0, 0x80000001u));  // more than half the space ahead: behind
}

TEST(SegmentEnd, CountsSynAndFin) {
  tcp_segment s;
  s.seq = 0xffffffffu;
  s.flags = SYN;
  EXPECT_EQ(tcp_segment_end(s), 0u);  // wraps
  s.flags = FINACK;
  s.payload = 10;
  EXPECT_EQ(tcp_segment_end(s), 10u);
}

TEST(TcpOptions, ScaleAndSackPermitted) {
  uint8_t scale = 9, flags = 0;
  auto o = syn_options(7, true);
  tcp_parse_options(o.data(), static_cast<uint32_t>(o.size()), &scale, &flags);
  EXPECT_EQ(scale, 7);
  EXPECT_EQ(flags, TCPW_WINDOW_SCALE | TCPW_SACK_PERM);
}

TEST(TcpOptions, ScaleCappedAt14AndMalformedStops) {
  uint8_t scale = 0, flags = 0;
  const uint8_t big[] = {3, 3, 20};
  tcp_parse_options(big, 3, &scale, &flags);
  EXPECT_EQ(scale, 14);
  scale = flags = 0;
  const uint8_t silly[] = {8, 1, 3, 3, 7};  // length 1 stops the walk
  tcp_parse_options(silly, 5, &scale, &flags);
  EXPECT_EQ(flags, 0);
  const uint8_t partial[] = {1, 3, 3};  // runs past the end
  tcp_parse_options(partial, 3, &scale, &flags);
  EXPECT_EQ(flags, 0);
  const uint8_t eol[] = {0, 3, 3, 7};
  tcp_parse_options(eol, 4, &scale, &flags);
  EXPECT_EQ(flags, 0);
}

TEST(TcpOptions, HighestSackEdge) {
  auto o = sack_block(100, 300);
  EXPECT_EQ(tcp_highest_sack(o.data(), static_cast<uint32_t>(o.size()), 50), 300u);
  EXPECT_EQ(tcp_highest_sack(o.data(), static_cast<uint32_t>(o.size()), 400), 400u);
  const uint8_t ts_only[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
  EXPECT_EQ(tcp_highest_sack(ts_only, 12, 7), 7u);
}

TEST(TcpWindow, HandshakeRecordsBothSides) {
  wflow f;
  establish(f);
  EXPECT_EQ(f.win.seen[0].td_end, 1001u);
  EXPECT_EQ(f.win.seen[1].td_end, 5001u);
  EXPECT_EQ(f.win.seen[0].td_maxend, 1001u + 65535);  // the server's ack + window
  EXPECT_EQ(f.win.seen[1].td_maxend, 5001u + 65535);
  EXPECT_EQ(f.win.seen[1].td_maxack, 1001u);
}

TEST(TcpWindow, ScalingNeedsBothSides) {
  wflow f;
  ASSERT_TRUE(f.open({SYN, 1000, 0, 65535, 0, syn_options(7, true)}));
  ASSERT_TRUE(accepted(f.send(reply, {SYNACK, 5000, 1001, 65535, 0, syn_options(8, true)})));
  EXPECT_EQ(f.win.scale[0], 7);
  EXPECT_EQ(f.win.scale[1], 8);
  EXPECT_TRUE(f.win.flags[0] & TCPW_SACK_PERM);

  wflow g;
  ASSERT_TRUE(g.open({SYN, 1000, 0, 65535, 0, syn_options(7, false)}));
  ASSERT_TRUE(accepted(g.send(reply, {SYNACK, 5000, 1001, 65535, 0, syn_options(-1, false)})));
  EXPECT_EQ(g.win.scale[0], 0);
  EXPECT_EQ(g.win.scale[1], 0);
}

TEST(TcpWindow, ScaledWindowWidensTheBound) {
  wflow f;
  ASSERT_TRUE(f.open({SYN, 1000, 0, 65535, 0, syn_options(7, false)}));
  ASSERT_TRUE(accepted(f.send(reply, {SYNACK, 5000, 1001, 65535, 0, syn_options(7, false)})));
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5001, 1024})));
  // The server offers 1024 << 7 = 128 KiB after its first scaled ACK.
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001, 1024})));
  EXPECT_EQ(f.win.seen[0].td_maxend, 1001u + (1024u << 7));
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 1001 + 100000, 5001, 1024, 1000})));
  // Unscaled, the same segment would have been past the window.
  wflow g;
  establish(g);
  EXPECT_FALSE(accepted(g.send(orig, {ACK, 1001 + 200000, 5001, 65535, 1000})));
}

TEST(TcpWindow, DataInWindowPassesAndIsUnacknowledgedUntilAcked) {
  wflow f;
  establish(f);
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5001, 65535, 100})));
  EXPECT_TRUE(f.win.flags[0] & TCPW_DATA_UNACK);
  EXPECT_EQ(f.st.tclass, TC_TCP_UNACK);  // Linux caps a flow with data in flight
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1101})));
  EXPECT_FALSE(f.win.flags[0] & TCPW_DATA_UNACK);
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
}

TEST(TcpWindow, SeqOverTheWindowIsInvalid) {
  wflow f;
  establish(f);
  const track_state before = f.st;
  track_result r = f.send(orig, {ACK, 1001 + 200000, 5001, 65535, 10});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.reason, TCP_REASON_SEQ_OVER);
  EXPECT_EQ(f.win.reason_bound, 1001u + 65535 + 1);
  EXPECT_EQ(f.st, before);
}

TEST(TcpWindow, SlightOvershootIsIgnoredAndRemembered) {
  wflow f;
  establish(f);
  // Data starting inside the window may end past it (only the start is
  // bounded) ...
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 1001 + 65535 - 50, 5001, 65535, 150})));
  // ... and a segment starting just past it: some stacks do it; Linux lets
  // it pass (ignored) and remembers the data so its ACK is in bounds.
  wflow g;
  establish(g);
  track_result r = g.send(orig, {ACK, 1001 + 65535 + 1, 5001, 65535, 100});
  EXPECT_TRUE(ignored(r));
  EXPECT_EQ(r.reason, TCP_REASON_OVERSHOOT);
  EXPECT_EQ(g.win.reason_bound, 102u);
  EXPECT_EQ(g.win.seen[0].td_end, 1001u + 65535 + 101);
  EXPECT_TRUE(accepted(g.send(reply, {ACK, 5001, 1001 + 65535 + 101})));
}

TEST(TcpWindow, AckOfUnsentDataIsInvalid) {
  wflow f;
  establish(f);
  track_result r = f.send(reply, {ACK, 5001, 1001 + 5000});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.reason, TCP_REASON_ACK_OVER);
  EXPECT_EQ(f.win.reason_bound, 1002u);
}

TEST(TcpWindow, OldRetransmissionIsIgnored) {
  wflow f;
  establish(f);
  // Move the client far ahead, 1000 bytes at a time, each acknowledged.
  uint32_t seq = 1001;
  for (int i = 0; i < 100; i++) {
    ASSERT_TRUE(accepted(f.send(orig, {ACK, seq, 5001, 65535, 1000})));
    seq += 1000;
    ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, seq})));
  }
  // A segment that ends below td_end - the receiver's largest window.
  track_result r = f.send(orig, {ACK, 1001, 5001, 65535, 1000});
  EXPECT_TRUE(ignored(r));
  EXPECT_EQ(r.reason, TCP_REASON_SEQ_UNDER);
}

TEST(TcpWindow, SackEdgeBeyondWhatWasSentIsInvalidOnlyWithSackPermitted) {
  wflow f;
  ASSERT_TRUE(f.open({SYN, 1000, 0, 65535, 0, syn_options(-1, true)}));
  ASSERT_TRUE(accepted(f.send(reply, {SYNACK, 5000, 1001, 65535, 0, syn_options(-1, true)})));
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5001})));
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5001, 65535, 500})));
  // The server SACKs bytes up to 1601: 100 more than the client sent.
  track_result r = f.send(reply, {ACK, 5001, 1001, 65535, 0, sack_block(1201, 1601)});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.reason, TCP_REASON_ACK_OVER);
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001, 65535, 0, sack_block(1201, 1501)})));

  wflow g;  // no SACK-permitted: the blocks are not read
  establish(g);
  ASSERT_TRUE(accepted(g.send(orig, {ACK, 1001, 5001, 65535, 500})));
  EXPECT_TRUE(accepted(g.send(reply, {ACK, 5001, 1001, 65535, 0, sack_block(1201, 1601)})));
}

TEST(TcpWindow, WrapsAroundTwoToThe32) {
  wflow f;
  const uint32_t c = 0xffffff00u;
  establish(f, c, 0xfffffff0u);
  uint32_t seq = c + 1;
  for (int i = 0; i < 4; i++) {  // crosses 2^32 on both sides
    ASSERT_TRUE(accepted(f.send(orig, {ACK, seq, 0xfffffff1u, 65535, 100}))) << i;
    seq += 100;
    ASSERT_TRUE(accepted(f.send(reply, {ACK, 0xfffffff1u, seq}))) << i;
  }
  EXPECT_EQ(f.win.seen[0].td_end, c + 1 + 400);  // 0x00000091
  EXPECT_TRUE(invalid(f.send(orig, {ACK, seq + 200000, 0xfffffff1u, 65535, 10})));
  EXPECT_TRUE(invalid(f.send(reply, {ACK, 0xfffffff1u, seq + 10})));
}

TEST(TcpRst, BelowThePeersAckIsInvalid) {
  wflow f;
  establish(f);
  // The server has acknowledged up to 1001: a client RST at 500 is spoofed.
  track_result r = f.send(orig, {RST, 500, 0});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.reason, TCP_REASON_RST);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
}

TEST(TcpRst, IgnoreInvalidRstLetsItReachTheWindowCheck) {
  wflow f;
  f.params.tcp_ignore_invalid_rst = true;
  establish(f);
  // Not below the window's lower edge: passes the window check, but is not
  // exact, so the connection is kept (as for a challenge ACK) with the close
  // timeout.
  track_result r = f.send(orig, {RST, 900, 0});
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_CLOSE);
}

TEST(TcpRst, ExactSequenceCloses) {
  wflow f;
  establish(f);
  EXPECT_TRUE(accepted(f.send(orig, {RSTACK, 1001, 5001})));
  EXPECT_EQ(f.state(), TCP_CT_CLOSE);
}

TEST(TcpRst, InWindowButNotExactKeepsTheConnection) {
  wflow f;
  establish(f);
  // RFC 5961: the receiver answers with a challenge ACK; conntrack keeps the
  // state so the real peer's answer still matches.
  EXPECT_TRUE(accepted(f.send(orig, {RST, 1001 + 3000, 0})));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_CLOSE);
  // The peer's next segment ends the close timeout; the RST's sequence
  // counts as unacknowledged data until acknowledged, as in Linux.
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001})));
  EXPECT_EQ(f.st.tclass, TC_TCP_UNACK);
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 5001, 4001})));
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
}

TEST(TcpRst, EndOfATrainCloses) {
  wflow f;
  establish(f);
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001, 65535, 19})));
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5020})));
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5020, 1001, 65535, 19})));
  EXPECT_TRUE(accepted(f.send(reply, {RST, 5039, 0})));
  EXPECT_EQ(f.state(), TCP_CT_CLOSE);
}

TEST(TcpRst, AnsweringASynInSynSentIsChecked) {
  wflow f;
  ASSERT_TRUE(f.open({SYN, 1000, 0}));
  // A RST/ACK acknowledging the SYN closes ...
  wflow g = f;
  EXPECT_TRUE(accepted(g.send(reply, {RSTACK, 0, 1001})));
  EXPECT_EQ(g.state(), TCP_CT_CLOSE);
  // ... one acknowledging something else is out of the window.
  track_result r = f.send(reply, {RSTACK, 0, 77777});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.reason, TCP_REASON_ACK_OVER);
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
}

TEST(TcpRetrans, RepeatedSegmentsPastTheLimitShortenTheTimeout) {
  wflow f;
  establish(f);
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001})));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001})));
  EXPECT_EQ(f.win.retrans, 3);
  EXPECT_EQ(f.st.tclass, TC_TCP_RETRANS);
  // Anything new resets the count.
  ASSERT_TRUE(accepted(f.send(orig, {ACK, 1001, 5001, 60000})));
  EXPECT_EQ(f.win.retrans, 0);
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
}

TEST(TcpRetrans, ZeroWindowUsesTheRetransmissionTimeout) {
  wflow f;
  establish(f);
  ASSERT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001, 0})));
  EXPECT_EQ(f.st.tclass, TC_TCP_RETRANS);
}

TEST(TcpPickup, LooseMidStreamIsLiberal) {
  wflow f;
  ASSERT_TRUE(f.open({ACK, 123456, 654321}));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_TRUE(f.win.flags[0] & TCPW_BE_LIBERAL);
  EXPECT_TRUE(f.win.flags[1] & TCPW_BE_LIBERAL);
  // Anything passes: the window scale of the connection is unknown.
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 654321, 123456})));
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 123456 + 10000000, 654321, 10, 10})));
  EXPECT_TRUE(f.status & CT_STATUS_ASSURED);
}

TEST(TcpPickup, WithoutLooseOnlyASynOpens) {
  wflow f;
  f.params.tcp_loose = false;
  EXPECT_FALSE(f.open({ACK, 123456, 654321}));
}

TEST(TcpLiberal, ConfigDisablesTheChecks) {
  wflow f;
  f.params.tcp_be_liberal = true;
  establish(f);
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 1001 + 200000, 5001, 65535, 10})));
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001 + 5000})));
}

TEST(TcpInvalid, OutOfWindowFinAnsweringAFinLowersTheTimeout) {
  wflow f;
  establish(f);
  ASSERT_TRUE(accepted(f.send(orig, {FINACK, 1001, 5001})));
  track_result r = f.send(reply, {FINACK, 5001 + 500000, 1002});
  EXPECT_TRUE(invalid(r));
  EXPECT_EQ(r.lower_to_class, TC_TCP_UNACK);
  // Not answering a FIN/RST: only remembered.
  wflow g;
  establish(g);
  track_result q = g.send(reply, {FINACK, 5001 + 500000, 1001});
  EXPECT_TRUE(invalid(q));
  EXPECT_EQ(q.lower_to_class, TC_COUNT);
  EXPECT_EQ(g.st.tcp_last_index, TCP_IDX_FIN);
}

TEST(TcpSeqadj, AckOffsetMovesTheClientsAcksIntoTheServersSpace) {
  wflow f;
  ASSERT_TRUE(f.open({SYN, 1000, 0}));
  ASSERT_TRUE(accepted(f.send(reply, {SYNACK, 5000, 1001})));
  // The client saw ISN 300 (a cookie); the server's is 5000.
  f.ack_offset = 5000 - 300;
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 1001, 301})));
  EXPECT_TRUE(accepted(f.send(reply, {ACK, 5001, 1001, 65535, 100})));
  EXPECT_TRUE(accepted(f.send(orig, {ACK, 1001, 401})));
  EXPECT_TRUE(invalid(f.send(orig, {ACK, 1001, 402})));  // acks a byte never sent
}

TEST(TcpResync, SynAckMustAcknowledgeTheIgnoredSyn) {
  wflow f;
  establish(f);
  // Both ends restarted: a new SYN is ignored and remembered.
  ASSERT_TRUE(ignored(f.send(orig, {SYN, 90000, 0})));
  wflow g = f;
  // A SYN/ACK for another SYN: ignored.
  EXPECT_TRUE(ignored(g.send(reply, {SYNACK, 70000, 12345})));
  EXPECT_EQ(g.state(), TCP_CT_ESTABLISHED);
  // The SYN/ACK for it: the entry resyncs to SYN_RECV with the new numbers.
  EXPECT_TRUE(accepted(f.send(reply, {SYNACK, 70000, 90001})));
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  EXPECT_EQ(f.win.seen[0].td_end, 90001u);
  EXPECT_EQ(f.win.seen[1].td_end, 70001u);
}

TEST(TcpReason, LinuxTexts) {
  EXPECT_EQ(tcp_reason_message(TCP_REASON_SEQ_OVER, 66537),
            "SEQ is over upper bound 66537 (over the window of the receiver)");
  EXPECT_EQ(tcp_reason_message(TCP_REASON_ACK_OVER, 1002),
            "ACK is over upper bound 1002 (ACKed data not seen yet)");
  EXPECT_EQ(tcp_reason_message(TCP_REASON_RST, 0), "invalid rst");
  EXPECT_EQ(tcp_reason_message(TCP_REASON_OVERSHOOT, 102), "102 bytes more than expected");
  EXPECT_EQ(tcp_reason_message(TCP_REASON_STATE, 3 | (1u << 8) | (TCP_CT_SYN_SENT << 16)),
            "packet (index 3) in dir 1 invalid, state SYN_SENT");
  EXPECT_EQ(tcp_reason_message(TCP_REASON_IGNORED_STATE, 0 | (TCP_CT_ESTABLISHED << 16)),
            "packet (index 0) in dir 0 ignored, state ESTABLISHED");
}

TEST(TcpReason, StateVerdictsNameTheirValues) {
  wflow f;
  establish(f);
  track_result r = f.send(orig, {SYN, 9000, 0});
  EXPECT_EQ(tcp_reason_message(r.reason, tcp_state_bound(TCP_IDX_SYN, 0, f.st.l4state)),
            "packet (index 0) in dir 0 ignored, state ESTABLISHED");
}

TEST(InvalidNote, FormatsLikeLinuxsLogLine) {
  ct_invalid_note n;
  n.tuple.src = htonl(0x0a000102);
  n.tuple.dst = htonl(0x0a000202);
  n.tuple.sport = htons(41001);
  n.tuple.dport = htons(80);
  n.tuple.proto = 6;
  n.seq = 1300001;
  n.ack = 5001;
  n.window = 65535;
  n.flags = TCPF_ACK | TCPF_PSH;
  n.reason = TCP_REASON_SEQ_OVER;
  n.bound = 66537;
  EXPECT_EQ(format_invalid_note(n),
            "nf_ct_proto_6: SEQ is over upper bound 66537 (over the window of the receiver) "
            "SRC=10.0.1.2 DST=10.0.2.2 PROTO=TCP SPT=41001 DPT=80 SEQ=1300001 ACK=5001 "
            "WINDOW=65535 ACK PSH");
}

}  // namespace
}  // namespace ctgate::ct
