// /api/v1/blobs/{sha256}: content-addressed blob upload and download
// (DESIGN.md §3, §5; docs/sync_protocol.md "Blobs").
//
//   PUT  upload: the whole blob in one body, or a chunk of it with
//        "Content-Range: bytes <first>-<last>/<total>" (at most
//        kMaxBlobChunkBytes). Content-Type application/octet-stream.
//        204 chunk appended, 201 upload completed and verified, 200 the
//        caller's site already owns the blob (nothing read); every answer
//        carries "Upload-Offset: <bytes held>". 409 when the chunk does not
//        start at the held offset (resume from Upload-Offset), 422 when the
//        completed content does not hash to the id (the upload is
//        discarded), 413 over the size limits.
//   HEAD upload status / size: 200 with Upload-Offset = Upload-Length = the
//        blob's size when the caller's site owns it (admin: when it is
//        stored at all); otherwise 404 with Upload-Offset = bytes of the
//        caller's site's upload held (0 if none) and Upload-Length when an
//        upload exists.
//   GET  the bytes (application/octet-stream), verified against the id on
//        the way out: staff of an owning site, and admins.
//
// Who: PUT needs the permission matrix's "create recordings" at the
// caller's own site (clinic staff); GET/HEAD "read recordings" at an owning
// site (staff of that site; admin, whose grant is any site). Auditors get
// 403. Every GET and PUT, and every denial, goes through Audit() (fail
// closed). The hash in the path never reaches logs: the route is logged as
// the template.
#include "service_internal.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/central_blob_store.h"
#include "pulse/sync_server/query_params.h"

namespace pulse::sync_server {
namespace {

constexpr std::string_view kBlobPrefix = "/api/v1/blobs/";
constexpr std::string_view kBlobRoute = "/api/v1/blobs/{sha256}";
constexpr std::string_view kOctetStream = "application/octet-stream";

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsOctetStream(std::optional<std::string_view> value) {
  if (!value) return false;
  std::string v(TrimSpaces(value->substr(0, value->find(';'))));
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return v == kOctetStream;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// A decimal without sign, spaces or leading '+'; nullopt otherwise.
std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::uint64_t total = 0;
};

// "bytes <first>-<last>/<total>" (RFC 9110 §14.4), complete length known.
// The error is the problem to answer: 400 for a malformed value, 416 for
// a range that does not fit its total.
Result<ContentRange> ParseContentRange(std::string_view value,
                                       Response* problem) {
  value = TrimSpaces(value);
  auto malformed = [&]() -> Result<ContentRange> {
    *problem = ProblemResponse(
        400, "bad-request",
        "Content-Range must be 'bytes <first>-<last>/<total>'");
    return Fail(ErrorCode::kInvalidArgument, "Content-Range");
  };
  constexpr std::string_view kUnit = "bytes ";
  if (!value.starts_with(kUnit)) return malformed();
  value.remove_prefix(kUnit.size());
  const std::size_t dash = value.find('-');
  const std::size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos ||
      slash < dash) {
    return malformed();
  }
  auto first = ParseDecimal(value.substr(0, dash));
  auto last = ParseDecimal(value.substr(dash + 1, slash - dash - 1));
  auto total = ParseDecimal(value.substr(slash + 1));
  if (!first || !last || !total) return malformed();
  if (*last < *first || *last >= *total) {
    *problem = ProblemResponse(
        416, "range-not-satisfiable",
        "Content-Range: need first <= last < total");
    return Fail(ErrorCode::kOutOfRange, "Content-Range");
  }
  return ContentRange{*first, *last, *total};
}

void SetOffset(Response& r, std::uint64_t offset) {
  r.headers.emplace_back("Upload-Offset", std::to_string(offset));
}

engine::Principal PrincipalOf(const StoredUser& user) {
  engine::Principal who;
  if (auto id = engine::Uuid::Parse(user.id)) who.user_id = *id;
  who.role = user.role;
  if (user.site) {
    if (auto site = engine::Uuid::Parse(*user.site)) who.site = *site;
  }
  return who;
}

std::optional<engine::SiteId> SiteOf(std::string_view site) {
  auto parsed = engine::Uuid::Parse(site);
  if (!parsed) return std::nullopt;
  return *parsed;
}

// May `who` read a blob owned by `owners` (any one owner suffices)?
engine::Decision MayRead(const engine::Principal& who,
                         const std::vector<std::string>& owners) {
  engine::Decision last = engine::Authorize(
      who, engine::Action::kRead, engine::Resource::kRecordings,
      std::nullopt);
  if (last) return last;  // any-site grant (admin)
  for (const std::string& owner : owners) {
    last = engine::Authorize(who, engine::Action::kRead,
                             engine::Resource::kRecordings, SiteOf(owner));
    if (last) return last;
  }
  return last;
}

}  // namespace

