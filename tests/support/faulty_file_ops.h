// A FileOps that forwards to the real filesystem and fails on demand: the
// fault injector of STYLE.md "Make faults a test input" (after SQLite's
// test_vfs.c), for code that writes files atomically through FileOps.
#ifndef PULSE_TESTS_SUPPORT_FAULTY_FILE_OPS_H_
#define PULSE_TESTS_SUPPORT_FAULTY_FILE_OPS_H_

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "pulse/engine/file_ops.h"

namespace pulse::engine::test_support {

namespace fs = std::filesystem;

// Forwards to the real filesystem, counting calls per kind. Fails the Nth
// call (counting from 1); in crash mode every later call fails too, as if
// the process had died there. A failing WriteFileDurably first writes half
// its bytes, a torn write.
class FaultyFileOps : public FileOps {
 public:
  enum class Mode { kNever, kOnce, kCrash };
  FaultyFileOps() = default;
  FaultyFileOps(int fail_at, Mode mode) : fail_at_(fail_at), mode_(mode) {}

  int calls() const { return calls_; }
  int writes() const { return writes_; }
  int renames() const { return renames_; }
  bool failed() const { return failed_; }

  Result<std::vector<std::uint8_t>> ReadFile(const fs::path& path, std::size_t max) override {
    if (Fault()) return Fail(ErrorCode::kIoError, "injected read fault");
    return RealFileOps().ReadFile(path, max);
  }
  Status WriteFileDurably(const fs::path& path,
                          std::span<const std::uint8_t> bytes) override {
    ++writes_;
    if (Fault()) {
      (void)RealFileOps().WriteFileDurably(path, bytes.first(bytes.size() / 2));
      return Fail(ErrorCode::kIoError, "injected write fault");
    }
    return RealFileOps().WriteFileDurably(path, bytes);
  }
  Status Rename(const fs::path& from, const fs::path& to,
                RenameMode mode) override {
    ++renames_;
    if (Fault()) return Fail(ErrorCode::kIoError, "injected rename fault");
    return RealFileOps().Rename(from, to, mode);
  }
  Status SyncDirectory(const fs::path& dir) override {
    if (Fault()) return Fail(ErrorCode::kIoError, "injected dirsync fault");
    return RealFileOps().SyncDirectory(dir);
  }
  Status Remove(const fs::path& path) override {
    if (Fault()) return Fail(ErrorCode::kIoError, "injected remove fault");
    return RealFileOps().Remove(path);
  }
  Status CreateDirectory(const fs::path& dir) override {
    if (Fault()) return Fail(ErrorCode::kIoError, "injected mkdir fault");
    return RealFileOps().CreateDirectory(dir);
  }
  Result<std::uint64_t> FileSize(const fs::path& path) override {
    if (Fault()) return Fail(ErrorCode::kIoError, "injected stat fault");
    return RealFileOps().FileSize(path);
  }

 private:
  bool Fault() {
    ++calls_;
    if (mode_ == Mode::kNever) return false;
    if (calls_ == fail_at_ || (failed_ && mode_ == Mode::kCrash)) {
      failed_ = true;
      return true;
    }
    return false;
  }

  int fail_at_ = 0;
  Mode mode_ = Mode::kNever;
  int calls_ = 0;
  int writes_ = 0;
  int renames_ = 0;
  bool failed_ = false;
};

}  // namespace pulse::engine::test_support

#endif  // PULSE_TESTS_SUPPORT_FAULTY_FILE_OPS_H_
