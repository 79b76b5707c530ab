# pulse_embed_migrations(<target> NAME <ident> DIR <folder> [UPGRADES <N>...])
#
# Compiles the migration scripts <folder>/NNNN_description.sql into
# <target> as a function
#     std::span<const pulse::engine::Migration> <ident>Migrations();
# declared by the caller (see engine/include/pulse/engine/migrations.h).
# For each version N listed in UPGRADES, the migration also runs the C++
# step `Status <ident>UpgradeNNNN(Database&)` (namespace
# pulse::engine::schema, defined by the caller) after its SQL, in the same
# transaction: for data conversions SQL cannot express.
# The generated source is rebuilt whenever a script changes; adding a script
# re-runs the configure step (CONFIGURE_DEPENDS). The generator
# (GenerateMigrations.cmake) checks that numbers run 1, 2, 3, ... and that
# names are [a-z0-9_].
set(PULSE_EMBED_SQL_GENERATOR "${CMAKE_CURRENT_LIST_DIR}/GenerateMigrations.cmake")

function(pulse_embed_migrations target)
  cmake_parse_arguments(ARG "" "NAME;DIR" "UPGRADES" ${ARGN})
  file(GLOB scripts CONFIGURE_DEPENDS "${ARG_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
  list(SORT scripts)
  set(output "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_migrations.cc")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND "${CMAKE_COMMAND}" "-DNAME=${ARG_NAME}" "-DOUTPUT=${output}"
            "-DSCRIPTS=${scripts}" "-DUPGRADES=${ARG_UPGRADES}" -P "${PULSE_EMBED_SQL_GENERATOR}"
    DEPENDS ${scripts} "${PULSE_EMBED_SQL_GENERATOR}"
    COMMENT "Embedding ${ARG_NAME} migrations"
    VERBATIM)
  target_sources(${target} PRIVATE "${output}")
endfunction()
