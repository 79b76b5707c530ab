// SHA-256 and BLAKE2b against published test vectors (FIPS 180-2 examples,
// RFC 7693 Appendix A, the BLAKE2 reference KAT), streaming vs one-shot,
// hex encoding, and the constant-time compare.
#include "pulse/engine/hash.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pulse/engine/crypto.h"

namespace pulse::engine {
namespace {

std::vector<std::uint8_t> Iota(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return bytes;
}

TEST(HashTest, InitCryptoSucceedsAndIsIdempotent) {
  EXPECT_TRUE(InitCrypto());
  EXPECT_TRUE(InitCrypto());
}

TEST(HashTest, Sha256MatchesFips180Vectors) {
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256(
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HexEncode(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HashTest, Sha256StreamingEqualsOneShotForEverySplit) {
  const std::vector<std::uint8_t> data = Iota(200);
  const Sha256Digest expected = Sha256(data);
  for (std::size_t split = 0; split <= data.size(); split += 7) {
    Sha256Hasher hasher;
    hasher.Update(std::span(data).first(split));
    hasher.Update(std::span(data).subspan(split));
    EXPECT_EQ(hasher.Final(), expected) << "split at " << split;
  }
}

TEST(HashTest, Sha256HexIsTheBlobId) {
  const std::string abc = "abc";
  const std::vector<std::uint8_t> bytes(abc.begin(), abc.end());
  EXPECT_EQ(Sha256Hex(bytes),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, ParseSha256HexRoundTripsAndRejectsMalformed) {
  const std::string hex =
      "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
  auto digest = ParseSha256Hex(hex);
  ASSERT_TRUE(digest) << digest.error().ToString();
  EXPECT_EQ(*digest, Sha256("abc"));
  EXPECT_EQ(ParseSha256Hex(hex.substr(1)).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseSha256Hex(hex + "0").error().code(),
            ErrorCode::kInvalidArgument);
  std::string bad = hex;
  bad[10] = 'g';
  auto error = ParseSha256Hex(bad);
  ASSERT_FALSE(error);
  EXPECT_NE(error.error().message().find("offset 10"), std::string::npos)
      << error.error().message();
}

TEST(HashTest, HexEncodeIsLowercaseAndDecodeInverts) {
  const std::vector<std::uint8_t> bytes = {0x00, 0x01, 0xAB, 0xFF};
  EXPECT_EQ(HexEncode(bytes), "0001abff");
  EXPECT_EQ(HexEncode({}), "");
  EXPECT_EQ(*HexDecode("0001ABff"), bytes);
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
}

TEST(HashTest, Blake2bMatchesRfc7693Vector) {
  // RFC 7693 Appendix A: BLAKE2b-512("abc").
  Blake2bHasher hasher(64);
  hasher.Update("abc");
  EXPECT_EQ(HexEncode(hasher.Final()),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

TEST(HashTest, Blake2b256MatchesKnownDigests) {
  EXPECT_EQ(HexEncode(Blake2b256("")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(HexEncode(Blake2b256("abc")),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(HashTest, KeyedBlake2bMatchesReferenceKat) {
  // blake2b-kat.txt from the BLAKE2 reference code: key = 00 01 .. 3f.
  const std::vector<std::uint8_t> key = Iota(64);
  Blake2bHasher empty(64, key);
  EXPECT_EQ(HexEncode(empty.Final()),
            "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
            "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568");
  Blake2bHasher one_byte(64, key);
  one_byte.Update(Iota(1));
  EXPECT_EQ(HexEncode(one_byte.Final()),
            "961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4"
            "187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd");
}

TEST(HashTest, Blake2bChainStepIsHashOfConcatenation) {
  // The audit chain computes BLAKE2b(prev_hash || event) by streaming;
  // it must equal hashing the concatenation.
  const Blake2b256Digest prev = Blake2b256("genesis");
  const std::string event = R"({"action":"login","user":"u1"})";
  Blake2bHasher hasher;
  hasher.Update(prev);
  hasher.Update(event);
  std::vector<std::uint8_t> joined(prev.begin(), prev.end());
  joined.insert(joined.end(), event.begin(), event.end());
  const Blake2b256Digest one_shot = Blake2b256(joined);
  EXPECT_EQ(hasher.Final(),
            std::vector<std::uint8_t>(one_shot.begin(), one_shot.end()));
}

TEST(HashTest, ConstantTimeEqualsComparesLengthAndContents) {
  const std::vector<std::uint8_t> a = {1, 2, 3, 4};
  std::vector<std::uint8_t> b = a;
  EXPECT_TRUE(ConstantTimeEquals(a, b));
  b[3] = 5;
  EXPECT_FALSE(ConstantTimeEquals(a, b));
  EXPECT_FALSE(ConstantTimeEquals(a, std::span(a).first(3)));
  EXPECT_TRUE(ConstantTimeEquals({}, {}));
}

TEST(HashTest, RandomBytesAreNotConstant) {
  std::vector<std::uint8_t> a(32), b(32);
  RandomBytes(a);
  RandomBytes(b);
  EXPECT_FALSE(ConstantTimeEquals(a, b));
}

}  // namespace
}  // namespace pulse::engine
