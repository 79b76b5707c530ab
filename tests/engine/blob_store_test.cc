// The blob store (docs/formats/blob_file.md): round trips across chunk
// boundaries, deduplication with no second write, strict id validation
// before any filesystem call, every bit flip / truncation / rename / wrong
// key rejected as kCorruption, and a fault at every FileOps call of a Put()
// (a fault injector failing the Nth call, looped over N) leaving either the
// exact blob or none, with a retry succeeding.
#include "pulse/engine/blob_store.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/faulty_file_ops.h"
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pulse/engine/data_key.h"
#include "pulse/engine/file_ops.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/sealed_file_blob_store.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

#define ASSERT_OK(expr)                      \
  do {                                       \
    const auto& pulse_result_ = (expr);      \
    ASSERT_TRUE(pulse_result_.has_value())   \
        << pulse_result_.error().ToString(); \
  } while (0)

#define EXPECT_CODE(expr, expected_code)                            \
  do {                                                              \
    const auto& pulse_result_ = (expr);                             \
    ASSERT_FALSE(pulse_result_.has_value()) << "expected an error"; \
    EXPECT_EQ(pulse_result_.error().code(), (expected_code))        \
        << pulse_result_.error().ToString();                        \
  } while (0)

constexpr std::size_t kChunk = SealedFileBlobStore::kChunkBytes;

Bytes RandomBytesOf(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
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

DataKey KeyOf(std::uint8_t seed) {
  std::array<std::uint8_t, DataKey::kSize> raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) {
    raw[i] = static_cast<std::uint8_t>(seed * 31 + i);
  }
  auto key = DataKey::FromBytes(raw);
  EXPECT_TRUE(key.has_value());
  return std::move(*key);
}

using test_support::FaultyFileOps;

class SealedFileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = pulse::testing::TempRoot() /
           ("pulse_blob_store_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    root_ = dir_ / "blobs";
    store_ = OpenStore(RealFileOps(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SealedFileBlobStore> OpenStore(FileOps& ops,
                                                 std::uint8_t key_seed) {
    auto store = SealedFileBlobStore::Open(root_, KeyOf(key_seed), ops);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  BlobRef PutOrDie(const Bytes& bytes) {
    auto ref = store_->Put(bytes);
    EXPECT_TRUE(ref.has_value()) << ref.error().ToString();
    return ref ? *ref : BlobRef{};
  }

  // Every regular file under the root, temp files included.
  std::vector<fs::path> AllFiles() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.is_regular_file()) out.push_back(e.path());
    }
    return out;
  }

  fs::path dir_;
  fs::path root_;
  std::unique_ptr<SealedFileBlobStore> store_;
};

TEST_F(SealedFileBlobStoreTest, RoundTripsAcrossChunkBoundaries) {
  const std::size_t sizes[] = {0,       1,          100,        kChunk - 1,
                               kChunk,  kChunk + 1, 2 * kChunk, 3 * kChunk + 17,
                               3u << 20};
  std::uint32_t seed = 1;
  for (std::size_t size : sizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Bytes bytes = RandomBytesOf(size, seed++);
    const BlobRef ref = PutOrDie(bytes);
    EXPECT_EQ(ref.sha256, BlobIdOf(bytes));
    EXPECT_EQ(ref.size, size);
    auto back = store_->Get(ref.sha256);
    ASSERT_OK(back);
    EXPECT_TRUE(*back == bytes);
    EXPECT_EQ(store_->Contains(ref.sha256), true);
    EXPECT_EQ(store_->Size(ref.sha256), size);
    EXPECT_EQ(fs::file_size(store_->PathOf(ref.sha256)),
              SealedFileBlobStore::SealedSize(size));
  }
}

TEST_F(SealedFileBlobStoreTest, LaysFilesOutByIdFanOut) {
  const BlobRef ref = PutOrDie(RandomBytesOf(10, 7));
  EXPECT_EQ(store_->PathOf(ref.sha256),
            root_ / ref.sha256.substr(0, 2) / ref.sha256);
  EXPECT_TRUE(fs::is_regular_file(store_->PathOf(ref.sha256)));
  EXPECT_EQ(AllFiles().size(), 1u);
}

TEST_F(SealedFileBlobStoreTest, DiskHoldsNoPlaintext) {
  const std::string marker = "PATIENT DOE, JANE 1970-01-01 ";
  std::string text;
  while (text.size() < 3 * kChunk) text += marker;
  const BlobRef ref = PutOrDie(Bytes(text.begin(), text.end()));
  const Bytes file = ReadAll(store_->PathOf(ref.sha256));
  const std::string image(file.begin(), file.end());
  EXPECT_EQ(image.find("PATIENT"), std::string::npos);
}

