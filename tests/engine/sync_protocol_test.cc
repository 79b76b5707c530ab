// Tests for the /api/v1 bodies (sync_protocol.h, docs/sync_protocol.md):
// round trips, the rules each decoder enforces, and that a bad body is
// refused with the field named.
#include "pulse/engine/sync_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace pulse::engine::sync {
namespace {

constexpr std::string_view kSite = "0189a0b0-0000-7000-8000-000000000002";
constexpr std::string_view kBatch = "0189a0b0-1234-7abc-9def-0123456789ab";

ChangeEntry Entry(int n, std::mt19937& rng) {
  ChangeEntry e;
  char id[48];
  std::snprintf(id, sizeof id, "0189a0b0-%04x-7abc-9def-0123456789ab", n & 0xffff);
  e.id = id;
  e.hlc = Hlc::FromParts(1700000000000 + n, static_cast<std::uint16_t>(n))
              .value();
  e.site = std::string(kSite);
  e.table = "patients";
  e.row = "0189a0b0-0000-7000-8000-0000000000ff";
  e.author = "0189a0b0-0000-7000-8000-00000000000a";
  e.fields["given_name"] = std::string("Amina \"A\" \xc3\xa9");
  e.fields["n"] = static_cast<std::int64_t>(rng());
  e.fields["x"] = 0.5 * static_cast<double>(rng() % 1000);
  if (n % 3 == 0) e.fields["phone"] = nullptr;
  if (n % 4 == 0) {
    e.base["given_name"] =
        Version{Hlc::FromParts(1600000000000, 1).value(), std::string(kSite)};
  }
  return e;
}

PushRequest SamplePush(int changes, std::uint32_t seed = 1) {
  std::mt19937 rng(seed);
  PushRequest r;
  r.batch_id = std::string(kBatch);
  r.site = std::string(kSite);
  r.schema_version = 3;
  r.client_time_ms = 1700000000123;
  for (int i = 0; i < changes; ++i) r.changes.push_back(Entry(i, rng));
  return r;
}

TEST(SyncProtocolTest, PushRequestRoundTripsForAnyBatchSize) {
  for (int n : {0, 1, 7, 100}) {
    const PushRequest in = SamplePush(n, static_cast<std::uint32_t>(n) + 3);
    auto body = EncodePushRequest(in);
    ASSERT_TRUE(body) << body.error().message();
    auto out = DecodePushRequest(*body);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(out->batch_id, in.batch_id);
    EXPECT_EQ(out->site, in.site);
    EXPECT_EQ(out->protocol_version, kProtocolVersion);
    EXPECT_EQ(out->schema_version, 3);
    EXPECT_EQ(out->client_time_ms, in.client_time_ms);
    EXPECT_EQ(out->changes, in.changes);
    // Canonical: encoding the decoded value gives the same bytes.
    EXPECT_EQ(EncodePushRequest(*out).value(), *body);
  }
}

TEST(SyncProtocolTest, ChangesTravelAsTheirCanonicalBytes) {
  const PushRequest in = SamplePush(2);
  const std::string body = EncodePushRequest(in).value();
  for (const ChangeEntry& e : in.changes) {
    EXPECT_NE(body.find(EncodeChange(e).value()), std::string::npos);
  }
}

// Replaces the first (or last) occurrence of `from` in the encoded sample.
std::string Mutated(std::string_view from, std::string_view to,
                    bool last = false) {
  std::string body = EncodePushRequest(SamplePush(2)).value();
  const auto at = last ? body.rfind(from) : body.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  body.replace(at, from.size(), to);
  return body;
}

TEST(SyncProtocolTest, BadPushBodiesAreRefusedNamingTheField) {
  struct Case {
    std::string body;
    ErrorCode code;
    std::string_view message_part;
  };
  const Case cases[] = {
      {"", ErrorCode::kInvalidArgument, "malformed JSON"},
      {"{\"batch_id\":", ErrorCode::kInvalidArgument, "malformed JSON"},
      {"[1,2]", ErrorCode::kInvalidArgument, "not a JSON object"},
      {Mutated("\"site\":", "\"sight\":", /*last=*/true),
       ErrorCode::kInvalidArgument, "unknown field"},
      {Mutated("\"batch_id\":\"", "\"batch_id\":\"X"),
       ErrorCode::kInvalidArgument, "batch_id"},
      {Mutated("\"schema_version\":3", "\"schema_version\":\"3\""),
       ErrorCode::kInvalidArgument, "schema_version: not an integer"},
      {Mutated("\"schema_version\":3", "\"schema_version\":0"),
       ErrorCode::kInvalidArgument, "schema_version"},
      {Mutated("\"protocol_version\":1", "\"protocol_version\":2"),
       ErrorCode::kUnsupported, "protocol_version: 2"},
      {Mutated("\"changes\":[", "\"changes\":[7,"),
       ErrorCode::kInvalidArgument, "changes[0]: not an object"},
      {Mutated("\"table\":\"patients\"", "\"table\":\"Patients!\""),
       ErrorCode::kInvalidArgument, "changes[0].table"},
      {Mutated("\"hlc\":\"", "\"hlc\":\"zz"), ErrorCode::kInvalidArgument,
       "hlc: hlc text must be 16"},
      {Mutated(",\"site\":\"0189a0b0-0000-7000-8000-000000000002\"}", "}"),
       ErrorCode::kInvalidArgument, "site: missing"},
  };
  for (const Case& c : cases) {
    auto r = DecodePushRequest(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code(), c.code) << c.body << " -> " << r.error().message();
    EXPECT_NE(r.error().message().find(c.message_part), std::string::npos)
        << r.error().message();
  }
}

TEST(SyncProtocolTest, TooManyChangesIsOutOfRange) {
  std::string body = EncodePushRequest(SamplePush(1)).value();
  // Repeat the one entry past the limit (the count is checked first).
  const auto open = body.find("\"changes\":[") + 11;
  const auto close = body.find("],\"client_time_ms\"");
  const std::string entry = body.substr(open, close - open);
  std::string many;
  for (std::size_t i = 0; i <= kMaxPushChanges; ++i) {
    if (i > 0) many += ',';
    many += entry;
  }
  body.replace(open, close - open, many);
  auto r = DecodePushRequest(body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
}

TEST(SyncProtocolTest, PullResponseRoundTrips) {
  std::mt19937 rng(9);
  PullResponse in;
  for (int i = 0; i < 5; ++i) in.changes.push_back(Entry(i, rng));
  in.next_cursor = 12345;
  in.more = true;
  in.server_time_ms = 1700000000999;
  auto body = EncodePullResponse(in);
  ASSERT_TRUE(body);
  auto out = DecodePullResponse(*body);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->changes, in.changes);
  EXPECT_EQ(out->next_cursor, 12345);
  EXPECT_TRUE(out->more);
  EXPECT_EQ(out->server_time_ms, in.server_time_ms);
  // From stored canonical texts (the server's path): the same bytes.
  std::vector<std::string> texts;
  for (const ChangeEntry& e : in.changes) texts.push_back(EncodeChange(e).value());
  EXPECT_EQ(EncodePullResponse(in, texts), *body);
  PullResponse empty = in;
  empty.changes.clear();
  EXPECT_EQ(EncodePullResponse(empty, {}), EncodePullResponse(empty).value());
}

TEST(SyncProtocolTest, PushResponseRoundTrips) {
  PushResponse in;
  in.batch_id = std::string(kBatch);
  in.accepted = 17;
  in.duplicate = true;
  in.conflicts = 2;
  in.missing_blobs = {std::string(64, 'a')};
  in.server_time_ms = 5;
  in.clock_skew_warning = true;
  auto out = DecodePushResponse(EncodePushResponse(in));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->batch_id, in.batch_id);
  EXPECT_EQ(out->accepted, 17);
  EXPECT_TRUE(out->duplicate);
  EXPECT_EQ(out->conflicts, 2);
  EXPECT_EQ(out->missing_blobs, in.missing_blobs);
  EXPECT_TRUE(out->clock_skew_warning);
}

