// The key file (docs/formats/keyfile.md): round trips, wrong passphrase vs
// damaged file, passphrase change keeping the data key, every bit flip and
// every truncation rejected with a typed error, forged headers rejected,
// and a crash at every step of a write leaving a usable file (a fault
// injector under FileOps fails the Nth call, looped over N).
//
// Argon2 runs at its minimum cost here (1 pass, 8 KiB) so the suite takes
// seconds; the format and code paths are the same as at the defaults.
#include "pulse/engine/key_file.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/faulty_file_ops.h"
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "pulse/engine/crypto.h"
#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

constexpr std::string_view kPassphrase = "correct horse battery staple";
constexpr std::string_view kNewPassphrase = "tr0ub4dor&3 but longer";

KeyFileOptions FastOptions() {
  KeyFileOptions options;
  options.kdf.ops_limit = 1;
  options.kdf.mem_limit_bytes = kMinKdfMemLimitBytes;
  return options;
}

Bytes ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Re-seals the checksum after a deliberate edit, as a forger would.
void Reseal(Bytes& image) {
  const Blake2b256Digest sum =
      Blake2b256(std::span<const std::uint8_t>(image).first(116));
  std::copy(sum.begin(), sum.end(), image.begin() + 116);
}

// Error messages must never carry secrets: neither passphrase, nor key hex.
void ExpectNoSecrets(const Error& error, const DataKey& key) {
  const std::string& m = error.message();
  EXPECT_EQ(m.find(kPassphrase), std::string::npos) << m;
  EXPECT_EQ(m.find(kNewPassphrase), std::string::npos) << m;
  EXPECT_EQ(m.find(HexEncode(key.bytes()).substr(0, 16)), std::string::npos)
      << m;
}

using test_support::FaultyFileOps;

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = pulse::testing::TempRoot() /
           ("pulse_key_file_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "site.key";
  }
  void TearDown() override { fs::remove_all(dir_); }

  DataKey CreateOrDie() {
    auto key = CreateKeyFile(path_, kPassphrase, FastOptions());
    EXPECT_TRUE(key) << key.error().ToString();
    return std::move(*key);
  }

  Bytes Image(const DataKey& key) {
    auto image = EncodeKeyFile(key, kPassphrase, FastOptions().kdf);
    EXPECT_TRUE(image) << image.error().ToString();
    return *image;
  }

  fs::path dir_;
  fs::path path_;
};

// --- DataKey ---

static_assert(!std::is_copy_constructible_v<DataKey>);
static_assert(!std::is_copy_assignable_v<DataKey>);
static_assert(std::is_nothrow_move_constructible_v<DataKey>);

TEST_F(KeyFileTest, DataKeyIsRandomMovableAndNeverPrinted) {
  auto a = DataKey::Generate();
  auto b = DataKey::Generate();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(*a == *b);
  auto copy = DataKey::FromBytes(a->bytes());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(*copy == *a);

  DataKey moved = std::move(*a);
  EXPECT_FALSE(a->valid());  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_TRUE(moved == *copy);

  const std::string printed = ::testing::PrintToString(moved);
  EXPECT_EQ(printed, "DataKey(redacted)");
  EXPECT_EQ(printed.find(HexEncode(moved.bytes()).substr(0, 8)),
            std::string::npos);
}

TEST_F(KeyFileTest, SqlCipherLiteralIsXQuotedLowercaseHex) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  std::string seen;
  key->WithSqlCipherKeyLiteral(
      [&](std::string_view literal) { seen = std::string(literal); });
  EXPECT_EQ(seen, "x'" + HexEncode(key->bytes()) + "'");
  EXPECT_EQ(seen.size(), 67u);
}

// --- Round trips and typed errors ---

