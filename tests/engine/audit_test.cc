// Tests of audit events and the per-site hash chain
// (docs/formats/audit_chain.md). The golden bytes and hashes below were
// written by hand from the format page (hashes with Python's hashlib
// BLAKE2b), not produced by this code. Random tests take the framework's
// seed: --gtest_random_seed=N reproduces a run.
#include "pulse/engine/audit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pulse::engine {
namespace {

constexpr char kSite[] = "0189a0b0-0000-7000-8000-000000000002";

// The example of audit_chain.md §2, typed by hand.
constexpr char kGolden[] =
    R"({"action":"view","actor":"0189a0b0-0000-7000-8000-00000000000a",)"
    R"("hlc":"018bcfe5687b0002","id":"0189a0b0-1234-7abc-9def-0123456789ab",)"
    R"("object_id":"0189a0b0-0000-7000-8000-0000000000ff",)"
    R"("object_type":"recordings","outcome":"ok",)"
    R"("patient":"0189a0b0-0000-7000-8000-0000000000ee","role":"clinician",)"
    R"("seq":42,"site":"0189a0b0-0000-7000-8000-000000000002",)"
    R"("source":"device:0189a0b0-0000-7000-8000-0000000000d1",)"
    R"("time_ms":1700000000123,"v":1})";
// BLAKE2b-256("pulse-ledger audit v1" ‖ bytes of kSite).
constexpr char kGoldenGenesis[] =
    "6d13d4d2095ef386346726c52dabf25875712f73cb51a0aeefab8492a648284f";
// BLAKE2b-256(genesis ‖ kGolden).
constexpr char kGoldenHash[] =
    "60fe8e86f61cb20399fdfe587119caea0ad9bfacb93237052202e1aee83ac30d";

Uuid MustParse(std::string_view text) {
  auto id = Uuid::Parse(text);
  EXPECT_TRUE(id.has_value()) << text;
  return id.value_or(Uuid());
}

AuditEvent GoldenEvent() {
  AuditEvent e;
  e.id = "0189a0b0-1234-7abc-9def-0123456789ab";
  e.site = kSite;
  e.seq = 42;
  e.time_ms = 1700000000123;
  e.hlc = Hlc::FromParts(1700000000123, 2).value();
  e.actor = "0189a0b0-0000-7000-8000-00000000000a";
  e.role = AuditRole::kClinician;
  e.action = AuditAction::kView;
  e.object_type = "recordings";
  e.object_id = "0189a0b0-0000-7000-8000-0000000000ff";
  e.patient = "0189a0b0-0000-7000-8000-0000000000ee";
  e.outcome = AuditOutcome::kOk;
  e.source = "device:0189a0b0-0000-7000-8000-0000000000d1";
  return e;
}

std::string Hex(const Blake2b256Digest& d) { return HexEncode(d); }

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  const auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

std::uint32_t TestSeed(const char* name) {
  auto seed = static_cast<std::uint32_t>(
      ::testing::UnitTest::GetInstance()->random_seed());
  if (seed == 0) seed = 20240607;
  std::printf("%s seed %u (rerun: --gtest_random_seed=%u)\n", name, seed,
              seed);
  return seed;
}

// Random valid events and whole chains.
class Gen {
 public:
  explicit Gen(std::uint32_t seed) : rng_(seed) {}

  std::uint64_t U64() { return rng_(); }
  std::int64_t Range(std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool Coin() { return Range(0, 1) == 1; }

  std::string UuidText(bool v7 = false) {
    Uuid::Bytes b;
    for (auto& x : b) x = static_cast<std::uint8_t>(Range(0, 255));
    if (v7) {
      b[6] = static_cast<std::uint8_t>(0x70 | (b[6] & 0x0f));
      b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));
    }
    return Uuid(b).ToString();
  }

  std::string Source() {
    switch (Range(0, 2)) {
      case 0:
        return "device:" + UuidText();
      case 1:
        return "ip:" + std::to_string(Range(0, 255)) + "." +
               std::to_string(Range(0, 255)) + "." +
               std::to_string(Range(0, 255)) + "." +
               std::to_string(Range(0, 255));
      default:
        return "ip:2001:db8::" + std::to_string(Range(1, 9999));
    }
  }

  AuditEvent Event(const std::string& site) {
    static const char* kTypes[] = {"patients", "recordings", "reports",
                                   "session", "users", "sync_batch",
                                   "key_file", "interpretations"};
    AuditEvent e;
    e.id = UuidText(true);
    e.site = site;
    e.time_ms = Range(0, kMaxAuditTimeMs);
    e.hlc = Hlc::FromParts(Range(0, Hlc::kMaxPhysicalMs),
                           static_cast<std::uint16_t>(Range(1, 0xffff)))
                .value();
    if (Range(0, 9) != 0) {
      e.actor = UuidText();
      e.role = static_cast<AuditRole>(Range(1, 4));
    }
    e.action = static_cast<AuditAction>(Range(1, kMaxAuditActionCode));
    e.object_type = kTypes[Range(0, 7)];
    if (Coin()) e.object_id = UuidText();
    if (Coin()) e.patient = UuidText();
    e.outcome = static_cast<AuditOutcome>(Range(1, 3));
    e.source = Source();
    return e;
  }

