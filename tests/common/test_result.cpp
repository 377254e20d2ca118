// ctgate::result and ctgate::error (lib/common/result.h): the control plane's
// one error convention, and the exact texts its errors print.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "common/result.h"

namespace ctgate {
namespace {

result<int> half(int n) {
  if (n % 2 != 0) return error{.message = std::to_string(n) + " is odd"};
  return n / 2;
}

result<void> check_even(int n) {
  if (result<int> h = half(n); !h) return h.error();
  return {};
}

TEST(Result, ValueOrError) {
  result<int> ok = half(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(ok.value(), 4);
  EXPECT_EQ(*ok, 4);

  result<int> bad = half(7);
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.error().message, "7 is odd");
}

TEST(Result, VoidAndPropagation) {
  EXPECT_TRUE(check_even(2).ok());
  result<void> bad = check_even(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().to_string(), "3 is odd");
  result<void> fine;
  EXPECT_TRUE(fine);
}

TEST(Result, MoveOnlyValuesAndArrow) {
  auto make = [](bool good) -> result<std::unique_ptr<std::string>> {
    if (!good) return error{.message = "no"};
    return std::make_unique<std::string>("yes");
  };
  result<std::unique_ptr<std::string>> r = make(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(**r, "yes");
  EXPECT_EQ(r->get()->size(), 3u);
  std::unique_ptr<std::string> taken = std::move(r).value();
  EXPECT_EQ(*taken, "yes");
  EXPECT_EQ(make(false).error().message, "no");
  // Converting construction: a string result from a string literal.
  result<std::string> s = "text";
  EXPECT_EQ(s->size(), 4u);
}

TEST(Result, CheapToMoveAndNeverThrows) {
  static_assert(std::is_nothrow_move_constructible_v<result<std::string>>);
  static_assert(std::is_nothrow_move_constructible_v<result<void>>);
  static_assert(std::is_nothrow_move_constructible_v<error>);
  static_assert(!std::is_convertible_v<result<int>, bool>);  // explicit: no accidental arithmetic
  result<std::string> a = error{.file = "f", .message = "m"};
  result<std::string> b = std::move(a);
  EXPECT_EQ(b.error().to_string(), "f: m");
  error e = std::move(b).error();
  EXPECT_EQ(e.message, "m");
}

// The first line prints only what is known, in a fixed order.
TEST(Error, PositionSeverityKeyMessage) {
  EXPECT_EQ(error{.message = "m"}.to_string(), "m");
  EXPECT_EQ((error{.file = "f", .message = "m"}).to_string(), "f: m");
  EXPECT_EQ((error{.file = "f", .line = 3, .message = "m"}).to_string(), "f:3: m");
  EXPECT_EQ((error{.file = "f", .line = 3, .col = 7, .message = "m"}).to_string(), "f:3:7: m");
  // A column without a line is not a position.
  EXPECT_EQ((error{.file = "f", .col = 7, .message = "m"}).to_string(), "f: m");
  // The config loader's shape: FILE:LINE: KEY: message.
  EXPECT_EQ(
      (error{.file = "c.yaml", .line = 4, .key = "ports[0].mtu", .message = "too big"}).to_string(),
      "c.yaml:4: ports[0].mtu: too big");
  EXPECT_EQ((error{.file = "c.yaml", .key = "workers", .message = "m"}).to_string(),
            "c.yaml: workers: m");
  // nft's: FILE:LINE:COL: error: message.
  EXPECT_EQ((error{.file = "r.nft", .line = 2, .col = 5, .severity = "error", .message = "m"})
                .to_string(),
            "r.nft:2:5: error: m");
  EXPECT_EQ((error{.file = "r.nft", .severity = "error", .message = "m"}).to_string(),
            "r.nft: error: m");
}

TEST(Error, FieldsPrintAsTheyAre) {
  // nft prints names as written, tabs included; only the producer decides to escape.
  error e{.file = "r.nft", .line = 1, .col = 2, .severity = "error", .message = "'a\tb'"};
  e.detail = {"\tsource", " ^"};
  EXPECT_EQ(e.to_string(), "r.nft:1:2: error: 'a\tb'\n\tsource\n ^");
}

TEST(Error, EscapeControlKeepsOneLine) {
  EXPECT_EQ(escape_control("plain: text, 'quoted' \xc3\xa9"), "plain: text, 'quoted' \xc3\xa9");
  EXPECT_EQ(escape_control(std::string("a\nb\tc\x01") + "d\x7f"), "a\\nb\\tc\\x01d\\x7f");
  EXPECT_EQ(escape_control(std::string("\0", 1)), "\\x00");
}

TEST(Error, QuoteUnderlinesTheSpan) {
  error e{.file = "r.nft", .line = 3, .col = 5, .len = 3, .severity = "error", .message = "m"};
  e.quote("    foo bar");
  EXPECT_EQ(e.to_string(), "r.nft:3:5: error: m\n    foo bar\n    ^^^");
}

TEST(Error, QuoteClampsToTheLine) {
  // A span running past the end is cut at the end of the line.
  error past{.line = 1, .col = 5, .len = 10};
  past.quote("abcdef");
  ASSERT_EQ(past.detail.size(), 2u);
  EXPECT_EQ(past.detail[1], "    ^^");
  // A column past the end (an error at end of line) gets one caret.
  error end{.line = 1, .col = 8, .len = 4};
  end.quote("abcdef");
  EXPECT_EQ(end.detail[1], "       ^");
  // Unknown column and length: one caret at the start.
  error unknown{.line = 1};
  unknown.quote("abc");
  EXPECT_EQ(unknown.detail[1], "^");
}

TEST(Error, QuoteNeedsALineAndText) {
  error no_line{.file = "f", .col = 2, .message = "m"};
  no_line.quote("text");
  EXPECT_TRUE(no_line.detail.empty());
  error no_text{.file = "f", .line = 2, .col = 2, .message = "m"};
  no_text.quote("");
  EXPECT_TRUE(no_text.detail.empty());
  EXPECT_EQ(no_text.to_string(), "f:2:2: m");
}

}  // namespace
}  // namespace ctgate
