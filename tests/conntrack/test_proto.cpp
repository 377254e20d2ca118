// Protocol trackers: Linux's TCP table and special cases, UDP streams, ICMP
// query pairs, the generic fallback, names and the timeout table.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "conntrack/ct_entry.h"
#include "conntrack/proto.h"

namespace ctgate::ct {
namespace {

constexpr ct_dir orig = ct_dir::original;
constexpr ct_dir reply = ct_dir::reply;

// ---------------------------------------------------------------------------
// The TCP table, re-stated in the kernel's layout: one row per (direction,
// packet kind), one column per current state in enum order
// (NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT
// CLOSE SYN_SENT2). proto_tcp.cpp stores it transposed, so the two spellings
// check each other.

const char* const expected_original[TCP_IDX_COUNT] = {
    /* syn    */ "sSS sSS sIG sIG sIG sIG sIG sSS sSS sS2",
    /* synack */ "sIV sIV sSR sIV sIV sIV sIV sIV sIV sSR",
    /* fin    */ "sIV sIV sFW sFW sLA sLA sLA sTW sCL sIV",
    /* ack    */ "sES sIV sES sES sCW sCW sTW sTW sCL sIV",
    /* rst    */ "sIV sCL sCL sCL sCL sCL sCL sCL sCL sCL",
    /* none   */ "sIV sIV sIV sIV sIV sIV sIV sIV sIV sIV",
};

const char* const expected_reply[TCP_IDX_COUNT] = {
    /* syn    */ "sIV sS2 sIV sIV sIV sIV sIV sSS sIV sS2",
    /* synack */ "sIV sSR sIG sIG sIG sIG sIG sIG sIG sSR",
    /* fin    */ "sIV sIV sFW sFW sLA sLA sLA sTW sCL sIV",
    /* ack    */ "sIV sIG sSR sES sCW sCW sTW sTW sCL sIG",
    /* rst    */ "sIV sCL sCL sCL sCL sCL sCL sCL sCL sCL",
    /* none   */ "sIV sIV sIV sIV sIV sIV sIV sIV sIV sIV",
};

uint8_t parse_cell(const std::string& cell) {
  static const std::map<std::string, uint8_t> cells = {
      {"sNO", TCP_CT_NONE},        {"sSS", TCP_CT_SYN_SENT},        {"sSR", TCP_CT_SYN_RECV},
      {"sES", TCP_CT_ESTABLISHED}, {"sFW", TCP_CT_FIN_WAIT},        {"sCW", TCP_CT_CLOSE_WAIT},
      {"sLA", TCP_CT_LAST_ACK},    {"sTW", TCP_CT_TIME_WAIT},       {"sCL", TCP_CT_CLOSE},
      {"sS2", TCP_CT_SYN_SENT2},   {"sIV", TCP_TRANSITION_INVALID}, {"sIG", TCP_TRANSITION_IGNORE},
  };
  auto it = cells.find(cell);
  EXPECT_NE(it, cells.end()) << "bad cell " << cell;
  return it == cells.end() ? 0xff : it->second;
}

std::vector<uint8_t> parse_row(const char* row) {
  std::istringstream in(row);
  std::vector<uint8_t> out;
  std::string cell;
  while (in >> cell) out.push_back(parse_cell(cell));
  return out;
}

TEST(TcpTable, EveryCellMatchesLinux) {
  for (int d = 0; d < 2; ++d) {
    const char* const* rows = d == 0 ? expected_original : expected_reply;
    for (uint8_t index = 0; index < TCP_IDX_COUNT; ++index) {
      const std::vector<uint8_t> row = parse_row(rows[index]);
      ASSERT_EQ(row.size(), size_t{TCP_CT_MAX});
      for (uint8_t old = 0; old < TCP_CT_MAX; ++old) {
        EXPECT_EQ(int{tcp_transition(static_cast<ct_dir>(d), index, old)}, int{row[old]})
            << "dir " << d << " index " << int{index} << " old " << tcp_state_name(old);
      }
    }
  }
}

TEST(TcpTable, OutOfRangeInputsAreInvalid) {
  EXPECT_EQ(tcp_transition(orig, TCP_IDX_COUNT, TCP_CT_NONE), TCP_TRANSITION_INVALID);
  EXPECT_EQ(tcp_transition(orig, TCP_IDX_SYN, TCP_CT_MAX), TCP_TRANSITION_INVALID);
  EXPECT_EQ(tcp_transition(static_cast<ct_dir>(2), TCP_IDX_SYN, TCP_CT_NONE),
            TCP_TRANSITION_INVALID);
  EXPECT_EQ(TCP_TRANSITION_INVALID, TCP_CT_MAX);
  EXPECT_EQ(TCP_TRANSITION_IGNORE, TCP_CT_MAX + 1);
}

// ---------------------------------------------------------------------------
// Flags

TEST(TcpFlags, IndexFollowsLinuxPrecedence) {
  EXPECT_EQ(tcp_flag_index(TCPF_SYN), TCP_IDX_SYN);
  EXPECT_EQ(tcp_flag_index(TCPF_SYN | TCPF_ACK), TCP_IDX_SYNACK);
  EXPECT_EQ(tcp_flag_index(TCPF_FIN | TCPF_ACK), TCP_IDX_FIN);
  EXPECT_EQ(tcp_flag_index(TCPF_FIN), TCP_IDX_FIN);
  EXPECT_EQ(tcp_flag_index(TCPF_ACK), TCP_IDX_ACK);
  EXPECT_EQ(tcp_flag_index(TCPF_ACK | TCPF_PSH), TCP_IDX_ACK);
  EXPECT_EQ(tcp_flag_index(TCPF_RST), TCP_IDX_RST);
  EXPECT_EQ(tcp_flag_index(0), TCP_IDX_NONE);
  EXPECT_EQ(tcp_flag_index(TCPF_PSH | TCPF_URG), TCP_IDX_NONE);
  // RST beats everything, SYN beats FIN and ACK.
  EXPECT_EQ(tcp_flag_index(TCPF_RST | TCPF_SYN | TCPF_FIN | TCPF_ACK), TCP_IDX_RST);
  EXPECT_EQ(tcp_flag_index(TCPF_SYN | TCPF_FIN), TCP_IDX_SYN);
  EXPECT_EQ(tcp_flag_index(TCPF_SYN | TCPF_FIN | TCPF_ACK), TCP_IDX_SYNACK);
}

TEST(TcpFlags, ValidCombinationsAreExactlyLinuxs) {
  const uint8_t base[] = {
      TCPF_SYN,
      TCPF_SYN | TCPF_URG,
      TCPF_SYN | TCPF_ACK,
      TCPF_RST,
      TCPF_RST | TCPF_ACK,
      TCPF_FIN | TCPF_ACK,
      TCPF_FIN | TCPF_ACK | TCPF_URG,
      TCPF_ACK,
      TCPF_ACK | TCPF_URG,
  };
  auto listed = [&](uint8_t core) {
    for (uint8_t b : base) {
      if (b == core) return true;
    }
    return false;
  };
  for (int f = 0; f < 256; ++f) {
    const auto flags = static_cast<uint8_t>(f);
    const auto core = static_cast<uint8_t>(flags & ~(TCPF_PSH | TCPF_ECE | TCPF_CWR));
    EXPECT_EQ(tcp_flags_valid(flags), listed(core)) << "flags 0x" << std::hex << f;
  }
  EXPECT_FALSE(tcp_flags_valid(TCPF_SYN | TCPF_FIN));
  EXPECT_FALSE(tcp_flags_valid(TCPF_SYN | TCPF_RST));
  EXPECT_FALSE(tcp_flags_valid(TCPF_FIN));
  EXPECT_FALSE(tcp_flags_valid(0));
  EXPECT_FALSE(tcp_flags_valid(TCPF_FIN | TCPF_PSH | TCPF_URG));  // "xmas" without ACK
  EXPECT_TRUE(tcp_flags_valid(TCPF_SYN | TCPF_ECE | TCPF_CWR));   // ECN setup SYN
  EXPECT_TRUE(tcp_flags_valid(TCPF_ACK | TCPF_PSH));
}

// ---------------------------------------------------------------------------
// A small harness that behaves like the conntrack stage: OR set_status into
// the entry and set SEEN_REPLY after an accepted reply-direction packet.

l4_info tcp_pkt(uint8_t flags) {
  l4_info p;
  p.proto = 6;
  p.tcp_flags = flags;
  return p;
}

struct flow {
  const l4_tracker& trk;
  tracker_params params;
  track_state st;
  uint16_t status = 0;
  uint32_t now_ms = 1000;