  std::vector<ChainedEvent> Chain(const Uuid& site, int n) {
    AuditChain chain(site);
    std::vector<ChainedEvent> out;
    for (int i = 0; i < n; ++i) {
      auto r = chain.Append(Event(site.ToString()));
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      out.push_back(*r);
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

// ------------------------------------------------------------- encoding --

TEST(AuditEventTest, GoldenBytes) {
  auto bytes = EncodeAuditEvent(GoldenEvent());
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_EQ(*bytes, kGolden);
  auto back = DecodeAuditEvent(kGolden);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, GoldenEvent());
}

TEST(AuditEventTest, GoldenGenesisAndHash) {
  const Uuid site = MustParse(kSite);
  EXPECT_EQ(Hex(AuditGenesis(site)), kGoldenGenesis);
  auto hash = AuditChainHash(AuditGenesis(site), GoldenEvent());
  ASSERT_TRUE(hash.has_value());
  EXPECT_EQ(Hex(*hash), kGoldenHash);
  // Different sites, different genesis.
  EXPECT_NE(AuditGenesis(site),
            AuditGenesis(MustParse("0189a0b0-0000-7000-8000-000000000003")));
}

TEST(AuditEventTest, NullsAreWrittenNotOmitted) {
  AuditEvent e = GoldenEvent();
  e.actor.reset();
  e.role.reset();
  e.object_id.reset();
  e.patient.reset();
  e.action = AuditAction::kLoginFailed;
  e.outcome = AuditOutcome::kDenied;
  e.object_type = "session";
  e.source = "ip:192.0.2.7";
  auto bytes = EncodeAuditEvent(e);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_EQ(*bytes,
            R"({"action":"login_failed","actor":null,"hlc":"018bcfe5687b0002",)"
            R"("id":"0189a0b0-1234-7abc-9def-0123456789ab","object_id":null,)"
            R"("object_type":"session","outcome":"denied","patient":null,)"
            R"("role":null,"seq":42,"site":"0189a0b0-0000-7000-8000-000000000002",)"
            R"("source":"ip:192.0.2.7","time_ms":1700000000123,"v":1})");
  auto back = DecodeAuditEvent(*bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, e);
}

TEST(AuditEventTest, EnumCodesAndNamesAreStable) {
  const std::vector<std::pair<int, std::string_view>> actions = {
      {1, "login"},      {2, "login_failed"},       {3, "logout"},
      {4, "view"},       {5, "create"},             {6, "update"},
      {7, "delete"},     {8, "export"},             {9, "print"},
      {10, "sync_push"}, {11, "sync_pull"},         {12, "permission_denied"},
      {13, "key_change"}, {14, "conflict_resolved"}};
  for (const auto& [code, name] : actions) {
    const auto action = static_cast<AuditAction>(code);
    EXPECT_EQ(AuditActionName(action), name);
    EXPECT_EQ(ParseAuditAction(name), action);
  }
  EXPECT_EQ(static_cast<int>(actions.size()), kMaxAuditActionCode);
  EXPECT_EQ(AuditRoleName(static_cast<AuditRole>(1)), "admin");
  EXPECT_EQ(AuditRoleName(static_cast<AuditRole>(2)), "clinician");
  EXPECT_EQ(AuditRoleName(static_cast<AuditRole>(3)), "technician");
  EXPECT_EQ(AuditRoleName(static_cast<AuditRole>(4)), "auditor");
  EXPECT_EQ(AuditOutcomeName(static_cast<AuditOutcome>(1)), "ok");
  EXPECT_EQ(AuditOutcomeName(static_cast<AuditOutcome>(2)), "denied");
  EXPECT_EQ(AuditOutcomeName(static_cast<AuditOutcome>(3)), "error");
  EXPECT_EQ(AuditActionName(static_cast<AuditAction>(0)), "unknown");
  EXPECT_EQ(AuditActionName(static_cast<AuditAction>(15)), "unknown");
  EXPECT_FALSE(ParseAuditAction("").has_value());
  EXPECT_FALSE(ParseAuditRole("nurse").has_value());
  const std::vector<std::pair<int, std::string_view>> breaks = {
      {0, "none"},       {1, "altered"},   {2, "missing"},
      {3, "reordered"},  {4, "duplicated"}, {5, "wrong_site"},
      {6, "bad_genesis"}, {7, "truncated"}};
  for (const auto& [code, name] : breaks) {
    EXPECT_EQ(ChainBreakName(static_cast<ChainBreak>(code)), name);
  }
}

TEST(AuditEventTest, DecodeAcceptsAnySpellingAndReencodesCanonically) {
  const std::string loose =
      "{ \"v\" : 1, \"time_ms\": 1700000000123,\n"
      "  \"source\": \"device:0189a0b0-0000-7000-8000-0000000000d1\",\n"
      "  \"site\": \"0189a0b0-0000-7000-8000-000000000002\", \"seq\": 42,\n"
      "  \"role\": \"clinician\", \"patient\": "
      "\"0189a0b0-0000-7000-8000-0000000000ee\",\n"
      "  \"outcome\": \"ok\", \"object_type\": \"recor\\u0064ings\",\n"
      "  \"object_id\": \"0189a0b0-0000-7000-8000-0000000000ff\",\n"
      "  \"id\": \"0189a0b0-1234-7abc-9def-0123456789ab\",\n"
      "  \"hlc\": \"018bcfe5687b0002\",\n"
      "  \"actor\": \"0189a0b0-0000-7000-8000-00000000000a\",\n"
      "  \"action\": \"view\" }";
  auto e = DecodeAuditEvent(loose);
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_EQ(EncodeAuditEvent(*e).value(), kGolden);
}

struct BadInput {
  std::string json;
  ErrorCode code;
  std::string message_prefix;  // the field named first
};

TEST(AuditEventTest, DecodeRejectsMalformedInputNamingTheField) {
  const std::string g = kGolden;
  const std::string source =
      R"("source":"device:0189a0b0-0000-7000-8000-0000000000d1",)";
  const std::vector<BadInput> cases = {
      {"", ErrorCode::kCorruption, "audit event: JSON syntax error"},
      {g.substr(0, 60), ErrorCode::kCorruption,
       "audit event: JSON syntax error"},
      {g + "x", ErrorCode::kCorruption, "audit event: JSON syntax error"},
      {"42", ErrorCode::kCorruption, "audit event: not a JSON object"},
      {"[]", ErrorCode::kCorruption, "audit event: must not be an array"},
      {Replace(g, "\"seq\":42", "\"seq\":\"42\""), ErrorCode::kCorruption,
       "seq: must be an integer"},
      {Replace(g, "\"seq\":42", "\"seq\":42.0"), ErrorCode::kCorruption,
       "seq: must be an integer"},
      {Replace(g, "\"seq\":42", "\"seq\":4.2e1"), ErrorCode::kCorruption,
       "seq: must be an integer"},
      {Replace(g, "\"seq\":42", "\"seq\":0"), ErrorCode::kCorruption, "seq: "},
      {Replace(g, "\"seq\":42", "\"seq\":-1"), ErrorCode::kCorruption,
       "seq: "},
      {Replace(g, "\"seq\":42", "\"seq\":9007199254740992"),
       ErrorCode::kCorruption, "seq: "},
      {Replace(g, "\"seq\":42", "\"seq\":99999999999999999999"),
       ErrorCode::kCorruption, "seq: integer beyond int64"},
      {Replace(g, "\"seq\":42", "\"seq\":true"), ErrorCode::kCorruption,
       "seq: must not be a boolean"},
      {Replace(g, "\"v\":1}", "\"v\":1,\"seq\":42}"), ErrorCode::kCorruption,
       "seq: duplicate key"},
      {Replace(g, source, ""), ErrorCode::kCorruption, "source: missing"},
      {Replace(g, "\"actor\":\"0189a0b0-0000-7000-8000-00000000000a\",", ""),
       ErrorCode::kCorruption, "actor: missing"},
      {Replace(g, "{\"action\"", "{\"name\":\"Amina Otieno\",\"action\""),
       ErrorCode::kCorruption, "name: unknown key"},
      {Replace(g, "\"view\"", "\"teleport\""), ErrorCode::kUnsupported,
       "action: unknown action"},
      {Replace(g, "\"view\"", "7"), ErrorCode::kCorruption,
       "action: must be a string"},
      {Replace(g, "\"clinician\"", "\"nurse\""), ErrorCode::kUnsupported,
       "role: unknown role"},
      {Replace(g, "\"outcome\":\"ok\"", "\"outcome\":\"maybe\""),
       ErrorCode::kUnsupported, "outcome: unknown outcome"},
      {Replace(g, "\"v\":1", "\"v\":2"), ErrorCode::kUnsupported, "v: "},
      {Replace(g, "\"v\":1", "\"v\":0"), ErrorCode::kCorruption, "v: "},
      {Replace(g, "\"actor\":\"0189a0b0-0000-7000-8000-00000000000a\"",
               "\"actor\":null"),
       ErrorCode::kCorruption, "role: given without an actor"},
      {Replace(g, "\"role\":\"clinician\"", "\"role\":null"),
       ErrorCode::kCorruption, "role: missing for an actor"},
      {Replace(g, "\"0189a0b0-0000-7000-8000-00000000000a\"", "\"bob\""),
       ErrorCode::kCorruption, "actor: not a canonical"},
      {Replace(g, "1234-7abc", "1234-4abc"), ErrorCode::kCorruption,
       "id: not a canonical lower-case UUIDv7"},
      {Replace(g, "018bcfe5687b0002", "018BCFE5687B0002"),
       ErrorCode::kCorruption, "hlc: "},
      {Replace(g, "018bcfe5687b0002", "0000000000000000"),
       ErrorCode::kCorruption, "hlc: "},
      {Replace(g, "device:0189a0b0-0000-7000-8000-0000000000d1",
               "Dr. Mwangi's PC"),
       ErrorCode::kCorruption, "source: "},
      {Replace(g, "device:0189a0b0-0000-7000-8000-0000000000d1",
               "ip:999.1.1.1"),
       ErrorCode::kCorruption, "source: "},
      {Replace(g, "device:0189a0b0-0000-7000-8000-0000000000d1",
               "ip:010.1.1.1"),
       ErrorCode::kCorruption, "source: "},
      {Replace(g, "\"recordings\"", "\"Patients\""), ErrorCode::kCorruption,
       "object_type: "},
      {Replace(g, "\"patient\":\"0189a0b0-0000-7000-8000-0000000000ee\"",
               "\"patient\":{\"name\":\"Amina\"}"),
       ErrorCode::kCorruption, "patient: must not be an object"},
      {Replace(g, "\"patient\":\"0189a0b0-0000-7000-8000-0000000000ee\"",
               "\"patient\":[1]"),
       ErrorCode::kCorruption, "patient: must not be an array"},
      {Replace(g, "1700000000123,", "-1,"), ErrorCode::kCorruption,
       "time_ms: "},
      {Replace(g, "{\"action\"",
               "{\"pad\":\"" + std::string(kMaxAuditEventBytes, 'a') +
                   "\",\"action\""),
       ErrorCode::kCorruption, "audit event: "},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.json.substr(0, 200));
    auto e = DecodeAuditEvent(c.json);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code(), c.code) << e.error().ToString();
    EXPECT_TRUE(e.error().message().starts_with(c.message_prefix))
        << "got: " << e.error().message() << "\nwant prefix: "
        << c.message_prefix;
  }
}