TEST(SyncProtocolTest, LoginRequestNeverEchoesThePassword) {
  LoginRequest in{"amina.k", "correct horse battery"};
  auto out = DecodeLoginRequest(EncodeLoginRequest(in));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->username, in.username);
  EXPECT_EQ(out->password, in.password);
  const std::string bad_bodies[] = {
      R"({"username":"amina.k","password":5})",
      R"({"username":"amina.k","password":""})",
      R"({"username":"amina.k","password":"secret-pw","extra":1})",
      R"({"password":"secret-pw"})",
  };
  for (const std::string& body : bad_bodies) {
    auto r = DecodeLoginRequest(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message().find("secret-pw"), std::string::npos);
  }
}

TEST(SyncProtocolTest, LoginResponseRoundTripsWithAndWithoutSite) {
  LoginResponse in;
  in.token = std::string(64, 'f');
  in.user_id = "0189a0b0-0000-7000-8000-00000000000a";
  in.role = "technician";
  in.site = std::string(kSite);
  in.expires_at_ms = 99;
  in.idle_timeout_s = 1800;
  auto out = DecodeLoginResponse(EncodeLoginResponse(in));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->token, in.token);
  EXPECT_EQ(out->site, in.site);
  EXPECT_EQ(out->idle_timeout_s, 1800);
  in.site.reset();
  in.role = "admin";
  out = DecodeLoginResponse(EncodeLoginResponse(in));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->site);
}

