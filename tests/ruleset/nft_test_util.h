// Helpers the ruleset unit tests share: applying nft commands to a tree and checking a listing.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ruleset/ast.h"

namespace ctgate::nft::test {

// Applies `text` to `base`; the listing with handles (nft -a), or the error.
inline std::string apply(const std::string& text, ruleset* base) {
  result<ruleset> r = parse_string(text, "rs.nft", {}, base);
  if (!r) return r.error().to_string();
  *base = *r;
  return format(*base, nullptr, true);
}

// `input` parses and lists as `listing` (what nft listed for the same rules), and the listing
// reads back to itself. Returns the listing's tree.
inline ruleset expect_lists_as(const std::string& input, const std::string& listing) {
  result<ruleset> rs = parse_string(input, "rs.nft");
  EXPECT_TRUE(rs.ok()) << rs.error().to_string();
  if (!rs) return {};
  EXPECT_EQ(format(*rs), listing);
  result<ruleset> again = parse_string(listing, "listed.nft");
  EXPECT_TRUE(again.ok()) << again.error().to_string();
  if (!again) return {};
  EXPECT_EQ(format(*again), listing);
  return *again;
}

}  // namespace ctgate::nft::test