TEST(AuditEventTest, EncodeRejectsInvalidEventsNamingTheField) {
  struct Case {
    void (*mutate)(AuditEvent&);
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](AuditEvent& e) { e.id = "not-a-uuid"; }, "id: "},
      {[](AuditEvent& e) { e.site = "0189A0B0-0000-7000-8000-000000000002"; },
       "site: "},
      {[](AuditEvent& e) { e.seq = 0; }, "seq: "},
      {[](AuditEvent& e) { e.seq = kMaxAuditSeq + 1; }, "seq: "},
      {[](AuditEvent& e) { e.time_ms = -5; }, "time_ms: "},
      {[](AuditEvent& e) { e.hlc = Hlc(); }, "hlc: "},
      {[](AuditEvent& e) { e.actor = "Amina"; }, "actor: "},
      {[](AuditEvent& e) { e.role.reset(); }, "role: "},
      {[](AuditEvent& e) { e.role = static_cast<AuditRole>(9); }, "role: "},
      {[](AuditEvent& e) { e.action = static_cast<AuditAction>(0); },
       "action: "},
      {[](AuditEvent& e) { e.object_type = "patients\""; }, "object_type: "},
      {[](AuditEvent& e) { e.object_id = "x"; }, "object_id: "},
      {[](AuditEvent& e) { e.patient = "Amina Otieno"; }, "patient: "},
      {[](AuditEvent& e) { e.outcome = static_cast<AuditOutcome>(4); },
       "outcome: "},
      {[](AuditEvent& e) { e.source = ""; }, "source: "},
      {[](AuditEvent& e) { e.source = "device:\"}"; }, "source: "},
  };
  for (const Case& c : cases) {
    AuditEvent e = GoldenEvent();
    c.mutate(e);
    auto bytes = EncodeAuditEvent(e);
    ASSERT_FALSE(bytes.has_value()) << c.field;
    EXPECT_EQ(bytes.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(bytes.error().message().starts_with(c.field))
        << bytes.error().message();
  }
}

