#include "pulse/engine/row_clock.h"

#include <algorithm>
#include <string>

namespace pulse::engine {
namespace {

constexpr std::uint8_t kFormat = 1;

void PutVarint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

void PutUuid(std::vector<std::uint8_t>& out, const Uuid& id) {
  out.insert(out.end(), id.bytes().begin(), id.bytes().end());
}

// The sites named by what EncodeRowClock writes of `clock`, ascending and
// unique.
std::vector<Uuid> SitesOf(const RowClock& clock, bool include_dangling) {
  std::vector<Uuid> sites;
  for (const FieldClock& f : clock.fields) {
    if (f.winner) sites.push_back(f.winner->version.site);
    for (const ClockVersion& v : f.leaves) sites.push_back(v.site);
    if (include_dangling) {
      for (const ClockVersion& v : f.dangling) sites.push_back(v.site);
    }
    for (const ClockVersion& v : f.seen_by_tombstone) sites.push_back(v.site);
  }
  std::sort(sites.begin(), sites.end());
  sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
  return sites;
}

std::uint64_t SiteIndex(const std::vector<Uuid>& sites, const Uuid& site) {
  return static_cast<std::uint64_t>(
      std::lower_bound(sites.begin(), sites.end(), site) - sites.begin());
}

void PutVersions(std::vector<std::uint8_t>& out, const std::vector<Uuid>& sites,
                 const std::vector<ClockVersion>& list) {
  PutVarint(out, list.size());
  for (const ClockVersion& v : list) {
    PutVarint(out, v.hlc);
    PutVarint(out, SiteIndex(sites, v.site));
  }
}

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  bool Varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const std::uint8_t b = bytes_[pos_++];
      if (shift == 63 && b > 1) return false;  // beyond 64 bits
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      // Minimal encodings only: one byte string per clock.
      if ((b & 0x80) == 0) return b != 0 || shift == 0;
    }
    return false;
  }
  bool Id(Uuid& id) {
    if (bytes_.size() - pos_ < Uuid::kSize) return false;
    Uuid::Bytes raw;
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_),
                Uuid::kSize, raw.begin());
    pos_ += Uuid::kSize;
    id = Uuid(raw);
    return true;
  }
  bool AtEnd() const { return pos_ == bytes_.size(); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

tl::unexpected<Error> Corrupt(std::string_view what) {
  return Fail(ErrorCode::kCorruption, "field_clock: " + std::string(what));
}

// The site list of an encoding, with which entries a version named.
struct SiteTable {
  std::vector<Uuid> sites;
  std::vector<bool> used;
};

bool ReadVersion(Reader& in, SiteTable& table, ClockVersion& v) {
  std::uint64_t site = 0;
  if (!in.Varint(v.hlc) || !in.Varint(site) || site >= table.sites.size()) {
    return false;
  }
  v.site = table.sites[site];
  table.used[site] = true;
  return true;
}

bool ReadVersions(Reader& in, SiteTable& sites,
                  std::vector<ClockVersion>& list) {
  std::uint64_t n = 0;
  if (!in.Varint(n)) return false;
  list.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    ClockVersion v;
    if (!ReadVersion(in, sites, v)) return false;
    if (!list.empty() && !(list.back() < v)) return false;  // sorted, unique
    list.push_back(v);
  }
  return true;
}

}  // namespace

const FieldClock* RowClock::Find(std::uint32_t column) const {
  auto it = std::lower_bound(
      fields.begin(), fields.end(), column,
      [](const FieldClock& f, std::uint32_t c) { return f.column < c; });
  return it != fields.end() && it->column == column ? &*it : nullptr;
}

FieldClock& RowClock::Get(std::uint32_t column) {
  auto it = std::lower_bound(
      fields.begin(), fields.end(), column,
      [](const FieldClock& f, std::uint32_t c) { return f.column < c; });
  if (it == fields.end() || it->column != column) {
    it = fields.insert(it, FieldClock{});
    it->column = column;
  }
  return *it;
}

bool ContainsVersion(const std::vector<ClockVersion>& set,
                     const ClockVersion& v) {
  return std::binary_search(set.begin(), set.end(), v);
}