TEST_F(SealedFileBlobStoreTest, SecondPutOfSameBytesWritesNothing) {
  FaultyFileOps ops;
  auto store = OpenStore(ops, 1);
  const Bytes bytes = RandomBytesOf(5000, 3);
  auto first = store->Put(bytes);
  ASSERT_OK(first);
  EXPECT_EQ(ops.writes(), 1);
  EXPECT_EQ(ops.renames(), 1);
  auto second = store->Put(bytes);
  ASSERT_OK(second);
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(ops.writes(), 1);
  EXPECT_EQ(ops.renames(), 1);
  EXPECT_EQ(AllFiles().size(), 1u);
}

TEST_F(SealedFileBlobStoreTest, MissingBlobIsNotFound) {
  const std::string id = BlobIdOf(RandomBytesOf(10, 9));
  EXPECT_CODE(store_->Get(id), ErrorCode::kNotFound);
  EXPECT_CODE(store_->Size(id), ErrorCode::kNotFound);
  EXPECT_EQ(store_->Contains(id), false);
  ASSERT_OK(store_->Remove(id));  // absent is not an error
}

TEST_F(SealedFileBlobStoreTest, MalformedIdsAreRejectedWithoutTouchingDisk) {
  FaultyFileOps ops;
  auto store = OpenStore(ops, 1);
  const int calls_after_open = ops.calls();
  const std::string good = BlobIdOf(RandomBytesOf(10, 11));
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  const std::string bad[] = {
      "",
      good.substr(0, 63),
      good + "0",
      upper,
      "../" + good.substr(3),
      good.substr(0, 30) + "/" + good.substr(31),
      "../../../../../../../../../../../../../../../../../../etc/passwd",
      std::string(64, 'g'),
      good.substr(0, 63) + '\0',
      "ab/cd/" + good.substr(6),
  };
  for (const std::string& id : bad) {
    SCOPED_TRACE("id \"" + id + "\"");
    EXPECT_FALSE(IsValidBlobId(id));
    EXPECT_CODE(store->Get(id), ErrorCode::kInvalidArgument);
    EXPECT_CODE(store->Contains(id), ErrorCode::kInvalidArgument);
    EXPECT_CODE(store->Size(id), ErrorCode::kInvalidArgument);
    EXPECT_CODE(store->Remove(id), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(ops.calls(), calls_after_open);
  EXPECT_TRUE(IsValidBlobId(good));
}

TEST_F(SealedFileBlobStoreTest, EverySingleBitFlipIsCorruption) {
  const BlobRef ref = PutOrDie(RandomBytesOf(100, 13));
  const fs::path path = store_->PathOf(ref.sha256);
  const Bytes good = ReadAll(path);
  for (std::size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = good;
      bad[byte] ^= static_cast<std::uint8_t>(1u << bit);
      WriteAll(path, bad);
      auto got = store_->Get(ref.sha256);
      ASSERT_FALSE(got.has_value()) << "byte " << byte << " bit " << bit;
      ASSERT_EQ(got.error().code(), ErrorCode::kCorruption)
          << "byte " << byte << " bit " << bit << ": "
          << got.error().ToString();
      ASSERT_NE(got.error().message().find(ref.sha256), std::string::npos)
          << got.error().message();
    }
  }
  WriteAll(path, good);
  ASSERT_OK(store_->Get(ref.sha256));
}

TEST_F(SealedFileBlobStoreTest, EveryTruncationAndExtensionIsCorruption) {
  const BlobRef ref = PutOrDie(RandomBytesOf(2 * kChunk + 5, 17));
  const fs::path path = store_->PathOf(ref.sha256);
  const Bytes good = ReadAll(path);
  // Every length of the header and around each chunk boundary, plus a
  // stride through the rest: each full length check costs a decryption.
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::size_t body = n < 80 ? 0 : (n - 80) % (kChunk + 17);
    if (n <= 100 || body < 20 || body > kChunk || n % 997 == 0) {
      lengths.push_back(n);
    }
  }
  for (std::size_t n : lengths) {
    WriteAll(path, Bytes(good.begin(), good.begin() + static_cast<long>(n)));
    auto got = store_->Get(ref.sha256);
    ASSERT_FALSE(got.has_value()) << "length " << n;
    ASSERT_EQ(got.error().code(), ErrorCode::kCorruption) << "length " << n;
  }
  Bytes longer = good;
  longer.push_back(0);
  WriteAll(path, longer);
  EXPECT_CODE(store_->Get(ref.sha256), ErrorCode::kCorruption);
}