TEST(AuditEventTest, ChainedRecordRoundTripsAndNamesNestedFields) {
  const Uuid site = MustParse(kSite);
  ChainedEvent record{GoldenEvent(), AuditGenesis(site), {}};
  record.hash = AuditChainHash(record.prev_hash, record.event).value();
  auto json = EncodeChainedEvent(record);
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(*json, std::string("{\"event\":") + kGolden + ",\"hash\":\"" +
                       kGoldenHash + "\",\"prev_hash\":\"" + kGoldenGenesis +
                       "\"}");
  auto back = DecodeChainedEvent(*json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, record);

  auto bad_seq = DecodeChainedEvent(Replace(*json, "\"seq\":42", "\"seq\":0"));
  ASSERT_FALSE(bad_seq.has_value());
  EXPECT_TRUE(bad_seq.error().message().starts_with("event.seq: "))
      << bad_seq.error().message();
  auto bad_hash = DecodeChainedEvent(Replace(*json, kGoldenHash, "60FE"));
  ASSERT_FALSE(bad_hash.has_value());
  EXPECT_TRUE(bad_hash.error().message().starts_with("hash: "));
  auto upper = DecodeChainedEvent(
      Replace(*json, "6d13d4d2", "6D13D4D2"));
  ASSERT_FALSE(upper.has_value());
  EXPECT_TRUE(upper.error().message().starts_with("prev_hash: "));
  auto extra = DecodeChainedEvent(Replace(*json, "{\"event\"", "{\"x\":1,\"event\""));
  ASSERT_FALSE(extra.has_value());
  EXPECT_TRUE(extra.error().message().starts_with("x: unknown key"));
  auto deep = DecodeChainedEvent(
      Replace(*json, "\"patient\":\"0189a0b0-0000-7000-8000-0000000000ee\"",
              "\"patient\":{}"));
  ASSERT_FALSE(deep.has_value());
  EXPECT_TRUE(deep.error().message().starts_with("event.patient: "))
      << deep.error().message();
}