Response SyncService::HandleBlobs(const Request& request, Context& ctx) {
  ctx.route = std::string(kBlobRoute);
  const std::string_view id =
      std::string_view(request.path).substr(kBlobPrefix.size());
  if (!engine::IsValidBlobId(id)) {
    // Never a file name: only 64 lower-case hex digits go any further.
    if (id.size() == 64 && IsHex(id)) {
      return ProblemResponse(400, "bad-request",
                             "a blob id is 64 lower-case hex digits");
    }
    ctx.route = std::string(kUnmatchedRoute);
    return ProblemResponse(404, "not-found",
                           "no such endpoint; blobs are /api/v1/blobs/"
                           "<sha256 as 64 lower-case hex digits>");
  }
  const std::string sha256(id);
  if (request.method != "GET" && request.method != "HEAD" &&
      request.method != "PUT") {
    Response r = ProblemResponse(405, "method-not-allowed",
                                 "/api/v1/blobs/{sha256} allows GET, HEAD, "
                                 "PUT");
    r.headers.emplace_back("Allow", "GET, HEAD, PUT");
    return r;
  }
  if (auto params = ParseQueryParams(request.query, {}); !params) {
    return ProblemResponse(400, "bad-request", params.error().message());
  }
  const bool put = request.method == "PUT";
  if (put && !IsOctetStream(request.Header("content-type"))) {
    return ProblemResponse(415, "unsupported-media-type",
                           "Content-Type must be application/octet-stream");
  }
  if (options_.blobs == nullptr) {
    return ProblemResponse(503, "unavailable",
                           "blob storage is not configured on this server");
  }
  CentralBlobStore& blobs = *options_.blobs;
  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  const StoredUser& user = auth->user;
  const engine::Principal who = PrincipalOf(user);

  AuditNote note;
  note.object_type = "blobs";
  note.object_id = sha256;
  auto deny = [&](std::string detail) {
    AuditNote denied = note;
    denied.action = engine::AuditAction::kPermissionDenied;
    denied.outcome = engine::AuditOutcome::kDenied;
    if (Status s = Audit(request, ctx, denied); !s) {
      return StoreError(s.error(), "Audit", ctx);
    }
    return ProblemResponse(403, "forbidden", std::move(detail));
  };

  if (put) {
    const engine::Decision may = engine::Authorize(
        who, engine::Action::kCreate, engine::Resource::kRecordings, who.site);
    if (!may || !user.site) {
      return deny("only clinic staff upload blobs, for their own site");
    }
    BlobChunk chunk;
    chunk.sha256 = sha256;
    chunk.site = *user.site;
    chunk.user_id = user.id;
    chunk.now_ms = NowMs();
    chunk.bytes = std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(request.body.data()),
        request.body.size());
    if (auto range = request.Header("content-range")) {
      Response problem;
      auto parsed = ParseContentRange(*range, &problem);
      if (!parsed) return problem;
      if (parsed->total > kMaxBlobBytes) {
        return ProblemResponse(413, "payload-too-large",
                               "blobs are limited to " +
                                   std::to_string(kMaxBlobBytes) + " bytes");
      }
      if (parsed->last - parsed->first + 1 != request.body.size()) {
        return ProblemResponse(400, "bad-request",
                               "Content-Range covers " +
                                   std::to_string(parsed->last -
                                                  parsed->first + 1) +
                                   " bytes but the body has " +
                                   std::to_string(request.body.size()));
      }
      chunk.start = parsed->first;
      chunk.total = parsed->total;
      const bool whole = chunk.start == 0 && chunk.total == chunk.bytes.size();
      if (!whole && chunk.bytes.size() > kMaxBlobChunkBytes) {
        return ProblemResponse(413, "payload-too-large",
                               "a chunk is limited to " +
                                   std::to_string(kMaxBlobChunkBytes) +
                                   " bytes");
      }
    } else {
      chunk.start = 0;
      chunk.total = request.body.size();
      if (chunk.total > kMaxBlobBytes) {
        return ProblemResponse(413, "payload-too-large",
                               "blobs are limited to " +
                                   std::to_string(kMaxBlobBytes) + " bytes");
      }
    }
    auto result = blobs.PutChunk(chunk);
    if (!result) {
      switch (result.error().code()) {
        case ErrorCode::kOutOfRange:
          return ProblemResponse(413, "payload-too-large",
                                 result.error().message());
        case ErrorCode::kInvalidArgument:
          return ProblemResponse(400, "bad-request", result.error().message());
        default:
          return StoreError(result.error(), "PutChunk", ctx);
      }
    }
    note.action = engine::AuditAction::kCreate;
    const bool refused = result->outcome == ChunkOutcome::kOffsetMismatch ||
                         result->outcome == ChunkOutcome::kTotalMismatch ||
                         result->outcome == ChunkOutcome::kHashMismatch;
    note.outcome = refused ? engine::AuditOutcome::kError
                           : engine::AuditOutcome::kOk;
    if (Status s = Audit(request, ctx, note); !s) {
      return StoreError(s.error(), "Audit", ctx);
    }
    Response r;
    switch (result->outcome) {
      case ChunkOutcome::kAppended:
        r.status = 204;
        break;
      case ChunkOutcome::kCompleted:
        r.status = 201;
        r.headers.emplace_back("Location", request.path);
        break;
      case ChunkOutcome::kAlreadyOwned:
        r.status = 200;
        break;
      case ChunkOutcome::kOffsetMismatch:
        r = ProblemResponse(409, "offset-mismatch",
                            "the chunk starts at " +
                                std::to_string(chunk.start) +
                                " but the server holds " +
                                std::to_string(result->received) +
                                " bytes; resume from Upload-Offset");
        break;
      case ChunkOutcome::kTotalMismatch:
        r = ProblemResponse(409, "length-mismatch",
                            "the upload in progress announced another total "
                            "length; restart it from offset 0");
        break;
      case ChunkOutcome::kHashMismatch:
        r = ProblemResponse(422, "hash-mismatch",
                            "the uploaded content does not hash to the blob "
                            "id; the upload was discarded");
        break;
    }
    SetOffset(r, result->received);
    return r;
  }

  // GET and HEAD.
  auto found = blobs.Find(sha256);
  if (!found) return StoreError(found.error(), "Find", ctx);
  if (request.method == "HEAD") {
    const bool any_site =
        engine::Authorize(who, engine::Action::kRead,
                          engine::Resource::kRecordings, std::nullopt)
            .allowed();
    if (!any_site && !(IsClinicStaff(user.role) && user.site)) {
      return deny("only clinic staff and admins read blobs");
    }
    if (*found && (any_site || MayRead(who, (*found)->owners))) {
      Response r;
      SetOffset(r, (*found)->size);
      r.headers.emplace_back("Upload-Length", std::to_string((*found)->size));
      r.content_type = "application/octet-stream";
      r.head_content_length = (*found)->size;
      return r;
    }
    Response r = ProblemResponse(404, "not-found",
                                 "the blob is not stored for this site");
    if (!any_site) {
      auto progress = blobs.Progress(sha256, *user.site);
      if (!progress) return StoreError(progress.error(), "Progress", ctx);
      SetOffset(r, progress->received);
      if (progress->total) {
        r.headers.emplace_back("Upload-Length",
                               std::to_string(*progress->total));
      }
    } else {
      SetOffset(r, 0);
    }
    return r;
  }

  if (!*found) {
    return ProblemResponse(404, "not-found", "no such blob");
  }
  const engine::Decision may = MayRead(who, (*found)->owners);
  if (!may) return deny(may.reason);
  auto bytes = blobs.Read(sha256);
  if (!bytes) return StoreError(bytes.error(), "Read", ctx);
  note.action = engine::AuditAction::kView;
  if (Status s = Audit(request, ctx, note); !s) {
    return StoreError(s.error(), "Audit", ctx);
  }
  Response r;
  r.content_type = std::string(kOctetStream);
  r.body.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  r.headers.emplace_back("ETag", "\"" + sha256 + "\"");
  return r;
}

}  // namespace pulse::sync_server