TEST_F(SealedFileBlobStoreTest, ReorderedChunksAreCorruption) {
  const BlobRef ref = PutOrDie(RandomBytesOf(3 * kChunk, 19));
  const fs::path path = store_->PathOf(ref.sha256);
  Bytes file = ReadAll(path);
  const std::size_t sealed_chunk = kChunk + 17;
  std::swap_ranges(file.begin() + 80, file.begin() + 80 + sealed_chunk,
                   file.begin() + 80 + sealed_chunk);
  WriteAll(path, file);
  EXPECT_CODE(store_->Get(ref.sha256), ErrorCode::kCorruption);
}

TEST_F(SealedFileBlobStoreTest, FileUnderAnotherBlobsNameIsDetected) {
  const BlobRef a = PutOrDie(RandomBytesOf(300, 23));
  const BlobRef b = PutOrDie(RandomBytesOf(300, 29));
  const Bytes file_a = ReadAll(store_->PathOf(a.sha256));
  // Plain move: the header names blob a.
  WriteAll(store_->PathOf(b.sha256), file_a);
  auto got = store_->Get(b.sha256);
  EXPECT_CODE(got, ErrorCode::kCorruption);
  EXPECT_NE(got.error().message().find("holds blob " + a.sha256),
            std::string::npos)
      << got.error().message();
  // A forger rewriting the header's hash too: the tags cover it.
  Bytes forged = file_a;
  const auto digest_b = HexDecode(b.sha256);
  ASSERT_OK(digest_b);
  std::copy(digest_b->begin(), digest_b->end(), forged.begin() + 24);
  WriteAll(store_->PathOf(b.sha256), forged);
  EXPECT_CODE(store_->Get(b.sha256), ErrorCode::kCorruption);
  // a is untouched.
  ASSERT_OK(store_->Get(a.sha256));
}

TEST_F(SealedFileBlobStoreTest, WrongKeyIsCorruption) {
  const Bytes bytes = RandomBytesOf(1000, 31);
  const BlobRef ref = PutOrDie(bytes);
  auto other = OpenStore(RealFileOps(), 2);
  auto got = other->Get(ref.sha256);
  EXPECT_CODE(got, ErrorCode::kCorruption);
  EXPECT_NE(got.error().message().find("another blob key"), std::string::npos);
  // Contains/Size do not decrypt: they still see the file.
  EXPECT_EQ(other->Contains(ref.sha256), true);
  EXPECT_EQ(other->Size(ref.sha256), bytes.size());
}

TEST_F(SealedFileBlobStoreTest, PutRepairsADamagedBlob) {
  const Bytes bytes = RandomBytesOf(1000, 37);
  const BlobRef ref = PutOrDie(bytes);
  const fs::path path = store_->PathOf(ref.sha256);
  Bytes file = ReadAll(path);
  file[500] ^= 0x40;
  WriteAll(path, file);
  EXPECT_CODE(store_->Get(ref.sha256), ErrorCode::kCorruption);
  EXPECT_EQ(PutOrDie(bytes), ref);
  auto back = store_->Get(ref.sha256);
  ASSERT_OK(back);
  EXPECT_TRUE(*back == bytes);
}

TEST_F(SealedFileBlobStoreTest, RemoveErasesOnlyThatBlob) {
  const BlobRef a = PutOrDie(RandomBytesOf(10, 41));
  const BlobRef b = PutOrDie(RandomBytesOf(10, 43));
  ASSERT_OK(store_->Remove(a.sha256));
  EXPECT_CODE(store_->Get(a.sha256), ErrorCode::kNotFound);
  ASSERT_OK(store_->Get(b.sha256));
}