TEST(AuditPropertyTest, DecodeOfEncodeIsIdentity) {
  Gen gen(TestSeed("AuditPropertyTest.DecodeOfEncodeIsIdentity"));
  for (int i = 0; i < 3000; ++i) {
    AuditEvent e = gen.Event(gen.UuidText());
    e.seq = gen.Range(1, kMaxAuditSeq);
    auto bytes = EncodeAuditEvent(e);
    ASSERT_TRUE(bytes.has_value()) << i << ": " << bytes.error().ToString();
    ASSERT_LE(bytes->size(), kMaxAuditEventBytes);
    auto back = DecodeAuditEvent(*bytes);
    ASSERT_TRUE(back.has_value()) << *bytes << ": " << back.error().ToString();
    ASSERT_EQ(*back, e) << *bytes;
    // Truncating canonical bytes anywhere never decodes.
    const auto cut = static_cast<std::size_t>(
        gen.Range(0, static_cast<std::int64_t>(bytes->size()) - 1));
    ASSERT_FALSE(DecodeAuditEvent(std::string_view(*bytes).substr(0, cut))
                     .has_value());
  }
}

// --------------------------------------------------------------- chains --

class AuditChainTest : public ::testing::Test {
 protected:
  static constexpr int kN = 1000;

  void SetUp() override {
    seed_ = TestSeed("AuditChainTest");
    gen_ = std::make_unique<Gen>(seed_);
    site_ = MustParse(gen_->UuidText());
    other_site_ = MustParse(gen_->UuidText());
    chain_ = gen_->Chain(site_, kN);
  }

  // Expects `report` broken at `seq` for `reason`.
  static void ExpectBroken(const ChainReport& report, ChainBreak reason,
                           std::int64_t seq) {
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(ChainBreakName(report.reason), ChainBreakName(reason))
        << report.detail;
    EXPECT_EQ(report.first_broken_seq, seq) << report.detail;
    EXPECT_EQ(report.events_checked, seq - 1);
    EXPECT_EQ(report.head.seq, seq - 1);
    EXPECT_FALSE(report.detail.empty());
  }

  ChainHead HeadAt(std::int64_t seq) const {
    if (seq == 0) return GenesisHead(site_);
    return ChainHead{seq, chain_[static_cast<std::size_t>(seq - 1)].hash};
  }

  std::uint32_t seed_ = 0;
  std::unique_ptr<Gen> gen_;
  Uuid site_;
  Uuid other_site_;
  std::vector<ChainedEvent> chain_;
};

TEST_F(AuditChainTest, AppendAssignsGaplessSeqFromGenesis) {
  ASSERT_EQ(chain_.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(chain_[0].prev_hash, AuditGenesis(site_));
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(chain_[i].event.seq, i + 1);
    if (i > 0) {
      EXPECT_EQ(chain_[i].prev_hash, chain_[i - 1].hash);
    }
  }
}

TEST_F(AuditChainTest, ThousandRandomEventsVerify) {
  const ChainReport report = VerifyChain(site_, chain_);
  EXPECT_TRUE(report.ok) << report.detail;
  EXPECT_EQ(report.events_checked, kN);
  EXPECT_EQ(report.head, HeadAt(kN));
  EXPECT_EQ(report.first_broken_seq, 0);
  EXPECT_EQ(report.reason, ChainBreak::kNone);
  // Through the JSON record form too.
  for (const ChainedEvent& r : chain_) {
    auto back = DecodeChainedEvent(EncodeChainedEvent(r).value());
    ASSERT_TRUE(back.has_value());
    ASSERT_EQ(*back, r);
  }
}

TEST_F(AuditChainTest, EmptyChainVerifies) {
  const ChainReport report = VerifyChain(site_, {});
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.events_checked, 0);
  EXPECT_EQ(report.head, GenesisHead(site_));
}