  explicit flow(uint8_t proto, bool loose = true) : trk(tracker_for(proto)) {
    params.tcp_loose = loose;
  }

  bool open(const l4_info& p) { return trk.new_flow(p, nullptr, params, now_ms, &st, nullptr); }

  track_result send(ct_dir dir, const l4_info& p) {
    track_result r = trk.packet(&st, nullptr, status, dir, p, nullptr, params, now_ms);
    if (r.verdict != track_verdict::invalid) {
      status |= r.set_status;
      if (dir == ct_dir::reply) status |= CT_STATUS_SEEN_REPLY;
    }
    return r;
  }

  track_result tcp(ct_dir dir, uint8_t flags) { return send(dir, tcp_pkt(flags)); }
  int state() const { return st.l4state; }  // int: gtest prints uint8_t as a char
  bool assured() const { return (status & CT_STATUS_ASSURED) != 0; }
};

constexpr uint8_t SYN = TCPF_SYN;
constexpr uint8_t SYNACK = TCPF_SYN | TCPF_ACK;
constexpr uint8_t ACK = TCPF_ACK;
constexpr uint8_t FINACK = TCPF_FIN | TCPF_ACK;
constexpr uint8_t RST = TCPF_RST;

bool accepted(const track_result& r) { return r.verdict == track_verdict::accept; }
// Passed with the flow's ct state, but no state change and no refresh.
bool ignored(const track_result& r) { return r.verdict == track_verdict::ignore; }

// Opens with a SYN and completes the three-way handshake.
void establish(flow& f) {
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  ASSERT_TRUE(accepted(f.tcp(reply, SYNACK)));
  ASSERT_TRUE(accepted(f.tcp(orig, ACK)));
  ASSERT_EQ(f.state(), TCP_CT_ESTABLISHED);
}

// ---------------------------------------------------------------------------
// TCP: new flows

TEST(TcpNew, SynOpensSynSent) {
  flow f(6, /*loose=*/false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_SENT);
  EXPECT_EQ(f.st.tcp_last_dir, 0);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_SYN);
  EXPECT_EQ(f.st.stream_ms, 0u);
}

TEST(TcpNew, EcnSynOpens) {
  flow f(6, false);
  EXPECT_TRUE(f.open(tcp_pkt(SYN | TCPF_ECE | TCPF_CWR)));
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
}

TEST(TcpNew, LoosePicksUpMidStreamAckAsUnrepliedEstablished) {
  flow f(6, /*loose=*/true);
  ASSERT_TRUE(f.open(tcp_pkt(ACK | TCPF_PSH)));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_UNACK);  // Linux: ESTABLISHED [UNREPLIED], 300 s
  EXPECT_FALSE(f.assured());
}

TEST(TcpNew, StrictRefusesMidStreamAck) {
  flow f(6, /*loose=*/false);
  EXPECT_FALSE(f.open(tcp_pkt(ACK)));
}

TEST(TcpNew, PacketsThatCannotStartAFlow) {
  for (bool loose : {false, true}) {
    flow f(6, loose);
    EXPECT_FALSE(f.open(tcp_pkt(SYNACK))) << loose;
    EXPECT_FALSE(f.open(tcp_pkt(FINACK))) << loose;
    EXPECT_FALSE(f.open(tcp_pkt(RST))) << loose;
    EXPECT_FALSE(f.open(tcp_pkt(RST | ACK))) << loose;
  }
}

TEST(TcpNew, InvalidFlagsRefused) {
  const uint8_t bad[] = {TCPF_SYN | TCPF_FIN,
                         0,
                         TCPF_FIN,
                         TCPF_SYN | TCPF_RST,
                         TCPF_PSH,
                         TCPF_URG,
                         TCPF_SYN | TCPF_ACK | TCPF_URG,
                         TCPF_RST | TCPF_URG};
  for (bool loose : {false, true}) {
    for (uint8_t flags : bad) {
      flow f(6, loose);
      EXPECT_FALSE(f.open(tcp_pkt(flags))) << "flags " << int{flags} << " loose " << loose;
    }
  }
}

// ---------------------------------------------------------------------------
// TCP: connections

TEST(TcpConn, ThreeWayHandshakeAssures) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));

  track_result r = f.tcp(reply, SYNACK);
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_RECV);
  EXPECT_EQ(r.set_status, 0);

  r = f.tcp(orig, ACK);
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
  EXPECT_EQ(r.set_status, CT_STATUS_ASSURED);

  // ASSURED is reported once.
  r = f.tcp(reply, ACK | TCPF_PSH);
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tcp_last_dir, 1);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_ACK);
}

TEST(TcpConn, RetransmittedSynStaysSynSent) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  EXPECT_TRUE(ignored(f.tcp(orig, SYN)));  // no refresh before an answer
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_SENT);
}

