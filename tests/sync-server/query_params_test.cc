#include "pulse/sync_server/query_params.h"

#include <gtest/gtest.h>

namespace pulse::sync_server {
namespace {

TEST(QueryParamsTest, DecodesNamesAndValues) {
  auto p = ParseQueryParams("q=van%20der+Berg&&site=abc&empty=",
                            {"q", "site", "empty"});
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->at("q"), "van der Berg");
  EXPECT_EQ(p->at("site"), "abc");
  EXPECT_EQ(p->at("empty"), "");
  EXPECT_EQ(p->size(), 3u);
}

TEST(QueryParamsTest, RefusesUnknownRepeatedAndBadEscapes) {
  auto unknown = ParseQueryParams("limit=5&limt=6", {"limit"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message().find("'limt'"), std::string::npos);

  auto twice = ParseQueryParams("limit=5&limit=6", {"limit"});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("more than once"), std::string::npos);

  for (const char* bad : {"q=%4", "q=%zz", "q=%", "%g1=2"}) {
    EXPECT_FALSE(ParseQueryParams(bad, {"q"})) << bad;
  }
  // A hostile name is not echoed back.
  auto hostile = ParseQueryParams("%3Cscript%3E=1", {"q"});
  ASSERT_FALSE(hostile);
  EXPECT_EQ(hostile.error().message().find("script"), std::string::npos);
}

TEST(QueryParamsTest, IntParamChecksRange) {
  auto p = ParseQueryParams("a=12&b=-1&c=1x&d=99999999999999999999", {"a", "b", "c", "d"});
  ASSERT_TRUE(p);
  auto a = IntParam(*p, "a", 0, 100);
  ASSERT_TRUE(a);
  EXPECT_EQ(**a, 12);
  auto absent = IntParam(*p, "z", 0, 100);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
  EXPECT_FALSE(IntParam(*p, "a", 13, 100));
  EXPECT_FALSE(IntParam(*p, "b", 0, 100));
  EXPECT_FALSE(IntParam(*p, "c", 0, 100));
  EXPECT_FALSE(IntParam(*p, "d", 0, INT64_MAX));
}

}  // namespace
}  // namespace pulse::sync_server