// Changes one field (chosen by `field`) of `r` to another valid-looking
// value, without fixing its hash.
void Alter(ChainedEvent& r, int field, Gen& gen, const Uuid& other_site) {
  AuditEvent& e = r.event;
  switch (field) {
    case 0:
      e.action = static_cast<AuditAction>(
          static_cast<int>(e.action) % kMaxAuditActionCode + 1);
      break;
    case 1:
      if (e.actor) {
        e.actor = gen.UuidText();
      } else {
        e.actor = gen.UuidText();
        e.role = AuditRole::kAdmin;
      }
      break;
    case 2:
      e.hlc = Hlc::FromPacked(e.hlc.packed() ^ 1).value();
      if (e.hlc.is_zero()) e.hlc = Hlc::FromPacked(2).value();
      break;
    case 3:
      e.id = gen.UuidText(true);
      break;
    case 4:
      if (e.object_id) {
        e.object_id.reset();
      } else {
        e.object_id = gen.UuidText();
      }
      break;
    case 5:
      e.object_type = e.object_type == "patients" ? "users" : "patients";
      break;
    case 6:
      e.outcome = static_cast<AuditOutcome>(static_cast<int>(e.outcome) % 3 + 1);
      break;
    case 7:
      if (e.patient) {
        e.patient.reset();
      } else {
        e.patient = gen.UuidText();
      }
      break;
    case 8:
      if (e.role) {
        e.role = static_cast<AuditRole>(static_cast<int>(*e.role) % 4 + 1);
      } else {
        e.actor = gen.UuidText();
        e.role = AuditRole::kAuditor;
      }
      break;
    case 9:
      e.seq += gen.Coin() ? gen.Range(1, 5) : -gen.Range(1, 5);
      if (e.seq < 1) e.seq += 10;
      break;
    case 10:
      e.site = other_site.ToString();
      break;
    case 11:
      e.source = e.source == "ip:10.0.0.1" ? "ip:10.0.0.2" : "ip:10.0.0.1";
      break;
    case 12:
      e.time_ms = e.time_ms == 0 ? 1 : e.time_ms - 1;
      break;
    case 13:
      r.prev_hash[static_cast<std::size_t>(gen.Range(0, 31))] ^= 0x10;
      break;
    default:
      r.hash[static_cast<std::size_t>(gen.Range(0, 31))] ^= 0x01;
      break;
  }
}

TEST_F(AuditChainTest, AlteredFieldIsReportedAtItsSeq) {
  constexpr int kFields = 15;
  for (int trial = 0; trial < 300; ++trial) {
    const int field = trial % kFields;
    const auto seq = gen_->Range(1, kN);
    SCOPED_TRACE("field " + std::to_string(field) + " at seq " +
                 std::to_string(seq));
    auto copy = chain_;
    Alter(copy[static_cast<std::size_t>(seq - 1)], field, *gen_, other_site_);
    const ChainReport report = VerifyChain(site_, copy);
    // A changed prev_hash of seq 1 no longer starts from the genesis.
    const ChainBreak want = (field == 13 && seq == 1) ? ChainBreak::kBadGenesis
                                                      : ChainBreak::kAltered;
    ExpectBroken(report, want, seq);
    EXPECT_EQ(report.broken_index, static_cast<std::size_t>(seq - 1));
    // Fed one by one, the same answer.
    ChainVerifier one_by_one(site_);
    for (const ChainedEvent& r : copy) one_by_one.Add(r);
    const ChainReport incremental = one_by_one.Finish();
    EXPECT_EQ(incremental.reason, report.reason);
    EXPECT_EQ(incremental.first_broken_seq, seq);
  }
}

TEST_F(AuditChainTest, AlteredAndRehashedShowsAtTheNextSeq) {
  // Rewriting a record and recomputing its hash moves the break to the
  // record after it (audit_chain.md §4.2: the tail needs checkpoints).
  for (int trial = 0; trial < 50; ++trial) {
    const auto seq = gen_->Range(1, kN - 1);
    auto copy = chain_;
    ChainedEvent& r = copy[static_cast<std::size_t>(seq - 1)];
    r.event.patient = gen_->UuidText();
    r.hash = AuditChainHash(r.prev_hash, r.event).value();
    ExpectBroken(VerifyChain(site_, copy), ChainBreak::kAltered, seq + 1);
  }
  // At the tail only a checkpoint tells.
  auto copy = chain_;
  ChainedEvent& last = copy.back();
  // Another outcome than the one recorded (a no-op edit would prove nothing).
  last.event.outcome = last.event.outcome == AuditOutcome::kError
                           ? AuditOutcome::kOk
                           : AuditOutcome::kError;
  last.hash = AuditChainHash(last.prev_hash, last.event).value();
  EXPECT_TRUE(VerifyChain(site_, copy).ok);
  ChainVerifier verifier(site_);
  verifier.ExpectCheckpoint(HeadAt(kN));
  verifier.AddBatch(copy);
  ExpectBroken(verifier.Finish(), ChainBreak::kAltered, kN);
}

TEST_F(AuditChainTest, DeletedRecordIsAGapAtItsSeq) {
  for (int trial = 0; trial < 200; ++trial) {
    const auto seq = gen_->Range(1, kN - 1);  // deleting kN is a truncation
    SCOPED_TRACE("deleted seq " + std::to_string(seq));
    auto copy = chain_;
    copy.erase(copy.begin() + (seq - 1));
    const ChainReport report = VerifyChain(site_, copy);
    ExpectBroken(report, ChainBreak::kMissing, seq);
    EXPECT_EQ(report.found_seq, seq + 1);
    EXPECT_EQ(report.broken_index, static_cast<std::size_t>(seq - 1));
  }
}