TEST(TcpConn, ReplyAckInSynSentIsIgnored) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  const track_state before = f.st;
  EXPECT_TRUE(ignored(f.tcp(reply, ACK)));  // maybe a half-open peer: pass it
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.tclass, before.tclass);
  EXPECT_EQ(f.st.tcp_last_dir, 1);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_ACK);
}

TEST(TcpConn, ClientClosesFirst) {
  flow f(6, false);
  establish(f);
  f.tcp(orig, FINACK);
  EXPECT_EQ(f.state(), TCP_CT_FIN_WAIT);
  EXPECT_EQ(f.st.tclass, TC_TCP_FIN_WAIT);
  EXPECT_NE(f.st.stream_ms & TCP_TRK_CLOSE_INIT, 0u);
  f.tcp(reply, ACK);
  EXPECT_EQ(f.state(), TCP_CT_CLOSE_WAIT);
  EXPECT_EQ(f.st.tclass, TC_TCP_CLOSE_WAIT);
  f.tcp(reply, FINACK);
  EXPECT_EQ(f.state(), TCP_CT_LAST_ACK);
  EXPECT_EQ(f.st.tclass, TC_TCP_LAST_ACK);
  f.tcp(orig, ACK);
  EXPECT_EQ(f.state(), TCP_CT_TIME_WAIT);
  EXPECT_EQ(f.st.tclass, TC_TCP_TIME_WAIT);
  f.tcp(orig, ACK);  // retransmitted last ACK
  EXPECT_EQ(f.state(), TCP_CT_TIME_WAIT);
}

TEST(TcpConn, ServerClosesFirstWithCombinedFinAck) {
  flow f(6, false);
  establish(f);
  f.tcp(reply, FINACK);
  EXPECT_EQ(f.state(), TCP_CT_FIN_WAIT);
  f.tcp(orig, FINACK);  // ACK and FIN in one segment
  EXPECT_EQ(f.state(), TCP_CT_LAST_ACK);
  f.tcp(reply, ACK);
  EXPECT_EQ(f.state(), TCP_CT_TIME_WAIT);
}

TEST(TcpConn, RstClosesFromEveryLiveState) {
  for (ct_dir dir : {orig, reply}) {
    flow f(6, false);
    establish(f);
    track_result r = f.tcp(dir, RST);
    EXPECT_TRUE(accepted(r));
    EXPECT_EQ(f.state(), TCP_CT_CLOSE);
    EXPECT_EQ(f.st.tclass, TC_TCP_CLOSE);
    EXPECT_EQ(f.st.stream_ms & TCP_TRK_RESET_UNREPLIED, 0u);  // a reply had been seen
  }
  flow g(6, false);
  ASSERT_TRUE(g.open(tcp_pkt(SYN)));
  g.tcp(reply, RST | ACK);  // connection refused
  EXPECT_EQ(g.state(), TCP_CT_CLOSE);
  EXPECT_EQ(g.st.tclass, TC_TCP_CLOSE);
  EXPECT_NE(g.st.stream_ms & TCP_TRK_RESET_UNREPLIED, 0u);
}

TEST(TcpConn, SimultaneousOpenViaSynSent2) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  f.tcp(reply, SYN);
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT2);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_SENT);
  EXPECT_NE(f.st.stream_ms & TCP_TRK_SIMULTANEOUS_OPEN, 0u);
  f.tcp(orig, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  f.tcp(reply, SYNACK);  // the peer's SYN/ACK crosses ours: ignored
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  // Linux's special case: the reply side's ACK completes a simultaneous open.
  track_result r = f.tcp(reply, ACK);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(r.set_status, CT_STATUS_ASSURED);
}

TEST(TcpConn, ReplyAckInSynRecvWithoutSimultaneousOpenStays) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  f.tcp(reply, SYNACK);
  f.tcp(reply, ACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  EXPECT_FALSE(f.assured());
}

TEST(TcpConn, InvalidPacketsLeaveStateUntouched) {
  const uint8_t bad[] = {TCPF_SYN | TCPF_FIN, 0, TCPF_FIN, TCPF_SYN | TCPF_RST};
  for (uint8_t flags : bad) {
    for (ct_dir dir : {orig, reply}) {
      flow f(6, false);
      establish(f);
      const track_state before = f.st;
      EXPECT_FALSE(accepted(f.tcp(dir, flags))) << int{flags};
      EXPECT_EQ(f.st.l4state, before.l4state);
      EXPECT_EQ(f.st.tclass, before.tclass);
      EXPECT_EQ(f.st.tcp_last_dir, before.tcp_last_dir);
      EXPECT_EQ(f.st.tcp_last_index, before.tcp_last_index);
      EXPECT_EQ(f.st.stream_ms, before.stream_ms);
    }
  }
}

TEST(TcpConn, TableInvalidTransitionsAreInvalidVerdicts) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  EXPECT_FALSE(accepted(f.tcp(orig, ACK)));     // ACK before any SYN/ACK
  EXPECT_FALSE(accepted(f.tcp(orig, SYNACK)));  // client cannot answer itself
  EXPECT_FALSE(accepted(f.tcp(orig, FINACK)));
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_SYN);
  EXPECT_EQ(f.status & CT_STATUS_SEEN_REPLY, 0);
}

TEST(TcpConn, SynInEstablishedIsIgnoredButRemembered) {
  flow f(6, false);
  establish(f);
  track_result r = f.tcp(orig, SYN);
  EXPECT_TRUE(ignored(r));
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
  EXPECT_EQ(f.st.tcp_last_dir, 0);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_SYN);
}

TEST(TcpConn, SynAckAnsweringAnIgnoredSynResyncs) {
  // Both ends restarted the connection while we held an ESTABLISHED entry.
  flow f(6, false);
  establish(f);
  f.tcp(orig, SYN);
  f.tcp(reply, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_RECV);
  f.tcp(orig, ACK);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
}

TEST(TcpConn, LateSynAckWithoutIgnoredSynStaysIgnored) {
  flow f(6, false);
  establish(f);
  f.tcp(reply, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_SYNACK);
}

TEST(TcpConn, ChallengeAckInLastAckIsNotTheLastAck) {
  flow f(6, false);
  establish(f);
  f.tcp(orig, FINACK);
  f.tcp(reply, FINACK);
  ASSERT_EQ(f.state(), TCP_CT_LAST_ACK);
  f.tcp(orig, SYN);  // ignored; an RFC 5961 server answers with a challenge ACK
  EXPECT_EQ(f.state(), TCP_CT_LAST_ACK);
  EXPECT_TRUE(ignored(f.tcp(reply, ACK)));
  EXPECT_EQ(f.state(), TCP_CT_LAST_ACK);
  EXPECT_EQ(f.st.stream_ms & TCP_TRK_CHALLENGE_ACK, 0u);
  f.tcp(reply, ACK);  // the challenge is consumed: this one is a real last ACK
  EXPECT_EQ(f.state(), TCP_CT_TIME_WAIT);
}

