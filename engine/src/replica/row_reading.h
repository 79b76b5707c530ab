// Column reads shared by the pulse_replica repositories. Private.
//
// Rows reach a replica through sync as well as from this build, so the
// repositories that read text columns leniently (a NULL or damaged value
// must not make the whole row unreadable) all read them the same way.
// Repositories that report a damaged column as kCorruption instead (users,
// analyses, recordings) keep their own readers.
#ifndef PULSE_ENGINE_SRC_REPLICA_ROW_READING_H_
#define PULSE_ENGINE_SRC_REPLICA_ROW_READING_H_

#include <optional>
#include <string>

#include "pulse/engine/database.h"

namespace pulse::engine::internal {

// The text in `column` of the current row; nullopt for NULL or for a value
// of another storage class. REQUIRES: as Statement::ColumnText.
inline std::optional<std::string> TextOrNone(const Statement& stmt,
                                             int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  auto text = stmt.ColumnText(column);
  if (!text) return std::nullopt;
  return std::string(*text);
}

}  // namespace pulse::engine::internal

#endif  // PULSE_ENGINE_SRC_REPLICA_ROW_READING_H_