TEST_F(AuditChainTest, SwappedRecordsAreReportedAtTheFirst) {
  for (int trial = 0; trial < 200; ++trial) {
    auto i = gen_->Range(1, kN);
    auto j = gen_->Range(1, kN);
    if (i == j) continue;
    if (i > j) std::swap(i, j);
    SCOPED_TRACE("swapped " + std::to_string(i) + " and " + std::to_string(j));
    auto copy = chain_;
    std::swap(copy[static_cast<std::size_t>(i - 1)],
              copy[static_cast<std::size_t>(j - 1)]);
    const ChainReport report = VerifyChain(site_, copy);
    ExpectBroken(report, ChainBreak::kReordered, i);
    EXPECT_EQ(report.found_seq, j);
    // Record by record, without lookahead, it is a gap at the same seq.
    ChainVerifier one_by_one(site_);
    for (const ChainedEvent& r : copy) one_by_one.Add(r);
    ExpectBroken(one_by_one.Finish(), ChainBreak::kMissing, i);
  }
}

TEST_F(AuditChainTest, DuplicatedRecordIsReportedWhereItAppears) {
  for (int trial = 0; trial < 200; ++trial) {
    const auto dup = gen_->Range(1, kN);     // the record copied
    const auto after = gen_->Range(dup, kN);  // inserted after this seq
    SCOPED_TRACE("seq " + std::to_string(dup) + " again after " +
                 std::to_string(after));
    auto copy = chain_;
    copy.insert(copy.begin() + after, chain_[static_cast<std::size_t>(dup - 1)]);
    const ChainReport report = VerifyChain(site_, copy);
    ExpectBroken(report, ChainBreak::kDuplicated, after + 1);
    EXPECT_EQ(report.found_seq, dup);
    EXPECT_EQ(report.broken_index, static_cast<std::size_t>(after));
  }
}

TEST_F(AuditChainTest, RecordOfAnotherSiteIsReportedWhereInserted) {
  const auto foreign = gen_->Chain(other_site_, 50);
  for (int trial = 0; trial < 200; ++trial) {
    const auto after = gen_->Range(0, kN);
    auto copy = chain_;
    copy.insert(copy.begin() + after,
                foreign[static_cast<std::size_t>(gen_->Range(0, 49))]);
    ExpectBroken(VerifyChain(site_, copy), ChainBreak::kWrongSite, after + 1);
  }
  // A whole chain of another site is refused at its first record.
  ExpectBroken(VerifyChain(site_, foreign), ChainBreak::kWrongSite, 1);
  EXPECT_TRUE(VerifyChain(other_site_, foreign).ok);
}

TEST_F(AuditChainTest, WrongGenesisIsReported) {
  // A chain started from another value than the site's genesis.
  ChainHead fake{0, AuditGenesis(other_site_)};
  AuditChain chain(site_, fake);
  std::vector<ChainedEvent> records;
  for (int i = 0; i < 5; ++i) {
    records.push_back(chain.Append(gen_->Event(site_.ToString())).value());
  }
  ExpectBroken(VerifyChain(site_, records), ChainBreak::kBadGenesis, 1);
}

TEST_F(AuditChainTest, TruncatedTailIsAValidPrefixUntilAHeadIsKnown) {
  for (int trial = 0; trial < 100; ++trial) {
    const auto kept = gen_->Range(0, kN - 1);
    SCOPED_TRACE("kept " + std::to_string(kept));
    std::span<const ChainedEvent> prefix(chain_.data(),
                                         static_cast<std::size_t>(kept));
    const ChainReport report = VerifyChain(site_, prefix);
    EXPECT_TRUE(report.ok);
    EXPECT_EQ(report.events_checked, kept);
    EXPECT_EQ(report.head, HeadAt(kept));

    ChainVerifier verifier(site_);
    verifier.ExpectCheckpoint(HeadAt(kN));
    for (const ChainedEvent& r : prefix) EXPECT_TRUE(verifier.Add(r));
    EXPECT_TRUE(verifier.Report().ok);  // more may still come
    const ChainReport final_report = verifier.Finish();
    ExpectBroken(final_report, ChainBreak::kTruncated, kept + 1);
    EXPECT_FALSE(final_report.broken_index.has_value());
  }
  ChainVerifier whole(site_);
  whole.ExpectCheckpoint(HeadAt(kN));
  whole.ExpectCheckpoint(HeadAt(kN / 2));
  whole.AddBatch(chain_);
  EXPECT_TRUE(whole.Finish().ok);
}

TEST_F(AuditChainTest, CheckpointWithAnotherHashIsAnAlteration) {
  ChainHead wrong = HeadAt(400);
  wrong.hash[0] ^= 1;
  ChainVerifier verifier(site_);
  verifier.ExpectCheckpoint(wrong);
  EXPECT_FALSE(verifier.AddBatch(chain_));
  ExpectBroken(verifier.Finish(), ChainBreak::kAltered, 400);
}