TEST(TcpConn, SynReopensFromTimeWait) {
  flow f(6, false);
  establish(f);
  f.tcp(orig, FINACK);
  f.tcp(reply, FINACK);
  f.tcp(orig, ACK);
  ASSERT_EQ(f.state(), TCP_CT_TIME_WAIT);
  EXPECT_TRUE(accepted(f.tcp(orig, SYN)));
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_SENT);
  EXPECT_EQ(f.st.stream_ms, 0u);  // a fresh connection: old flags forgotten
  f.tcp(reply, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  f.tcp(orig, ACK);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
}

TEST(TcpConn, ServerSynReopensFromTimeWaitAsMirroredHandshake) {
  flow f(6, false);
  establish(f);
  f.tcp(orig, FINACK);
  f.tcp(reply, FINACK);
  f.tcp(orig, ACK);
  ASSERT_EQ(f.state(), TCP_CT_TIME_WAIT);
  f.tcp(reply, SYN);
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT2);
  EXPECT_EQ(f.st.tclass, TC_TCP_SYN_SENT);
  f.tcp(orig, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
  f.tcp(reply, ACK);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
}

TEST(TcpConn, SynReopensAfterOwnReset) {
  flow f(6, false);
  establish(f);
  f.tcp(orig, RST);
  ASSERT_EQ(f.state(), TCP_CT_CLOSE);
  f.tcp(orig, SYN);
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
}

TEST(TcpConn, SynAfterPeersResetOfAnAnsweredConnectionIsIgnored) {
  // Linux reopens from CLOSE only if a FIN was seen, the same side sent the
  // RST, or (emulated) the RST came before any reply.
  flow f(6, false);
  establish(f);
  f.tcp(reply, RST);
  ASSERT_EQ(f.state(), TCP_CT_CLOSE);
  EXPECT_TRUE(ignored(f.tcp(orig, SYN)));
  EXPECT_EQ(f.state(), TCP_CT_CLOSE);
  EXPECT_EQ(f.st.tcp_last_index, TCP_IDX_SYN);
  // ... but the server's SYN/ACK to it resyncs the entry.
  f.tcp(reply, SYNACK);
  EXPECT_EQ(f.state(), TCP_CT_SYN_RECV);
}

TEST(TcpConn, RetryAfterConnectionRefusedReopens) {
  flow f(6, false);
  ASSERT_TRUE(f.open(tcp_pkt(SYN)));
  f.tcp(reply, RST | ACK);
  ASSERT_EQ(f.state(), TCP_CT_CLOSE);
  f.tcp(orig, SYN);
  EXPECT_EQ(f.state(), TCP_CT_SYN_SENT);
  EXPECT_EQ(f.st.stream_ms, 0u);
}

TEST(TcpConn, LoosePickupAssuresOnceBothSidesTalk) {
  flow f(6, true);
  ASSERT_TRUE(f.open(tcp_pkt(ACK)));
  // The first reply is processed before SEEN_REPLY is set (as in Linux).
  track_result r = f.tcp(reply, ACK);
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_TCP_UNACK);
  r = f.tcp(orig, ACK);
  EXPECT_EQ(r.set_status, CT_STATUS_ASSURED);
  EXPECT_EQ(f.st.tclass, TC_TCP_ESTABLISHED);
}

TEST(TcpConn, LoosePickupWithoutReplyStaysUnacknowledged) {
  flow f(6, true);
  ASSERT_TRUE(f.open(tcp_pkt(ACK)));
  track_result r = f.tcp(orig, ACK | TCPF_PSH);
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.state(), TCP_CT_ESTABLISHED);
  EXPECT_EQ(f.st.tclass, TC_TCP_UNACK);
}

// ---------------------------------------------------------------------------
// TCP: the state -> timeout class mapping

TEST(TcpTimeouts, ClassForEveryState) {
  const uint16_t replied = CT_STATUS_SEEN_REPLY;
  const std::pair<uint8_t, timeout_class> expected[] = {
      {TCP_CT_NONE, TC_TCP_SYN_SENT},     {TCP_CT_SYN_SENT, TC_TCP_SYN_SENT},
      {TCP_CT_SYN_RECV, TC_TCP_SYN_RECV}, {TCP_CT_ESTABLISHED, TC_TCP_ESTABLISHED},
      {TCP_CT_FIN_WAIT, TC_TCP_FIN_WAIT}, {TCP_CT_CLOSE_WAIT, TC_TCP_CLOSE_WAIT},
      {TCP_CT_LAST_ACK, TC_TCP_LAST_ACK}, {TCP_CT_TIME_WAIT, TC_TCP_TIME_WAIT},
      {TCP_CT_CLOSE, TC_TCP_CLOSE},       {TCP_CT_SYN_SENT2, TC_TCP_SYN_SENT},
  };
  for (const auto& [state, tclass] : expected) {
    EXPECT_EQ(timeout_class_for_tcp(state, replied, TCP_IDX_ACK), tclass) << tcp_state_name(state);
  }
  EXPECT_EQ(timeout_class_for_tcp(TCP_CT_MAX, replied, TCP_IDX_ACK), TC_TCP_CLOSE);
}

TEST(TcpTimeouts, UnrepliedEstablishedIsUnacknowledged) {
  EXPECT_EQ(timeout_class_for_tcp(TCP_CT_ESTABLISHED, 0, TCP_IDX_ACK), TC_TCP_UNACK);
  EXPECT_EQ(timeout_class_for_tcp(TCP_CT_ESTABLISHED, CT_STATUS_ASSURED, TCP_IDX_ACK),
            TC_TCP_UNACK);
  // Only ESTABLISHED is capped; other states keep their class.
  EXPECT_EQ(timeout_class_for_tcp(TCP_CT_SYN_SENT, 0, TCP_IDX_SYN), TC_TCP_SYN_SENT);
  EXPECT_EQ(timeout_class_for_tcp(TCP_CT_FIN_WAIT, 0, TCP_IDX_FIN), TC_TCP_FIN_WAIT);
}

TEST(TcpTimeouts, RstAlwaysGetsTheCloseClass) {
  for (uint8_t state = 0; state < TCP_CT_MAX; ++state) {
    EXPECT_EQ(timeout_class_for_tcp(state, 0, TCP_IDX_RST), TC_TCP_CLOSE);
    EXPECT_EQ(timeout_class_for_tcp(state, CT_STATUS_SEEN_REPLY, TCP_IDX_RST), TC_TCP_CLOSE);
  }
}

