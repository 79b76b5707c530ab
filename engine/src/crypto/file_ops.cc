#include "pulse/engine/file_ops.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

Error ErrnoError(const std::string& what, const fs::path& path, int err) {
  const ErrorCode code =
      err == ENOENT
          ? ErrorCode::kNotFound
          : (err == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIoError);
  return Error(code, path.string() + ": " + what + ": " + std::strerror(err));
}

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the outcome: close() can report a deferred
  // write error (e.g. on NFS).
  int Close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

class PosixFileOps final : public FileOps {
 public:
  Result<std::vector<std::uint8_t>> ReadFile(const fs::path& path,
                                             std::size_t max_bytes) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Fail(ErrnoError("cannot open", path, errno));
    std::vector<std::uint8_t> bytes;
    std::uint8_t buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(ErrnoError("cannot read", path, errno));
      }
      if (n == 0) break;
      bytes.insert(bytes.end(), buffer, buffer + n);
      if (bytes.size() > max_bytes) {
        return Fail(ErrorCode::kCorruption,
                    path.string() + ": larger than the " +
                        std::to_string(max_bytes) + " bytes expected");
      }
    }
    return bytes;
  }

  Status WriteFileDurably(const fs::path& path,
                          std::span<const std::uint8_t> bytes) override {
    // 0600: the file holds (sealed) key material; nobody else needs it.
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 S_IRUSR | S_IWUSR));
    if (fd.get() < 0) return Fail(ErrnoError("cannot create", path, errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(ErrnoError("cannot write", path, errno));
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      return Fail(ErrnoError("cannot fsync", path, errno));
    }
    if (fd.Close() != 0) return Fail(ErrnoError("cannot close", path, errno));
    return OkStatus();
  }

  Status Rename(const fs::path& from, const fs::path& to,
                RenameMode mode) override {
    if (mode == RenameMode::kReplace) {
      if (::rename(from.c_str(), to.c_str()) != 0) {
        return Fail(
            ErrnoError("cannot rename " + from.string() + " to it", to, errno));
      }
      return OkStatus();
    }
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                    RENAME_NOREPLACE) == 0) {
      return OkStatus();
    }
    if (errno != EINVAL && errno != ENOSYS) {
      return Fail(
          ErrnoError("cannot rename " + from.string() + " to it", to, errno));
    }
    // A filesystem without RENAME_NOREPLACE: link() also refuses to replace
    // and is just as atomic; then drop the temp name.
    if (::link(from.c_str(), to.c_str()) != 0) {
      return Fail(
          ErrnoError("cannot link " + from.string() + " to it", to, errno));
    }
    ::unlink(from.c_str());
    return OkStatus();
  }

  Status SyncDirectory(const fs::path& dir) override {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return Fail(ErrnoError("cannot open", dir, errno));
    if (::fsync(fd.get()) != 0) {
      return Fail(ErrnoError("cannot fsync", dir, errno));
    }
    return OkStatus();
  }

  Status Remove(const fs::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Fail(ErrnoError("cannot remove", path, errno));
    }
    return OkStatus();
  }
};

}  // namespace

Status FileOps::CreateDirectory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), S_IRWXU) == 0) return OkStatus();
  const int err = errno;
  struct stat st;
  if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return OkStatus();
  }
  return Fail(ErrnoError("cannot create directory", dir, err));
}

Result<std::uint64_t> FileOps::FileSize(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(ErrnoError("cannot stat", path, errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kIoError, path.string() + ": not a regular file");
  }
  return static_cast<std::uint64_t>(st.st_size);
}

FileOps& RealFileOps() {
  static PosixFileOps ops;
  return ops;
}

Status ReplaceFileAtomically(FileOps& ops, const fs::path& path,
                             std::span<const std::uint8_t> bytes,
                             FileOps::RenameMode mode) {
  fs::path temp = path;
  temp += ".tmp";
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";

  const auto abandon = [&](const Error& error) {
    (void)ops.Remove(temp);  // best effort; a stale temp is harmless
    return Fail(error);
  };

  if (auto s = ops.WriteFileDurably(temp, bytes); !s) return abandon(s.error());
  auto back = ops.ReadFile(temp, bytes.size());
  if (!back) return abandon(back.error());
  if (!std::equal(back->begin(), back->end(), bytes.begin(), bytes.end())) {
    return abandon(Error(ErrorCode::kIoError,
                         temp.string() + ": read back differs from what "
                                         "was written"));
  }
  if (auto s = ops.Rename(temp, path, mode); !s) return abandon(s.error());
  if (auto s = ops.SyncDirectory(dir); !s) {
    return Fail(
        s.error().WithContext(path.string() +
                              ": written, but not yet durable (directory sync "
                              "failed)"));
  }
  return OkStatus();
}

}  // namespace pulse::engine