TEST_F(KeyFileTest, CreateThenUnlockGivesTheSameKey) {
  const DataKey key = CreateOrDie();
  EXPECT_EQ(fs::file_size(path_), kKeyFileSize);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "key file readable by others";
  EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));

  auto unlocked = UnlockKeyFile(path_, kPassphrase);
  ASSERT_TRUE(unlocked) << unlocked.error().ToString();
  EXPECT_TRUE(*unlocked == key);
}

TEST_F(KeyFileTest, DefaultsAreArgon2idModerate) {
  const KeyFileOptions defaults;
  EXPECT_EQ(defaults.kdf.ops_limit, 3u);
  EXPECT_EQ(defaults.kdf.mem_limit_bytes, 256u << 20);
  EXPECT_EQ(defaults.file_ops, nullptr);
}

TEST_F(KeyFileTest, InspectReportsTheRecordedLimits) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  auto image = EncodeKeyFile(*key, kPassphrase, KdfLimits{2, 65536});
  ASSERT_TRUE(image);
  auto info = InspectKeyFile(*image);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->version, 1);
  EXPECT_EQ(info->kdf.ops_limit, 2u);
  EXPECT_EQ(info->kdf.mem_limit_bytes, 65536u);
  auto back = DecodeKeyFile(*image, kPassphrase);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == *key);
}

TEST_F(KeyFileTest, TwoFilesOfOneKeyDifferInSaltAndNonce) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  EXPECT_NE(Image(*key), Image(*key));
}

TEST_F(KeyFileTest, WrongPassphraseIsPermissionDenied) {
  const DataKey key = CreateOrDie();
  const Bytes before = ReadAll(path_);
  auto result = UnlockKeyFile(path_, kNewPassphrase);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(result.error().message().find("wrong passphrase"),
            std::string::npos);
  EXPECT_NE(result.error().message().find(path_.string()), std::string::npos);
  ExpectNoSecrets(result.error(), key);
  EXPECT_EQ(ReadAll(path_), before);
}

TEST_F(KeyFileTest, EmptyPassphraseIsInvalidArgument) {
  EXPECT_EQ(CreateKeyFile(path_, "", FastOptions()).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path_));
  CreateOrDie();
  EXPECT_EQ(UnlockKeyFile(path_, "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      ChangePassphrase(path_, kPassphrase, "", FastOptions()).error().code(),
      ErrorCode::kInvalidArgument);
}

TEST_F(KeyFileTest, LimitsOutOfRangeAreRejectedOnWrite) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  for (const KdfLimits& bad :
       {KdfLimits{0, 8192}, KdfLimits{kMaxKdfOpsLimit + 1, 8192},
        KdfLimits{1, 4096}, KdfLimits{1, kMaxKdfMemLimitBytes + 1}}) {
    auto image = EncodeKeyFile(*key, kPassphrase, bad);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(KeyFileTest, MissingFileIsNotFound) {
  auto result = UnlockKeyFile(path_, kPassphrase);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
}

TEST_F(KeyFileTest, CreateNeverReplacesAnExistingKeyFile) {
  const DataKey key = CreateOrDie();
  const Bytes before = ReadAll(path_);
  auto again = CreateKeyFile(path_, kNewPassphrase, FastOptions());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));
  EXPECT_TRUE(*UnlockKeyFile(path_, kPassphrase) == key);
}

TEST_F(KeyFileTest, ChangePassphraseKeepsTheDataKey) {
  const DataKey key = CreateOrDie();
  KeyFileOptions options = FastOptions();
  options.kdf.ops_limit = 2;
  ASSERT_TRUE(ChangePassphrase(path_, kPassphrase, kNewPassphrase, options));

  auto with_new = UnlockKeyFile(path_, kNewPassphrase);
  ASSERT_TRUE(with_new) << with_new.error().ToString();
  EXPECT_TRUE(*with_new == key);
  auto with_old = UnlockKeyFile(path_, kPassphrase);
  ASSERT_FALSE(with_old);
  EXPECT_EQ(with_old.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(InspectKeyFile(ReadAll(path_))->kdf.ops_limit, 2u);
  EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));
}