// ---------------------------------------------------------------------------
// UDP

l4_info udp_pkt() {
  l4_info p;
  p.proto = 17;
  p.payload_len = 32;
  return p;
}

TEST(Udp, NewFlowIsUnrepliedWithTwoSecondStreamMark) {
  flow f(17);
  f.now_ms = 5000;
  ASSERT_TRUE(f.open(udp_pkt()));
  EXPECT_EQ(f.st.tclass, TC_UDP);
  EXPECT_EQ(f.st.stream_ms, 7000u);
  EXPECT_EQ(f.st.l4state, 0);
}

TEST(Udp, UnrepliedStaysShortEvenWhenOld) {
  flow f(17);
  ASSERT_TRUE(f.open(udp_pkt()));
  f.now_ms += 60000;
  track_result r = f.send(orig, udp_pkt());
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_UDP);
}

TEST(Udp, ReplyWithinTwoSecondsIsNotAStream) {
  flow f(17);
  ASSERT_TRUE(f.open(udp_pkt()));
  f.now_ms += 100;
  f.send(reply, udp_pkt());
  f.now_ms += 1900;  // exactly at the mark: not yet after it
  track_result r = f.send(orig, udp_pkt());
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_UDP);
  EXPECT_FALSE(f.assured());
}

TEST(Udp, RepliedFlowBecomesStreamAfterTwoSeconds) {
  flow f(17);
  ASSERT_TRUE(f.open(udp_pkt()));
  f.send(reply, udp_pkt());
  f.now_ms += 2001;
  track_result r = f.send(orig, udp_pkt());
  EXPECT_EQ(r.set_status, CT_STATUS_ASSURED);
  EXPECT_EQ(f.st.tclass, TC_UDP_STREAM);
  r = f.send(reply, udp_pkt());
  EXPECT_EQ(r.set_status, 0);  // already assured
  EXPECT_EQ(f.st.tclass, TC_UDP_STREAM);
}

TEST(Udp, FirstReplyItselfLateIsStillNotAStream) {
  // SEEN_REPLY is set after the tracker ran, so the first reply cannot assure.
  flow f(17);
  ASSERT_TRUE(f.open(udp_pkt()));
  f.now_ms += 10000;
  track_result r = f.send(reply, udp_pkt());
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_UDP);
}

TEST(Udp, StreamMarkSurvivesClockWrap) {
  flow f(17);
  f.now_ms = UINT32_MAX - 500;
  ASSERT_TRUE(f.open(udp_pkt()));
  f.send(reply, udp_pkt());
  f.now_ms = 1000;  // wrapped: 1501 ms later, before the mark
  EXPECT_EQ(f.send(orig, udp_pkt()).set_status, 0);
  f.now_ms = 1600;  // 2101 ms later
  EXPECT_EQ(f.send(orig, udp_pkt()).set_status, CT_STATUS_ASSURED);
}

// ---------------------------------------------------------------------------
// ICMP

l4_info icmp_pkt(uint8_t type, uint8_t code = 0) {
  l4_info p;
  p.proto = 1;
  p.icmp_type = type;
  p.icmp_code = code;
  return p;
}

TEST(Icmp, EchoRequestCreatesAndReplyMatches) {
  flow f(1);
  ASSERT_TRUE(f.open(icmp_pkt(8)));
  EXPECT_EQ(f.st.tclass, TC_ICMP);
  EXPECT_EQ(f.st.l4state, 8);
  track_result r = f.send(reply, icmp_pkt(0));
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_ICMP);
  r = f.send(orig, icmp_pkt(8));  // next ping, same identifier
  EXPECT_TRUE(accepted(r));
  r = f.send(reply, icmp_pkt(0));
  EXPECT_TRUE(accepted(r));
  EXPECT_FALSE(f.assured());
}

TEST(Icmp, EveryQueryTypePairsWithItsAnswer) {
  const std::pair<uint8_t, uint8_t> pairs[] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}};
  for (const auto& [query, answer] : pairs) {
    flow f(1);
    ASSERT_TRUE(f.open(icmp_pkt(query))) << int{query};
    EXPECT_TRUE(accepted(f.send(reply, icmp_pkt(answer)))) << int{query};
    EXPECT_TRUE(accepted(f.send(orig, icmp_pkt(query)))) << int{query};
  }
}

TEST(Icmp, OnlyQueriesCreate) {
  for (int type = 0; type < 256; ++type) {
    flow f(1);
    const bool query = type == 8 || type == 13 || type == 15 || type == 17;
    EXPECT_EQ(f.open(icmp_pkt(static_cast<uint8_t>(type))), query) << type;
  }
  flow f(1);
  EXPECT_TRUE(f.open(icmp_pkt(8, 1)));   // any code, as Linux
  EXPECT_FALSE(f.open(icmp_pkt(0)));     // a stray echo reply
  EXPECT_FALSE(f.open(icmp_pkt(3, 1)));  // errors are RELATED, never NEW
}

TEST(Icmp, MismatchedTypesAreInvalid) {
  flow f(1);
  ASSERT_TRUE(f.open(icmp_pkt(8)));
  const track_state before = f.st;
  EXPECT_FALSE(accepted(f.send(reply, icmp_pkt(14))));  // timestamp reply to a ping
  EXPECT_FALSE(accepted(f.send(reply, icmp_pkt(8))));   // a request in the reply direction
  EXPECT_FALSE(accepted(f.send(orig, icmp_pkt(0))));    // a reply in the original direction
  EXPECT_FALSE(accepted(f.send(orig, icmp_pkt(13))));   // another query on this entry
  EXPECT_EQ(f.st.l4state, before.l4state);
  EXPECT_EQ(f.st.tclass, before.tclass);
  EXPECT_EQ(f.status, 0);
}

// ---------------------------------------------------------------------------
// Generic

TEST(Generic, AlwaysNewNeverAssured) {
  flow f(47);
  l4_info p;
  p.proto = 47;
  ASSERT_TRUE(f.open(p));
  EXPECT_EQ(f.st.tclass, TC_GENERIC);
  f.now_ms += 10000;
  EXPECT_TRUE(accepted(f.send(reply, p)));
  track_result r = f.send(orig, p);
  EXPECT_TRUE(accepted(r));
  EXPECT_EQ(r.set_status, 0);
  EXPECT_EQ(f.st.tclass, TC_GENERIC);
  EXPECT_FALSE(f.assured());
}

// ---------------------------------------------------------------------------
// state_kept: a tracker that says it kept the state must have kept it (ct_in then skips the
// compare and the publish), and the UDP, ICMP and generic trackers say so for an established
// flow's next packet.

