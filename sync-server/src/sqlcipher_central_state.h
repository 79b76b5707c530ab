// Internal to pulse_central_store: the state SqlcipherCentralStore shares
// with the other SQLCipher-backed stores built on the same database (blob,
// admin and audit stores, each in its own file), so that they all write
// through the one writer connection and read from the one reader pool.
// Not part of the library's contract.
#ifndef PULSE_SYNC_SERVER_SRC_SQLCIPHER_CENTRAL_STATE_H_
#define PULSE_SYNC_SERVER_SRC_SQLCIPHER_CENTRAL_STATE_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/engine/database.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/replica.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace pulse::sync_server {

struct SqlcipherCentralStore::State {
  CentralStoreOptions options;
  std::unique_ptr<engine::ClinicReplica> replica;
  std::string central_site;
  std::mutex writer_mutex;  // guards replica (the writer connection)

  std::mutex readers_mutex;
  std::condition_variable reader_free;
  std::vector<engine::ReplicaReader> readers;  // idle ones

  // A reader for the duration of one call, returned to the pool after.
  class ReaderLease {
   public:
    explicit ReaderLease(State& s) : s_(s) {
      std::unique_lock lock(s_.readers_mutex);
      s_.reader_free.wait(lock, [&] { return !s_.readers.empty(); });
      reader_.emplace(std::move(s_.readers.back()));
      s_.readers.pop_back();
    }
    ~ReaderLease() {
      {
        std::lock_guard lock(s_.readers_mutex);
        s_.readers.push_back(std::move(*reader_));
      }
      s_.reader_free.notify_one();
    }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    engine::Database& db() { return reader_->db(); }

   private:
    State& s_;
    std::optional<engine::ReplicaReader> reader_;
  };

  // Moves the central replica's own outbox (central writes made through
  // replica->writer()) into global_log, so clinics pull them.
  // REQUIRES: writer_mutex held.
  Status DrainOutbox();

  // The principal of an admin write by user `author` (a UUID; the central
  // device id when it is not one, as for the bootstrap CLI).
  engine::Principal SystemAdmin(std::string_view author) const;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SRC_SQLCIPHER_CENTRAL_STATE_H_
