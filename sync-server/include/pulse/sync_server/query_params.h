// Query strings of GET endpoints: "cursor=10&q=van%20der" into decoded
// name -> value pairs, refusing what a handler did not ask for, so a typo
// in a parameter name is a 400 rather than a silently ignored filter.
//
// Thread-safety: pure functions.
#ifndef PULSE_SYNC_SERVER_QUERY_PARAMS_H_
#define PULSE_SYNC_SERVER_QUERY_PARAMS_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::sync_server {

using QueryParams = std::map<std::string, std::string, std::less<>>;

// Splits `query` (the target after '?', undecoded) on '&', each pair on the
// first '='; percent-decodes names and values ('+' is a space). Empty pairs
// are skipped. kInvalidArgument naming the parameter for a name not in
// `allowed`, a name given twice, or a bad %-escape. A name is echoed in the
// message only when it is short and plain (it is client input).
Result<QueryParams> ParseQueryParams(
    std::string_view query, std::initializer_list<std::string_view> allowed);

// The parameter as an integer in [min, max], nullopt when absent.
// kInvalidArgument naming it when present but not such an integer.
Result<std::optional<std::int64_t>> IntParam(const QueryParams& params,
                                             std::string_view name,
                                             std::int64_t min,
                                             std::int64_t max);

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_QUERY_PARAMS_H_