TEST_F(KeyFileTest, ChangePassphraseWithWrongOldPassphraseTouchesNothing) {
  const DataKey key = CreateOrDie();
  const Bytes before = ReadAll(path_);
  auto status =
      ChangePassphrase(path_, "not it", kNewPassphrase, FastOptions());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kPermissionDenied);
  ExpectNoSecrets(status.error(), key);
  EXPECT_EQ(ReadAll(path_), before);
}

// --- Damage: every bit, every length ---

TEST_F(KeyFileTest, EveryBitFlipIsRejectedAsDamage) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  const Bytes image = Image(*key);
  ASSERT_EQ(image.size(), kKeyFileSize);
  for (std::size_t bit = 0; bit < image.size() * 8; ++bit) {
    Bytes damaged = image;
    damaged[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    auto result = DecodeKeyFile(damaged, kPassphrase);
    ASSERT_FALSE(result) << "bit " << bit << " flipped and accepted";
    const ErrorCode code = result.error().code();
    // Damage is never mistaken for a wrong passphrase: the checksum is
    // checked before Argon2 runs. A flipped version byte reads as a version
    // this build does not know.
    if (bit / 8 == 8) {
      EXPECT_EQ(code, ErrorCode::kUnsupported) << "bit " << bit;
    } else {
      EXPECT_EQ(code, ErrorCode::kCorruption)
          << "bit " << bit << ": " << result.error().ToString();
    }
    ExpectNoSecrets(result.error(), *key);
  }
}