// Every class the UDP, ICMP, ICMPv6 and generic trackers can be handed, with ICMP query and
// answer states, crossed with each direction, status and a clock before and after the UDP
// stream mark: kept means equal.
TEST(StateKept, NeverClaimedWhenTheStateChanged) {
  l4_info echo6 = icmp_pkt(128);
  echo6.proto = 58;
  l4_info answer6 = icmp_pkt(129);
  answer6.proto = 58;
  const std::pair<uint8_t, l4_info> cases[] = {
      {17, udp_pkt()}, {1, icmp_pkt(8)}, {1, icmp_pkt(0)}, {1, icmp_pkt(14)},
      {58, echo6},     {58, answer6},    {47, l4_info{}}};
  const uint16_t statuses[] = {0, CT_STATUS_SEEN_REPLY,
                               static_cast<uint16_t>(CT_STATUS_SEEN_REPLY | CT_STATUS_ASSURED)};
  for (const auto& [proto, pkt] : cases) {
    int kept = 0, checked = 0;
    for (uint8_t tclass = 0; tclass < TC_COUNT; tclass++)
      for (uint8_t l4state : {uint8_t{0}, uint8_t{8}, uint8_t{13}, uint8_t{128}})
        for (uint16_t status : statuses)
          for (ct_dir dir : {orig, reply})
            for (uint32_t now_ms : {1000u, 9000u}) {
              const l4_tracker& trk = tracker_for(proto);
              track_state st;
              st.tclass = tclass;
              st.l4state = l4state;
              st.stream_ms = 3000;
              const track_state before = st;
              const track_result r =
                  trk.packet(&st, nullptr, status, dir, pkt, nullptr, tracker_params{}, now_ms);
              ASSERT_LE(r.state_kept, 1);
              if (r.state_kept) {
                EXPECT_TRUE(st == before)
                    << trk.name << " class " << int{tclass} << " l4state " << int{l4state}
                    << " status " << status << " dir " << int(dir) << " now " << now_ms;
                kept++;
              }
              checked++;
            }
    // Each case takes both paths.
    EXPECT_GT(kept, 0) << int{proto} << " type " << int{pkt.icmp_type};
    EXPECT_LT(kept, checked) << int{proto} << " type " << int{pkt.icmp_type};
  }
}

TEST(StateKept, EstablishedFlowsSayTheyKeptIt) {
  flow u(17);
  ASSERT_TRUE(u.open(udp_pkt()));
  EXPECT_EQ(u.send(orig, udp_pkt()).state_kept, 1);
  u.send(reply, udp_pkt());
  u.now_ms += 2001;
  EXPECT_EQ(u.send(orig, udp_pkt()).state_kept, 0);  // becomes a stream
  EXPECT_EQ(u.send(reply, udp_pkt()).state_kept, 1);

  flow i(1);
  ASSERT_TRUE(i.open(icmp_pkt(8)));
  EXPECT_EQ(i.send(reply, icmp_pkt(0)).state_kept, 1);
  EXPECT_EQ(i.send(orig, icmp_pkt(0)).state_kept, 0);  // invalid: promises nothing

  flow g(47);
  l4_info p;
  p.proto = 47;
  ASSERT_TRUE(g.open(p));
  EXPECT_EQ(g.send(orig, p).state_kept, 1);

  flow t(6);
  establish(t);
  EXPECT_EQ(t.tcp(orig, ACK).state_kept, 0);  // TCP always compares
}

// ---------------------------------------------------------------------------
// Table, names, timeouts

TEST(Trackers, TableByIpProtocol) {
  EXPECT_STREQ(tracker_for(6).name, "tcp");
  EXPECT_STREQ(tracker_for(17).name, "udp");
  EXPECT_STREQ(tracker_for(1).name, "icmp");
  EXPECT_STREQ(tracker_for(47).name, "unknown");
  EXPECT_EQ(&tracker_for(6), &tcp_tracker);
  EXPECT_EQ(&tracker_for(17), &udp_tracker);
  EXPECT_EQ(&tracker_for(1), &icmp_tracker);
  EXPECT_EQ(&tracker_for(58), &icmpv6_tracker);
  EXPECT_STREQ(tracker_for(58).name, "icmpv6");
  for (int proto = 0; proto < 256; ++proto) {
    const l4_tracker& t = tracker_for(static_cast<uint8_t>(proto));
    ASSERT_NE(t.name, nullptr);
    ASSERT_NE(t.new_flow, nullptr);
    ASSERT_NE(t.packet, nullptr);
    if (proto != 1 && proto != 6 && proto != 17 && proto != 58) {
      EXPECT_EQ(&t, &generic_tracker) << proto;
    }
  }
}

TEST(Names, TcpStates) {
  const char* const names[] = {"NONE",       "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
                               "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2"};
  for (uint8_t s = 0; s < TCP_CT_MAX; ++s) EXPECT_STREQ(tcp_state_name(s), names[s]);
  EXPECT_STREQ(tcp_state_name(TCP_CT_MAX), "UNKNOWN");
  EXPECT_STREQ(tcp_state_name(255), "UNKNOWN");
}

TEST(Names, TimeoutClassesAreConfigKeys) {
  const char* const names[] = {"tcp_syn_sent",
                               "tcp_syn_recv",
                               "tcp_established",
                               "tcp_fin_wait",
                               "tcp_close_wait",
                               "tcp_last_ack",
                               "tcp_time_wait",
                               "tcp_close",
                               "tcp_unacknowledged",
                               "tcp_max_retrans",
                               "udp",
                               "udp_stream",
                               "icmp",
                               "generic",
                               "icmpv6"};
  static_assert(sizeof(names) / sizeof(names[0]) == TC_COUNT);
  for (uint8_t c = 0; c < TC_COUNT; ++c) EXPECT_STREQ(timeout_class_name(c), names[c]);
  EXPECT_STREQ(timeout_class_name(TC_COUNT), "unknown");
}