TEST(SyncProtocolTest, ProblemRoundTripsWithRequiredVersions) {
  Problem in;
  in.type = "https://pulse-ledger.example/problems/upgrade-required";
  in.title = "Upgrade required";
  in.status = 426;
  in.detail = "schema version 1 is too old";
  in.required_schema_version = 3;
  auto out = DecodeProblem(EncodeProblem(in));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 426);
  EXPECT_EQ(out->title, in.title);
  EXPECT_EQ(out->detail, in.detail);
  EXPECT_EQ(out->required_schema_version, 3);
  EXPECT_FALSE(out->required_protocol_version);
}

TEST(SyncProtocolTest, RandomBytesNeverDecodeToAPushOrCrash) {
  std::mt19937 rng(1234);
  const std::string good = EncodePushRequest(SamplePush(3)).value();
  for (int round = 0; round < 2000; ++round) {
    std::string body = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      body[rng() % body.size()] = static_cast<char>(rng() % 256);
    }
    if (rng() % 5 == 0) body.resize(rng() % body.size());
    auto r = DecodePushRequest(body);
    if (r) {
      // Whatever decodes must re-encode canonically.
      auto again = EncodePushRequest(*r);
      ASSERT_TRUE(again) << again.error().message();
      EXPECT_EQ(DecodePushRequest(*again).value().changes, r->changes);
    }
  }
}

// The decoders split a body's "changes" array by scanning its text instead
// of parsing it into a DOM (sync_protocol.cc, "The changes array without a
// DOM"). Whatever the layout, the result must be what a full JSON parse
// gives: same fields, same entries.
TEST(SyncProtocolTest, AnyLayoutOfAPushBodyDecodesTheSame) {
  PushRequest in = SamplePush(5, 11);
  // Strings holding the scanner's structural characters.
  in.changes[1].fields["given_name"] = std::string("a]b}c{d[e,f:g\\\"h\\");
  in.changes[2].fields["family_name"] = std::string("\\");
  const std::string canonical = EncodePushRequest(in).value();
  const nlohmann::json dom = nlohmann::json::parse(canonical);
  std::vector<std::string> layouts = {dom.dump(2), dom.dump(1, '\t'),
                                      " \n" + canonical + "\r\n "};
  // Members in another order: changes first, then last.
  nlohmann::ordered_json reordered;
  reordered["changes"] = dom["changes"];
  for (const auto& [key, value] : dom.items()) {
    if (key != "changes") reordered[key] = value;
  }
  layouts.push_back(reordered.dump());
  layouts.push_back(reordered.dump(3));
  for (const std::string& body : layouts) {
    auto out = DecodePushRequest(body);
    ASSERT_TRUE(out) << out.error().message() << "\n" << body;
    EXPECT_EQ(out->changes, in.changes);
    EXPECT_EQ(out->batch_id, in.batch_id);
    EXPECT_EQ(out->client_time_ms, in.client_time_ms);
  }
}

// Property: a body that is not valid JSON is never accepted, and one that
// is accepted decodes to what the DOM says — over thousands of damaged
// bodies, damaged where the scanner looks: brackets, commas, quotes,
// backslashes.
TEST(SyncProtocolTest, DamagedBodiesDecodeAsAFullParseSays) {
  std::mt19937 rng(99);
  PushRequest in = SamplePush(4, 5);
  in.changes[0].fields["given_name"] = std::string("x\\\"]},[{");
  const std::string good = EncodePushRequest(in).value();
  constexpr std::string_view kStructural = "{}[],:\"\\ 0a";
  int accepted = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string body = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % body.size();
      const char c = kStructural[rng() % kStructural.size()];
      switch (rng() % 3) {
        case 0: body[at] = c; break;
        case 1: body.insert(body.begin() + static_cast<long>(at), c); break;
        default: body.erase(at, 1); break;
      }
    }
    auto r = DecodePushRequest(body);
    if (!r) continue;
    ++accepted;
    ASSERT_TRUE(nlohmann::json::accept(body)) << "accepted invalid JSON: " << body;
    const nlohmann::json dom = nlohmann::json::parse(body);
    ASSERT_EQ(dom.at("changes").size(), r->changes.size()) << body;
    for (std::size_t i = 0; i < r->changes.size(); ++i) {
      auto entry = DecodeChange(dom.at("changes")[i].dump());
      ASSERT_TRUE(entry) << body;
      EXPECT_EQ(*entry, r->changes[i]) << body;
    }
  }
  // Some edits are harmless (a space, a digit in a number): the property
  // was exercised on accepted bodies too.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace pulse::engine::sync