TEST_F(KeyFileTest, ABitFlipInEveryByteOfAFileIsRejectedByUnlock) {
  // Through the file path, one bit per byte (a different bit each time);
  // the test above covers every bit of the same decoder in memory.
  const DataKey key = CreateOrDie();
  const Bytes image = ReadAll(path_);
  for (std::size_t byte = 0; byte < image.size(); ++byte) {
    const std::size_t bit = byte * 8 + byte % 8;
    Bytes damaged = image;
    damaged[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    WriteAll(path_, damaged);
    auto result = UnlockKeyFile(path_, kPassphrase);
    ASSERT_FALSE(result) << "bit " << bit;
    EXPECT_NE(result.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(result.error().message().find(path_.string()), std::string::npos);
  }
}

TEST_F(KeyFileTest, EveryTruncationAndAnyTailIsRejected) {
  const DataKey key = CreateOrDie();
  const Bytes image = ReadAll(path_);
  for (std::size_t size = 0; size < image.size(); ++size) {
    WriteAll(path_, Bytes(image.begin(), image.begin() + size));
    auto result = UnlockKeyFile(path_, kPassphrase);
    ASSERT_FALSE(result) << "size " << size;
    EXPECT_EQ(result.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(result.error().message().find("truncated"), std::string::npos)
        << result.error().message();
  }
  for (std::size_t extra : {1u, 2u, 4096u}) {
    Bytes longer = image;
    longer.resize(image.size() + extra, 0);
    WriteAll(path_, longer);
    auto result = UnlockKeyFile(path_, kPassphrase);
    ASSERT_FALSE(result) << "extra " << extra;
    EXPECT_EQ(result.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(result.error().message().find("trailing"), std::string::npos)
        << result.error().message();
  }
}

TEST_F(KeyFileTest, ErrorsNameWhatIsWrong) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  Bytes image = Image(*key);
  Bytes not_ours = image;
  not_ours[0] = 'S';  // "SQLite format 3" would start like this
  EXPECT_NE(
      DecodeKeyFile(not_ours, kPassphrase).error().message().find("bad magic"),
      std::string::npos);
  Bytes v2 = image;
  v2[8] = 2;
  auto future = DecodeKeyFile(v2, kPassphrase);
  EXPECT_EQ(future.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(future.error().message().find("version 2"), std::string::npos);
  Bytes flipped = image;
  flipped[100] ^= 1;
  EXPECT_NE(
      DecodeKeyFile(flipped, kPassphrase).error().message().find("checksum"),
      std::string::npos);
}

// --- Forgery: the checksum recomputed after an edit ---

TEST_F(KeyFileTest, ForgedHeaderOrSealedKeyIsNeverAccepted) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  const Bytes image = Image(*key);
  // Every bit of the version, ids, reserved byte, salt, nonce and sealed
  // key; the limit fields are covered below (flipping their high bits asks
  // for absurd costs, which is its own check).
  for (std::size_t bit = 8 * 8; bit < 116 * 8; ++bit) {
    const std::size_t byte = bit / 8;
    if (byte >= 12 && byte < 28) continue;
    Bytes forged = image;
    forged[byte] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    Reseal(forged);
    auto result = DecodeKeyFile(forged, kPassphrase);
    ASSERT_FALSE(result) << "forged bit " << bit << " accepted";
    const ErrorCode expected =
        byte <= 10   ? ErrorCode::kUnsupported        // version, KDF, cipher id
        : byte == 11 ? ErrorCode::kCorruption         // reserved
                     : ErrorCode::kPermissionDenied;  // tag fails
    EXPECT_EQ(result.error().code(), expected)
        << "bit " << bit << ": " << result.error().ToString();
  }
}

TEST_F(KeyFileTest, ForgedLimitsAreRangeCheckedOrBreakTheTag) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  const Bytes image = Image(*key);
  const auto with_limits = [&](std::uint64_t ops, std::uint64_t mem) {
    Bytes forged = image;
    for (int i = 0; i < 8; ++i) {
      forged[12 + i] = static_cast<std::uint8_t>(ops >> (8 * i));
      forged[20 + i] = static_cast<std::uint8_t>(mem >> (8 * i));
    }
    Reseal(forged);
    return DecodeKeyFile(forged, kPassphrase);
  };
  // Hostile costs are refused before Argon2 runs.
  for (auto [ops, mem] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 8192},
           {kMaxKdfOpsLimit + 1, 8192},
           {~0ull, 8192},
           {1, 0},
           {1, kMaxKdfMemLimitBytes + 1},
           {1, ~0ull}}) {
    auto result = with_limits(ops, mem);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::kCorruption)
        << ops << " " << mem;
  }
  // Plausible but different costs derive another key: the tag fails
  // (a downgrade of the recorded cost cannot go unnoticed).
  for (auto [ops, mem] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {2, 8192}, {1, 16384}}) {
    auto result = with_limits(ops, mem);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::kPermissionDenied);
  }
  // The unforged limits still open.
  EXPECT_TRUE(with_limits(1, kMinKdfMemLimitBytes));
}

// --- Crashes and faults during writes ---

