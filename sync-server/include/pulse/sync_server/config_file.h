// The server's config file: plain `key = value` lines, '#' comments and
// blank lines ignored, keys being the long option names without "--"
// ("listen = 127.0.0.1:8443"). Command-line flags override the file.
//
// Secrets never live here: a key named like one (passphrase, password,
// token, secret) is refused — they come from the environment or from a
// file named by a *-file option.
//
// Thread-safety: pure functions.
#ifndef PULSE_SYNC_SERVER_CONFIG_FILE_H_
#define PULSE_SYNC_SERVER_CONFIG_FILE_H_

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::sync_server {

using ConfigMap = std::map<std::string, std::string, std::less<>>;

// Parses config text. kInvalidArgument naming `source` and the line for a
// line without '=', an empty or malformed key ([a-z0-9-]+), a repeated key
// or a secret-looking key.
Result<ConfigMap> ParseConfigText(std::string_view text,
                                  std::string_view source);

// Reads and parses a file: kNotFound / kIoError naming it, else as above.
Result<ConfigMap> ReadConfigFile(const std::filesystem::path& path);

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_CONFIG_FILE_H_
