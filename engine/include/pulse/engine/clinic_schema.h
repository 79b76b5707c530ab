// The clinic replica's schema: the scripts of schema/clinic/, compiled in
// (cmake/PulseEmbedSql.cmake). Apply with Migrate() (migrations.h).
#ifndef PULSE_ENGINE_CLINIC_SCHEMA_H_
#define PULSE_ENGINE_CLINIC_SCHEMA_H_

#include <span>

#include "pulse/engine/migrations.h"

namespace pulse::engine::schema {

std::span<const Migration> ClinicMigrations();

}  // namespace pulse::engine::schema

#endif  // PULSE_ENGINE_CLINIC_SCHEMA_H_