TEST_F(AuditChainTest, BatchesContinueFromTheLastKnownHead) {
  // As the server will: each pushed batch is checked from the head stored
  // after the previous one.
  ChainHead head = GenesisHead(site_);
  std::size_t at = 0;
  int batches = 0;
  while (at < chain_.size()) {
    const auto size = static_cast<std::size_t>(gen_->Range(1, 60));
    std::span<const ChainedEvent> batch(
        chain_.data() + at, std::min(size, chain_.size() - at));
    ChainVerifier verifier(site_, head);
    ASSERT_TRUE(verifier.AddBatch(batch)) << verifier.Report().detail;
    const ChainReport report = verifier.Finish();
    ASSERT_TRUE(report.ok);
    EXPECT_EQ(report.events_checked, static_cast<std::int64_t>(batch.size()));
    head = report.head;
    at += batch.size();
    ++batches;
  }
  EXPECT_EQ(head, HeadAt(kN));
  EXPECT_GT(batches, 1);

  // A batch that skips a record at its start, one replayed, one that starts
  // from another site's head.
  const ChainHead known = HeadAt(500);
  ChainVerifier skipping(site_, known);
  skipping.AddBatch(std::span(chain_).subspan(501, 10));
  const ChainReport skipped = skipping.Finish();
  EXPECT_EQ(skipped.reason, ChainBreak::kMissing);
  EXPECT_EQ(skipped.first_broken_seq, 501);
  EXPECT_EQ(skipped.events_checked, 0);  // counted from the start head
  EXPECT_EQ(skipped.head, known);
  ChainVerifier replayed(site_, known);
  replayed.AddBatch(std::span(chain_).subspan(490, 20));
  const ChainReport replay = replayed.Finish();
  EXPECT_EQ(replay.reason, ChainBreak::kDuplicated);
  EXPECT_EQ(replay.first_broken_seq, 501);
  EXPECT_EQ(replay.events_checked, 0);
  ChainVerifier forked(site_, ChainHead{500, HeadAt(499).hash});
  forked.AddBatch(std::span(chain_).subspan(500, 10));
  EXPECT_EQ(forked.Finish().reason, ChainBreak::kAltered);
}

TEST_F(AuditChainTest, AppendRejectsAnotherSiteAndInvalidEventsWithoutMoving) {
  AuditChain chain(site_, HeadAt(kN));
  AuditEvent foreign = gen_->Event(other_site_.ToString());
  auto r = chain.Append(foreign);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(r.error().message().starts_with("site: "));
  AuditEvent invalid = gen_->Event(site_.ToString());
  invalid.source = "Amina's phone";
  r = chain.Append(invalid);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().message().starts_with("source: "));
  EXPECT_EQ(chain.head(), HeadAt(kN));

  // seq is the chain's to assign, whatever the caller put there.
  AuditEvent next = gen_->Event(site_.ToString());
  next.seq = 7;
  r = chain.Append(next);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->event.seq, kN + 1);
  EXPECT_EQ(r->prev_hash, HeadAt(kN).hash);
  auto extended = chain_;
  extended.push_back(*r);
  EXPECT_TRUE(VerifyChain(site_, extended).ok);

  // Reset after a rolled-back store: the next record reuses the seq.
  chain.Reset(HeadAt(kN));
  auto again = chain.Append(gen_->Event(site_.ToString()));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->event.seq, kN + 1);

  AuditChain full(site_, ChainHead{kMaxAuditSeq, {}});
  auto overflow = full.Append(gen_->Event(site_.ToString()));
  ASSERT_FALSE(overflow.has_value());
  EXPECT_EQ(overflow.error().code(), ErrorCode::kOutOfRange);
}

TEST_F(AuditChainTest, ConcurrentAppendsFormOneChain) {
  AuditChain chain(site_);
  constexpr int kThreads = 4;
  constexpr int kEach = 250;
  std::vector<std::vector<AuditEvent>> inputs(kThreads);
  for (auto& in : inputs) {
    for (int i = 0; i < kEach; ++i) in.push_back(gen_->Event(site_.ToString()));
  }
  std::vector<std::vector<ChainedEvent>> outputs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const AuditEvent& e : inputs[t]) {
        auto r = chain.Append(e);
        if (r) outputs[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<ChainedEvent> all;
  for (const auto& out : outputs) all.insert(all.end(), out.begin(), out.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  std::sort(all.begin(), all.end(),
            [](const ChainedEvent& a, const ChainedEvent& b) {
              return a.event.seq < b.event.seq;
            });
  const ChainReport report = VerifyChain(site_, all);
  EXPECT_TRUE(report.ok) << report.detail;
  EXPECT_EQ(report.events_checked, kThreads * kEach);
  EXPECT_EQ(report.head, chain.head());
}

}  // namespace
}  // namespace pulse::engine