TEST(TimeoutTable, LinuxDefaultsInMilliseconds) {
  const timeout_table t = make_timeout_table(conntrack_timeouts{});
  EXPECT_EQ(t.ms[TC_TCP_SYN_SENT], 120000u);
  EXPECT_EQ(t.ms[TC_TCP_SYN_RECV], 60000u);
  EXPECT_EQ(t.ms[TC_TCP_ESTABLISHED], 432000000u);
  EXPECT_EQ(t.ms[TC_TCP_FIN_WAIT], 120000u);
  EXPECT_EQ(t.ms[TC_TCP_CLOSE_WAIT], 60000u);
  EXPECT_EQ(t.ms[TC_TCP_LAST_ACK], 30000u);
  EXPECT_EQ(t.ms[TC_TCP_TIME_WAIT], 120000u);
  EXPECT_EQ(t.ms[TC_TCP_CLOSE], 10000u);
  EXPECT_EQ(t.ms[TC_TCP_UNACK], 300000u);
  EXPECT_EQ(t.ms[TC_TCP_RETRANS], 300000u);
  EXPECT_EQ(t.ms[TC_UDP], 30000u);
  EXPECT_EQ(t.ms[TC_UDP_STREAM], 120000u);
  EXPECT_EQ(t.ms[TC_ICMP], 30000u);
  EXPECT_EQ(t.ms[TC_GENERIC], 600000u);
  EXPECT_EQ(t.ms[TC_ICMPV6], 30000u);
}

TEST(TimeoutTable, EachKeyLandsInItsOwnClassAndHugeValuesSaturate) {
  conntrack_timeouts c;
  c.tcp_syn_sent = 1;
  c.tcp_syn_recv = 2;
  c.tcp_established = 3;
  c.tcp_fin_wait = 4;
  c.tcp_close_wait = 5;
  c.tcp_last_ack = 6;
  c.tcp_time_wait = 7;
  c.tcp_close = 8;
  c.tcp_unacknowledged = 9;
  c.tcp_max_retrans = 10;
  c.udp = 11;
  c.udp_stream = 12;
  c.icmp = 13;
  c.generic = UINT32_MAX;
  c.icmpv6 = 15;
  const timeout_table t = make_timeout_table(c);
  for (uint8_t k = 0; k < TC_GENERIC; ++k) EXPECT_EQ(t.ms[k], (k + 1u) * 1000u) << int{k};
  EXPECT_EQ(t.ms[TC_GENERIC], UINT32_MAX);
  EXPECT_EQ(t.ms[TC_ICMPV6], 15000u);
}

// ---------------------------------------------------------------------------
// ICMP errors: the tracker reads the quote (nf_conntrack_icmpv4_error); the
// core looks the quoted flow up.