TEST_F(KeyFileTest, ChangePassphraseSurvivesACrashAtEveryStep) {
  const DataKey key = CreateOrDie();
  const Bytes original = ReadAll(path_);
  for (auto mode : {FaultyFileOps::Mode::kCrash, FaultyFileOps::Mode::kOnce}) {
    bool succeeded = false;
    for (int fail_at = 1; fail_at < 50 && !succeeded; ++fail_at) {
      SCOPED_TRACE("fail_at " + std::to_string(fail_at) +
                   (mode == FaultyFileOps::Mode::kCrash ? " crash" : " once"));
      WriteAll(path_, original);
      FaultyFileOps faulty(fail_at, mode);
      KeyFileOptions options = FastOptions();
      options.file_ops = &faulty;
      const Status status =
          ChangePassphrase(path_, kPassphrase, kNewPassphrase, options);
      succeeded = !faulty.failed();
      if (succeeded) {
        ASSERT_TRUE(status) << status.error().ToString();
      } else {
        EXPECT_FALSE(status) << "a fault went unreported";
      }

      // Whatever happened, the key file is whole and opens with exactly
      // one of the two passphrases, giving the original data key.
      auto with_old = UnlockKeyFile(path_, kPassphrase);
      auto with_new = UnlockKeyFile(path_, kNewPassphrase);
      ASSERT_NE(bool(with_old), bool(with_new))
          << (with_old ? "" : with_old.error().ToString()) << " / "
          << (with_new ? "" : with_new.error().ToString());
      EXPECT_TRUE((with_old ? *with_old : *with_new) == key);
      if (!with_old) {
        EXPECT_EQ(with_old.error().code(), ErrorCode::kPermissionDenied);
      }
      if (!with_new) {
        EXPECT_EQ(with_new.error().code(), ErrorCode::kPermissionDenied);
      }
      if (!status && mode == FaultyFileOps::Mode::kOnce && with_old) {
        // Failed before the rename and the cleanup ran.
        EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));
      }
      // A later attempt with a working disk succeeds from any leftover
      // state, stale temp file included.
      const std::string_view current = with_old ? kPassphrase : kNewPassphrase;
      ASSERT_TRUE(
          ChangePassphrase(path_, current, "third passphrase", FastOptions()));
      EXPECT_TRUE(*UnlockKeyFile(path_, "third passphrase") == key);
    }
    EXPECT_TRUE(succeeded) << "never ran to completion";
  }
}

TEST_F(KeyFileTest, CreateSurvivesACrashAtEveryStep) {
  bool succeeded = false;
  for (int fail_at = 1; fail_at < 50 && !succeeded; ++fail_at) {
    SCOPED_TRACE("fail_at " + std::to_string(fail_at));
    fs::remove(path_);
    FaultyFileOps faulty(fail_at, FaultyFileOps::Mode::kCrash);
    KeyFileOptions options = FastOptions();
    options.file_ops = &faulty;
    auto key = CreateKeyFile(path_, kPassphrase, options);
    succeeded = !faulty.failed();
    EXPECT_EQ(bool(key), succeeded);
    if (fs::exists(path_)) {
      // Either no key file or a whole one: never a torn one.
      auto unlocked = UnlockKeyFile(path_, kPassphrase);
      ASSERT_TRUE(unlocked) << unlocked.error().ToString();
      if (key) {
        EXPECT_TRUE(*unlocked == *key);
      }
    } else {
      ASSERT_FALSE(key);
      // Setup can simply be run again.
      EXPECT_TRUE(CreateKeyFile(path_, kPassphrase, FastOptions()));
    }
  }
  EXPECT_TRUE(succeeded);
}

// A disk that silently writes garbage: the read-back catches it before the
// bad file can replace a good one.
class CorruptingFileOps : public FileOps {
 public:
  Result<Bytes> ReadFile(const fs::path& path, std::size_t max) override {
    return RealFileOps().ReadFile(path, max);
  }
  Status WriteFileDurably(const fs::path& path,
                          std::span<const std::uint8_t> bytes) override {
    Bytes bad(bytes.begin(), bytes.end());
    bad[bad.size() / 2] ^= 0x10;
    return RealFileOps().WriteFileDurably(path, bad);
  }
  Status Rename(const fs::path& from, const fs::path& to,
                RenameMode mode) override {
    return RealFileOps().Rename(from, to, mode);
  }
  Status SyncDirectory(const fs::path& dir) override {
    return RealFileOps().SyncDirectory(dir);
  }
  Status Remove(const fs::path& path) override {
    return RealFileOps().Remove(path);
  }
};

TEST_F(KeyFileTest, SilentlyCorruptedWriteNeverReplacesTheKeyFile) {
  const DataKey key = CreateOrDie();
  const Bytes before = ReadAll(path_);
  CorruptingFileOps corrupting;
  KeyFileOptions options = FastOptions();
  options.file_ops = &corrupting;
  auto status = ChangePassphrase(path_, kPassphrase, kNewPassphrase, options);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));
}

}  // namespace
}  // namespace pulse::engine