TEST_F(SealedFileBlobStoreTest, OversizedBlobIsRejected) {
  // A span over a small buffer with a lying size would be UB; build the
  // limit case only in arithmetic: SealedSize of the limit fits u64.
  EXPECT_GT(SealedFileBlobStore::SealedSize(kMaxStoredBlobBytes), kMaxStoredBlobBytes);
  Bytes big(static_cast<std::size_t>(kMaxStoredBlobBytes) + 1);
  EXPECT_CODE(store_->Put(big), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(AllFiles().empty());
}

TEST_F(SealedFileBlobStoreTest, ConcurrentPutsOfSameBytesAgree) {
  const Bytes bytes = RandomBytesOf(200000, 47);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (store_->Put(bytes)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(AllFiles().size(), 1u);
  auto back = store_->Get(BlobIdOf(bytes));
  ASSERT_OK(back);
  EXPECT_TRUE(*back == bytes);
}

// A fault at every FileOps call of Put(), once or as a crash: afterwards the
// blob reads back exactly or is absent, never garbage; no file under a final
// name is partial; a retry with healthy I/O succeeds; temp files are swept.
TEST_F(SealedFileBlobStoreTest, FaultAtEveryStepOfPutLeavesAllOrNothing) {
  for (auto mode : {FaultyFileOps::Mode::kOnce, FaultyFileOps::Mode::kCrash}) {
    for (std::size_t size : {std::size_t{0}, std::size_t{700}, kChunk + 3}) {
      int successes = 0;
      for (int n = 1; n < 100 && successes == 0; ++n) {
        SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)) +
                     " size " + std::to_string(size) + " fail at " +
                     std::to_string(n));
        fs::remove_all(root_);
        const Bytes bytes =
            RandomBytesOf(size, static_cast<std::uint32_t>(n + size));
        FaultyFileOps ops(n, mode);
        auto store = SealedFileBlobStore::Open(root_, KeyOf(1), ops);
        if (!store) continue;  // the fault hit Open(); nothing to check
        auto put = (*store)->Put(bytes);
        if (put && !ops.failed()) ++successes;

        // What a restarted process sees, with healthy I/O.
        auto fresh = OpenStore(RealFileOps(), 1);
        ASSERT_NE(fresh, nullptr);
        auto got = fresh->Get(BlobIdOf(bytes));
        if (got) {
          EXPECT_TRUE(*got == bytes);
        } else {
          EXPECT_EQ(got.error().code(), ErrorCode::kNotFound)
              << got.error().ToString();
        }
        if (put) {
          ASSERT_TRUE(got.has_value()) << "Put succeeded but blob unreadable";
        }
        for (const fs::path& p : AllFiles()) {
          const std::string name = p.filename().string();
          if (name.find(".tmp-") == std::string::npos) {
            EXPECT_EQ(name, BlobIdOf(bytes));
          }
        }
        auto swept = fresh->RemoveStaleTempFiles();
        ASSERT_OK(swept);
        for (const fs::path& p : AllFiles()) {
          EXPECT_EQ(p.filename().string().find(".tmp-"), std::string::npos);
        }
        auto retry = fresh->Put(bytes);
        ASSERT_OK(retry);
        auto again = fresh->Get(retry->sha256);
        ASSERT_OK(again);
        EXPECT_TRUE(*again == bytes);
      }
      EXPECT_EQ(successes, 1) << "the loop never reached a fault-free Put";
    }
  }
}

TEST_F(SealedFileBlobStoreTest, StaleTempFilesAreIgnoredAndSwept) {
  const BlobRef ref = PutOrDie(RandomBytesOf(10, 53));
  const fs::path stale =
      store_->PathOf(ref.sha256).string() + ".tmp-0011223344556677";
  WriteAll(stale, Bytes{1, 2, 3});
  ASSERT_OK(store_->Get(ref.sha256));
  auto swept = store_->RemoveStaleTempFiles();
  ASSERT_OK(swept);
  EXPECT_EQ(*swept, 1u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(store_->PathOf(ref.sha256)));
}

// --- MemoryBlobStore: the same contract, for tests of higher layers ---

TEST(MemoryBlobStoreTest, RoundTripDedupAndVerification) {
  MemoryBlobStore store;
  const Bytes bytes = RandomBytesOf(1234, 59);
  auto a = store.Put(bytes);
  auto b = store.Put(bytes);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(store.count(), 1u);
  auto back = store.Get(a->sha256);
  ASSERT_OK(back);
  EXPECT_TRUE(*back == bytes);
  EXPECT_EQ(store.Size(a->sha256), bytes.size());
  EXPECT_EQ(store.Contains(a->sha256), true);
  EXPECT_CODE(store.Get("ABC"), ErrorCode::kInvalidArgument);
  EXPECT_CODE(store.Get(BlobIdOf(Bytes{1})), ErrorCode::kNotFound);
  store.CorruptForTest(a->sha256, Bytes{1, 2, 3});
  EXPECT_CODE(store.Get(a->sha256), ErrorCode::kCorruption);
  ASSERT_OK(store.Remove(a->sha256));
  EXPECT_EQ(store.Contains(a->sha256), false);
}

}  // namespace
}  // namespace pulse::engine