bool InsertVersion(std::vector<ClockVersion>& set, const ClockVersion& v) {
  auto it = std::lower_bound(set.begin(), set.end(), v);
  if (it != set.end() && *it == v) return false;
  set.insert(it, v);
  return true;
}

bool EraseVersion(std::vector<ClockVersion>& set, const ClockVersion& v) {
  auto it = std::lower_bound(set.begin(), set.end(), v);
  if (it == set.end() || *it != v) return false;
  set.erase(it);
  return true;
}

void EncodeRowClock(const RowClock& clock, std::vector<std::uint8_t>& out,
                    bool include_dangling) {
  out.clear();
  out.push_back(kFormat);
  const std::vector<Uuid> sites = SitesOf(clock, include_dangling);
  PutVarint(out, sites.size());
  for (const Uuid& site : sites) PutUuid(out, site);
  PutVarint(out, clock.fields.size());
  static const std::vector<ClockVersion> kNone;
  for (const FieldClock& f : clock.fields) {
    PutVarint(out, f.column);
    out.push_back(f.winner ? 1 : 0);
    if (f.winner) {
      PutVarint(out, f.winner->version.hlc);
      PutVarint(out, SiteIndex(sites, f.winner->version.site));
      PutUuid(out, f.winner->change_id);
      PutUuid(out, f.winner->author);
    }
    PutVersions(out, sites, f.leaves);
    PutVersions(out, sites, include_dangling ? f.dangling : kNone);
    PutVersions(out, sites, f.seen_by_tombstone);
  }
}

Result<RowClock> DecodeRowClock(std::span<const std::uint8_t> bytes) {
  Reader in(bytes);
  std::uint64_t format = 0;
  if (!in.Varint(format) || format != kFormat) {
    return Corrupt("unknown format");
  }
  std::uint64_t n_sites = 0;
  if (!in.Varint(n_sites) || n_sites > bytes.size() / Uuid::kSize) {
    return Corrupt("bad site count");
  }
  SiteTable sites;
  sites.sites.resize(static_cast<std::size_t>(n_sites));
  sites.used.assign(sites.sites.size(), false);
  for (Uuid& site : sites.sites) {
    if (!in.Id(site)) return Corrupt("truncated");
  }
  if (!std::is_sorted(sites.sites.begin(), sites.sites.end()) ||
      std::adjacent_find(sites.sites.begin(), sites.sites.end()) !=
          sites.sites.end()) {
    return Corrupt("sites out of order");
  }
  std::uint64_t n_fields = 0;
  if (!in.Varint(n_fields) || n_fields > bytes.size()) {
    return Corrupt("bad field count");
  }
  RowClock clock;
  clock.fields.resize(static_cast<std::size_t>(n_fields));
  for (std::size_t i = 0; i < clock.fields.size(); ++i) {
    FieldClock& f = clock.fields[i];
    std::uint64_t column = 0, has_winner = 0;
    if (!in.Varint(column) || column > UINT32_MAX || !in.Varint(has_winner) ||
        has_winner > 1) {
      return Corrupt("bad field");
    }
    f.column = static_cast<std::uint32_t>(column);
    if (i > 0 && clock.fields[i - 1].column >= f.column) {
      return Corrupt("fields out of order");
    }
    if (has_winner == 1) {
      ClockWriter w;
      if (!ReadVersion(in, sites, w.version) || !in.Id(w.change_id) ||
          !in.Id(w.author)) {
        return Corrupt("bad winner");
      }
      f.winner = w;
    }
    if (!ReadVersions(in, sites, f.leaves) ||
        !ReadVersions(in, sites, f.dangling) ||
        !ReadVersions(in, sites, f.seen_by_tombstone)) {
      return Corrupt("bad version list");
    }
  }
  if (!in.AtEnd()) return Corrupt("trailing bytes");
  if (std::find(sites.used.begin(), sites.used.end(), false) !=
      sites.used.end()) {
    return Corrupt("unused site");
  }
  return clock;
}

}  // namespace pulse::engine