// An ICMP error header (8 bytes) quoting an IPv4 header and 8 L4 bytes.
std::vector<uint8_t> icmp_error_quoting(uint8_t proto, const std::vector<uint8_t>& l4) {
  std::vector<uint8_t> b = {icmp::dest_unreach, icmp::port_unreach, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> ip = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  b.insert(b.end(), ip.begin(), ip.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

TEST(IcmpError, OnlyErrorTypesAreErrors) {
  for (uint8_t t : {icmp::dest_unreach, icmp::source_quench, icmp::redirect, icmp::time_exceeded,
                    icmp::parameter_problem})
    EXPECT_TRUE(icmp_is_error(t)) << int(t);
  for (uint8_t t : {icmp::echo, icmp::echo_reply, icmp::timestamp, uint8_t{9}, uint8_t{42}})
    EXPECT_FALSE(icmp_is_error(t)) << int(t);
}

TEST(IcmpError, QuoteOfUdpGivesTheQuotedTuple) {
  auto b = icmp_error_quoting(IPPROTO_UDP, {0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0});
  ct_tuple t;
  ASSERT_TRUE(icmp_error_quote(b.data(), static_cast<uint32_t>(b.size()), 7, &t));
  EXPECT_EQ(t.proto, IPPROTO_UDP);
  EXPECT_EQ(t.zone, 7);
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  EXPECT_EQ(0, std::memcmp(&t.src, src, 4));
  EXPECT_EQ(0, std::memcmp(&t.dst, dst, 4));
  const uint8_t sport[2] = {0x13, 0x88}, dport[2] = {0x00, 0x35};
  EXPECT_EQ(0, std::memcmp(&t.sport, sport, 2));
  EXPECT_EQ(0, std::memcmp(&t.dport, dport, 2));
}

TEST(IcmpError, QuoteOfAnEchoRequestKeysOnIdAndType) {
  auto b = icmp_error_quoting(IPPROTO_ICMP, {icmp::echo, 0, 0, 0, 0x12, 0x34, 0, 1});
  ct_tuple t;
  ASSERT_TRUE(icmp_error_quote(b.data(), static_cast<uint32_t>(b.size()), 0, &t));
  const uint8_t id[2] = {0x12, 0x34};
  EXPECT_EQ(0, std::memcmp(&t.sport, id, 2));
  EXPECT_EQ(t.dport, icmp::echo << 8);
}

TEST(IcmpError, BadQuotesAreRefused) {
  ct_tuple t;
  auto b = icmp_error_quoting(IPPROTO_UDP, {0, 1, 0, 2, 0, 8, 0, 0});
  // Truncated: fewer than 8 bytes after the quoted header.
  EXPECT_FALSE(icmp_error_quote(b.data(), static_cast<uint32_t>(b.size() - 1), 0, &t));
  EXPECT_FALSE(icmp_error_quote(b.data(), 8 + 19, 0, &t));
  // Not IPv4, or a header length below 20.
  auto v6 = b;
  v6[8] = 0x65;
  EXPECT_FALSE(icmp_error_quote(v6.data(), static_cast<uint32_t>(v6.size()), 0, &t));
  auto short_ihl = b;
  short_ihl[8] = 0x44;
  EXPECT_FALSE(icmp_error_quote(short_ihl.data(), static_cast<uint32_t>(short_ihl.size()), 0, &t));
  // An error about an error: no flow can be its subject.
  auto about_error = icmp_error_quoting(IPPROTO_ICMP, {icmp::dest_unreach, 3, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(
      icmp_error_quote(about_error.data(), static_cast<uint32_t>(about_error.size()), 0, &t));
  // About an echo reply: its echo's flow, keyed on the id (Linux's invmap maps both ways;
  // test_w10_an_error_about_an_echo_reply_is_related checks it against the kernel).
  auto about_reply = icmp_error_quoting(IPPROTO_ICMP, {icmp::echo_reply, 0, 0, 0, 0, 1, 0, 1});
  ASSERT_TRUE(
      icmp_error_quote(about_reply.data(), static_cast<uint32_t>(about_reply.size()), 0, &t));
  EXPECT_EQ(t.proto, IPPROTO_ICMP);
  // Nor an ICMP message that is neither a query nor an answer (a router advertisement).
  auto about_advert = icmp_error_quoting(IPPROTO_ICMP, {9, 0, 0, 0, 0, 1, 0, 1});
  EXPECT_FALSE(
      icmp_error_quote(about_advert.data(), static_cast<uint32_t>(about_advert.size()), 0, &t));
}

// ---------------------------------------------------------------------------
// IPv6: address digests, the ICMPv6 query map, and the quote of an ICMPv6 error.

ipv6_addr v6(uint8_t last, uint8_t first = 0x20) {
  ipv6_addr a;
  a.b[0] = first;
  a.b[1] = 0x01;
  a.b[15] = last;
  return a;
}

TEST(Addr6Digests, SymmetricPerPairAndKeyed) {
  const uint32_t key[4] = {1, 2, 3, 4};
  uint32_t s1, d1, s2, d2;
  addr6_digests(key, v6(1), v6(2), &s1, &d1);
  addr6_digests(key, v6(2), v6(1), &s2, &d2);
  EXPECT_EQ(s1, d2);  // the reply's digests are the same two, swapped
  EXPECT_EQ(d1, s2);
  EXPECT_NE(s1, d1);  // different addresses never share a digest within a pair
  uint32_t a, b;
  addr6_digests(key, v6(7), v6(7), &a, &b);
  EXPECT_EQ(a, b);  // one address, one digest: a flow to itself orders by ports
  const uint32_t other_key[4] = {1, 2, 3, 5};
  uint32_t s3, d3;
  addr6_digests(other_key, v6(1), v6(2), &s3, &d3);
  EXPECT_FALSE(s3 == s1 && d3 == d1);
  // Tuples of both directions make one key; ICMPv6 keys on the id alone, as ICMP.
  ct_tuple t{s1, d1, 40000, 80, IPPROTO_TCP, k_family_ipv6, 0};
  EXPECT_EQ(make_key(t), make_key(invert(t)));
  ct_tuple ping{s1, d1, 7, static_cast<uint16_t>(128 << 8), IPPROTO_ICMPV6, k_family_ipv6, 0};
  EXPECT_EQ(invert(ping).dport, 129 << 8);
  EXPECT_EQ(make_key(ping), make_key(invert(ping)));
  // The family byte keeps IPv4 and IPv6 keys apart whatever the digests are.
  ct_tuple four = t;
  four.family = k_family_ipv4;
  EXPECT_NE(make_key(four), make_key(t));
}

TEST(Icmpv6Tracker, QueriesOpenFlowsRepliesAnswerThem) {
  EXPECT_EQ(icmp6_reply_type(128), 129);
  EXPECT_EQ(icmp6_reply_type(139), 140);
  EXPECT_EQ(icmp6_reply_type(129), k_icmp_not_query);  // a reply opens nothing
  EXPECT_EQ(icmp6_reply_type(135), k_icmp_not_query);
  EXPECT_EQ(icmp_reply_type(128), k_icmp_not_query);  // an IPv4 type 128 is nothing
  EXPECT_TRUE(icmp6_is_error(1));
  EXPECT_FALSE(icmp6_is_error(128));
  for (uint8_t t : {130, 131, 132, 133, 134, 135, 136, 143}) EXPECT_TRUE(icmp6_is_untracked(t));
  EXPECT_FALSE(icmp6_is_untracked(137));  // a redirect is not: Linux calls it invalid
  const l4_tracker& tr = tracker_for(IPPROTO_ICMPV6);
  tracker_params p;
  l4_info req;
  req.proto = IPPROTO_ICMPV6;
  req.icmp_type = 128;
  track_state st;
  ASSERT_TRUE(tr.new_flow(req, nullptr, p, 0, &st, nullptr));
  EXPECT_EQ(st.tclass, TC_ICMPV6);
  l4_info rep = req;
  rep.icmp_type = 129;
  EXPECT_EQ(tr.packet(&st, nullptr, 0, reply, rep, nullptr, p, 0).verdict, track_verdict::accept);
  EXPECT_EQ(tr.packet(&st, nullptr, 0, orig, rep, nullptr, p, 0).verdict, track_verdict::invalid);
  EXPECT_FALSE(tr.new_flow(rep, nullptr, p, 0, &st, nullptr));
}

// An ICMPv6 error (8 bytes) quoting an IPv6 header, `ext` extension bytes, then `l4`.
std::vector<uint8_t> icmp6_error_quoting(uint8_t first_next, const std::vector<uint8_t>& ext,
                                         const std::vector<uint8_t>& l4) {
  std::vector<uint8_t> b = {1, 4, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> ip(40, 0);
  ip[0] = 0x60;
  const size_t payload = ext.size() + l4.size();
  ip[4] = static_cast<uint8_t>(payload >> 8);
  ip[5] = static_cast<uint8_t>(payload);
  ip[6] = first_next;
  ip[7] = 64;
  std::memcpy(ip.data() + 8, v6(1).b, 16);
  std::memcpy(ip.data() + 24, v6(2).b, 16);
  b.insert(b.end(), ip.begin(), ip.end());
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

TEST(Icmpv6Error, QuoteWalksTheQuotedExtensionChain) {
  // A destination options header (8 bytes, next: UDP) before the quoted UDP header.
  auto b = icmp6_error_quoting(IPPROTO_DSTOPTS, {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0},
                               {0x9c, 0x40, 0, 53, 0, 8, 0, 0});
  ct_tuple t;
  ct_addr6 a;
  ASSERT_TRUE(icmp6_error_quote(b.data(), static_cast<uint32_t>(b.size()), 3, &t, &a));
  EXPECT_EQ(t.proto, IPPROTO_UDP);
  EXPECT_EQ(t.family, k_family_ipv6);
  EXPECT_EQ(t.zone, 3);
  EXPECT_EQ(ntohs(t.sport), 40000);
  EXPECT_EQ(ntohs(t.dport), 53);
  EXPECT_EQ(a.src, v6(1));
  EXPECT_EQ(a.dst, v6(2));
  // Truncated in the ports, an IPv4 quote, or an error about an error: refused.
  EXPECT_FALSE(icmp6_error_quote(b.data(), static_cast<uint32_t>(b.size() - 5), 0, &t, &a));
  auto four = b;
  four[8] = 0x45;
  EXPECT_FALSE(icmp6_error_quote(four.data(), static_cast<uint32_t>(four.size()), 0, &t, &a));
  auto about_error = icmp6_error_quoting(IPPROTO_ICMPV6, {}, {1, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(
      icmp6_error_quote(about_error.data(), static_cast<uint32_t>(about_error.size()), 0, &t, &a));
  auto about_echo = icmp6_error_quoting(IPPROTO_ICMPV6, {}, {128, 0, 0, 0, 0, 9, 0, 1});
  ASSERT_TRUE(
      icmp6_error_quote(about_echo.data(), static_cast<uint32_t>(about_echo.size()), 0, &t, &a));
  EXPECT_EQ(ntohs(t.sport), 9);
  EXPECT_EQ(t.dport, 128 << 8);
}

}  // namespace
}  // namespace ctgate::ct
