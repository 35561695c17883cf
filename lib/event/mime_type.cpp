// Tells a MIME type from bytes as Beats' detect_mime_type does (see mime_type.hpp):
// the signature table (in the order of its kinds: image, video, audio, font, document,
// application, archive; within a kind the more specific first), then the WHATWG
// sniffing algorithm, then JSON and XML among plain text.
#include "event/mime_type.hpp"

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace tapbeat {

namespace {

using Bytes = std::string_view;

uint8_t at(Bytes b, std::size_t i) { return static_cast<uint8_t>(b[i]); }

// b's n bytes from off, fewer at its end, none past it.
Bytes part(Bytes b, std::size_t off, std::size_t n) { return off < b.size() ? b.substr(off, n) : Bytes{}; }

// b holds `sig` at `off` (sig as a string literal: its bytes, NULs included).
template <std::size_t N>
bool has(Bytes b, std::size_t off, const char (&sig)[N]) {
  return b.size() >= off + N - 1 && std::memcmp(b.data() + off, sig, N - 1) == 0;
}

uint32_t be32(Bytes b, std::size_t i) {
  return uint32_t{at(b, i)} << 24 | uint32_t{at(b, i + 1)} << 16 | uint32_t{at(b, i + 2)} << 8 | at(b, i + 3);
}
uint32_t le32(Bytes b, std::size_t i) {
  return uint32_t{at(b, i + 3)} << 24 | uint32_t{at(b, i + 2)} << 16 | uint32_t{at(b, i + 1)} << 8 | at(b, i);
}

// An ISO base media file (ftyp box) whose major brand is one of `brands`.
bool ftyp(Bytes b, std::initializer_list<std::string_view> brands) {
  if (b.size() < 12 || !has(b, 4, "ftyp")) return false;
  for (std::string_view br : brands)
    if (b.substr(8, br.size()) == br) return true;
  return false;
}

// Matroska's EBML header with the DocType `type` (its 0x4282 element) in the first 4 KiB.
bool matroska(Bytes b, std::string_view type) {
  if (b.size() < 4 || !has(b, 0, "\x1A\x45\xDF\xA3")) return false;
  const Bytes head = b.substr(0, 4096);
  const std::size_t i = head.find(type);
  return i != Bytes::npos && i >= 3 && at(head, i - 3) == 0x42 && at(head, i - 2) == 0x82;
}

bool tiff_head(Bytes b) { return has(b, 0, "II*\x00") || has(b, 0, "MM\x00*"); }

// An OLE2 compound file (the older Office formats): the first sector's bytes name
// which, where the buffer reaches them; a short one is taken as the first asked.
bool ole(Bytes b, uint8_t b512, uint8_t b513) {
  if (b.size() < 4 || !has(b, 0, "\xD0\xCF\x11\xE0")) return false;
  return b.size() <= 513 || (at(b, 512) == b512 && at(b, 513) == b513);
}

// Office Open XML: a zip whose entries name the part ("word/", "xl/", "ppt/"), read
// from the first local file header and those after it.
enum class Ooxml { kNone, kOther, kDocx, kXlsx, kPptx };
Ooxml ooxml_part(Bytes b, std::size_t off) {
  if (part(b, off, 5) == "word/") return Ooxml::kDocx;
  if (part(b, off, 4) == "ppt/") return Ooxml::kPptx;
  if (part(b, off, 3) == "xl/") return Ooxml::kXlsx;
  return Ooxml::kNone;
}
long next_zip_header(Bytes b, std::size_t start) {
  const std::size_t i = part(b, start, 6000).find("PK\x03\x04", 0, 4);
  return i == Bytes::npos ? -1 : static_cast<long>(i);
}
Ooxml ooxml(Bytes b) {
  if (b.size() < 30 || !has(b, 0, "PK\x03\x04")) return Ooxml::kNone;
  if (Ooxml t = ooxml_part(b, 0x1E); t != Ooxml::kNone) return t;
  const Bytes name = b.substr(0x1E);
  if (name.rfind("[Content_Types].xml", 0) != 0 && name.rfind("_rels", 0) != 0 &&
      name.rfind("docProps", 0) != 0)
    return Ooxml::kNone;
  // The second header, then the third (an entry may carry a 520-byte extra field).
  std::size_t start = le32(b, 18) + std::size_t{49};
  long i = next_zip_header(b, start);
  if (i < 0) return Ooxml::kNone;
  start += static_cast<std::size_t>(i) + 4 + 26;
  i = next_zip_header(b, start);
  if (i < 0) return Ooxml::kNone;
  start += static_cast<std::size_t>(i) + 4 + 26;
  if (Ooxml t = ooxml_part(b, start); t != Ooxml::kNone) return t;
  // LibreOffice orders the entries otherwise: the fourth.
  start += 26;
  i = next_zip_header(b, start);
  if (i < 0) return Ooxml::kOther;
  start += static_cast<std::size_t>(i) + 4 + 26;
  const Ooxml t = ooxml_part(b, start);
  return t != Ooxml::kNone ? t : Ooxml::kOther;
}

// OpenDocument: a zip whose first entry is "mimetype", stored, holding `type`.
bool odf(Bytes b, std::string_view type) {
  if (38 + type.size() >= b.size() || !has(b, 0, "PK\x03\x04")) return false;
  if (at(b, 8) || at(b, 9) || at(b, 26) != 8 || at(b, 27) || at(b, 28) || at(b, 29)) return false;
  if (le32(b, 18) != type.size() || le32(b, 22) != type.size()) return false;
  return b.substr(30, 8) == "mimetype" && b.substr(38, type.size()) == type;
}

bool mp4_brand(Bytes b) {
  return ftyp(b, {"avc1", "dash", "iso2", "iso3", "iso4", "iso5", "iso6", "isom", "mmp4", "mp41",
                  "mp42", "mp4v", "mp71", "MSNV", "NDAS", "NDSC", "NSDC", "NDSH", "NDSM", "NDSP",
                  "NDSS", "NDXC", "NDXH", "NDXM", "NDXP", "NDXS", "F4V ", "F4P "});
}

// The signature table: the first that holds names the type.
std::string_view signature_type(Bytes b) {
  const std::size_t n = b.size();
  // Images.
  if (n > 2 && has(b, 0, "\xFF\xD8\xFF")) return "image/jpeg";
  if (has(b, 0, "\x00\x00\x00\x0CjP  \r\n\x87\n")) return "image/jp2";
  if (n > 3 && has(b, 0, "\x89PNG")) return "image/png";
  if (n > 2 && has(b, 0, "GIF")) return "image/gif";
  if (n > 11 && has(b, 8, "WEBP")) return "image/webp";
  if (n > 9 && tiff_head(b) && has(b, 8, "CR")) return "image/x-canon-cr2";
  if (n > 3 && tiff_head(b)) return "image/tiff";
  if (n > 1 && has(b, 0, "BM")) return "image/bmp";
  if (n > 2 && has(b, 0, "II\xBC")) return "image/vnd.ms-photo";
  if (n > 3 && has(b, 0, "8BPS")) return "image/vnd.adobe.photoshop";
  if (n > 3 && has(b, 0, "\x00\x00\x01\x00")) return "image/x-icon";
  if (ftyp(b, {"heic", "heix", "hevc", "hevx", "mif1", "msf1"})) return "image/heif";
  if (ftyp(b, {"avif", "avis"})) return "image/avif";
  if (n > 3 && has(b, 0, "v/1\x01")) return "image/x-exr";
  // Video.
  if (n > 10 && has(b, 4, "ftypM4V")) return "video/x-m4v";
  if (n > 10 && has(b, 4, "ftyp3gp")) return "video/3gpp";
  if (mp4_brand(b)) return "video/mp4";
  if (matroska(b, "matroska")) return "video/x-matroska";
  if (matroska(b, "webm")) return "video/webm";
  if (n > 15 &&
      ((has(b, 0, "\x00\x00\x00") && (at(b, 3) == 0x14 || at(b, 3) == 0x20) && has(b, 4, "ftypqt")) ||
       has(b, 4, "moov") || has(b, 4, "mdat") || has(b, 12, "mdat")))
    return "video/quicktime";
  if (n > 10 && has(b, 0, "RIFF") && has(b, 8, "AVI")) return "video/x-msvideo";
  if (n > 9 && has(b, 0, "\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9")) return "video/x-ms-wmv";
  if (n > 3 && has(b, 0, "\x00\x00\x01") && at(b, 3) >= 0xB0 && at(b, 3) <= 0xBF) return "video/mpeg";
  if (n > 3 && has(b, 0, "FLV\x01")) return "video/x-flv";
  if (n > 13 && has(b, 0, "\x06\x0E\x2B\x34\x02\x05\x01\x01\x0D\x01\x02\x01\x01\x02"))
    return "application/mxf";
  // Audio.
  if (n > 3 && has(b, 0, "MThd")) return "audio/midi";
  if (n > 2 && (has(b, 0, "ID3") || (at(b, 0) == 0xFF && (at(b, 1) == 0xFA || at(b, 1) == 0xFB))))
    return "audio/mpeg";
  if (n > 10 && (has(b, 4, "ftypM4A") || has(b, 0, "M4A "))) return "audio/m4a";
  if (n > 3 && has(b, 0, "OggS")) return "audio/ogg";
  if (n > 3 && has(b, 0, "fLaC")) return "audio/x-flac";
  if (n > 11 && has(b, 0, "RIFF") && has(b, 8, "WAVE")) return "audio/x-wav";
  if (n > 11 && has(b, 0, "#!AMR\n")) return "audio/amr";
  if (n > 1 && at(b, 0) == 0xFF && (at(b, 1) == 0xF1 || at(b, 1) == 0xF9)) return "audio/aac";
  if (n > 11 && has(b, 0, "FORM") && has(b, 8, "AIFF")) return "audio/x-aiff";
  // Fonts.
  if (n > 7 && (has(b, 0, "wOFF\x00\x01\x00\x00") || has(b, 0, "wOF2\x00\x01\x00\x00")))
    return "application/font-woff";
  if (n > 4 && (has(b, 0, "\x00\x01\x00\x00\x00") || has(b, 0, "OTTO\x00"))) return "application/font-sfnt";
  // Documents.
  if (ole(b, 0xEC, 0xA5)) return "application/msword";
  if (ole(b, 0x09, 0x08)) return "application/vnd.ms-excel";
  if (ole(b, 0xA0, 0x46)) return "application/vnd.ms-powerpoint";
  switch (ooxml(b)) {
    case Ooxml::kDocx:
      return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    case Ooxml::kXlsx:
      return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    case Ooxml::kPptx:
      return "application/vnd.openxmlformats-officedocument.presentationml.presentation";
    default:
      break;
  }
  for (std::string_view t :
       {"application/vnd.oasis.opendocument.presentation", "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.text"})
    if (odf(b, t)) return t;
  // Applications.
  if (n > 7 && has(b, 0, "\x00\x61\x73\x6D\x01\x00\x00\x00")) return "application/wasm";
  if (n > 7 && has(b, 0, "dex\n") && at(b, 7) == 0) return "application/vnd.android.dex";
  // Archives and executables.
  if (n > 57 && has(b, 0, "PK\x03\x04") && has(b, 30, "mimetypeapplication/epub+zip"))
    return "application/epub+zip";
  if (n > 3 && has(b, 0, "PK") && (at(b, 2) == 3 || at(b, 2) == 5 || at(b, 2) == 7) &&
      (at(b, 3) == 4 || at(b, 3) == 6 || at(b, 3) == 8))
    return "application/zip";
  if (n > 261 && has(b, 257, "ustar")) return "application/x-tar";
  if (n > 6 && has(b, 0, "Rar!\x1A\x07") && (at(b, 6) == 0 || at(b, 6) == 1)) return "application/vnd.rar";
  if (n > 2 && has(b, 0, "\x1F\x8B\x08")) return "application/gzip";
  if (n > 2 && has(b, 0, "BZh")) return "application/x-bzip2";
  if (n > 5 && has(b, 0, "7z\xBC\xAF\x27\x1C")) return "application/x-7z-compressed";
  if (n > 5 && has(b, 0,
                   "\xFD"
                   "7zXZ\x00"))
    return "application/x-xz";
  if (n > 3 && has(b, 0, "\x28\xB5\x2F\xFD")) return "application/zstd";
  if (n > 3 && has(b, 0, "%PDF")) return "application/pdf";
  if (n > 1 && has(b, 0, "MZ")) return "application/vnd.microsoft.portable-executable";
  if (n > 2 && (at(b, 0) == 'C' || at(b, 0) == 'F') && has(b, 1, "WS"))
    return "application/x-shockwave-flash";
  if (n > 4 && has(b, 0, "{\\rtf")) return "application/rtf";
  if (n > 35 && has(b, 34, "LP") &&
      (has(b, 8, "\x02\x00\x01") || has(b, 8, "\x01\x00\x00") || has(b, 8, "\x02\x00\x02")))
    return "application/octet-stream";  // Embedded OpenType: as the table names it
  if (n > 1 && has(b, 0, "%!")) return "application/postscript";
  if (n > 3 && has(b, 0, "SQLi")) return "application/vnd.sqlite3";
  if (n > 3 && has(b, 0, "NES\x1A")) return "application/x-nintendo-nes-rom";
  if (n > 3 && has(b, 0, "Cr24")) return "application/x-google-chrome-extension";
  if (n > 3 && (has(b, 0, "MSCF") || has(b, 0, "ISc("))) return "application/vnd.ms-cab-compressed";
  if (n > 20 && has(b, 0, "!<arch>\ndebian-binary")) return "application/vnd.debian.binary-package";
  if (n > 6 && has(b, 0, "!<arch>")) return "application/x-unix-archive";
  if (n > 1 && (has(b, 0, "\x1F\xA0") || has(b, 0, "\x1F\x9D"))) return "application/x-compress";
  if (n > 3 && has(b, 0, "LZIP")) return "application/x-lzip";
  if (n > 96 && has(b, 0, "\xED\xAB\xEE\xDB")) return "application/x-rpm";
  if (n > 52 && has(b, 0,
                    "\x7F"
                    "ELF"))
    return "application/x-executable";
  if (n > 131 && has(b, 128, "DICM")) return "application/dicom";
  if (n > 32773 && has(b, 32769, "CD001")) return "application/x-iso9660-image";
  if (n > 3 && (has(b, 0, "\xFE\xED\xFA\xCE") || has(b, 0, "\xFE\xED\xFA\xCF") ||
                has(b, 0, "\xCE\xFA\xED\xFE") || has(b, 0, "\xCF\xFA\xED\xFE")))
    return "application/x-mach-binary";
  return {};
}

// ---- WHATWG sniffing, as Go's net/http runs it ------------------------------

bool ws(uint8_t c) { return c == '\t' || c == '\n' || c == '\x0c' || c == '\r' || c == ' '; }

// A byte that marks binary data (the standard's "binary data byte").
bool binary_byte(uint8_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F);
}

// pattern under mask (mask 0xFF where a byte must match); empty mask: all.
bool masked(Bytes d, std::string_view pat, std::string_view mask) {
  if (d.size() < pat.size()) return false;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    const uint8_t m = mask.empty() ? 0xFF : static_cast<uint8_t>(mask[i]);
    if ((at(d, i) & m) != static_cast<uint8_t>(pat[i])) return false;
  }
  return true;
}

// An HTML tag name at d's start (letters matched without case), then a space or '>'.
bool html_tag(Bytes d, std::string_view tag) {
  if (d.size() < tag.size() + 1) return false;
  for (std::size_t i = 0; i < tag.size(); ++i) {
    uint8_t c = at(d, i);
    const uint8_t t = static_cast<uint8_t>(tag[i]);
    if (t >= 'A' && t <= 'Z') c &= 0xDF;
    if (c != t) return false;
  }
  const uint8_t end = at(d, tag.size());
  return end == ' ' || end == '>';
}

bool mp4_box(Bytes d) {
  if (d.size() < 12) return false;
  const uint32_t box = be32(d, 0);
  if (d.size() < box || box % 4 != 0 || !has(d, 4, "ftyp")) return false;
  for (uint32_t st = 8; st < box; st += 4) {
    if (st == 12) continue;  // the minor version
    if (part(d, st, 3) == "mp4") return true;
  }
  return false;
}

// ---- XML, as Go's encoding/xml reads one element ----------------------------

struct XmlScan {
  Bytes d;
  std::size_t i = 0;
  bool eof() const { return i >= d.size(); }
  uint8_t peek() const { return at(d, i); }
  void space() {
    while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n')) ++i;
  }
  static bool name_byte(uint8_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '.' || c == '-' || c >= 0x80;
  }
  // A name: its first character a letter, '_', ':' or beyond ASCII.
  bool name(Bytes& out) {
    const std::size_t from = i;
    if (eof()) return false;
    const uint8_t c = peek();
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80))
      return false;
    while (!eof() && name_byte(peek())) ++i;
    out = d.substr(from, i - from);
    return true;
  }
  // An entity reference after '&': one of XML's five or a character number, then ';'.
  bool entity() {
    if (eof()) return false;
    if (peek() == '#') {
      ++i;
      const bool hex = !eof() && peek() == 'x';
      if (hex) ++i;
      const std::size_t from = i;
      uint32_t v = 0;
      while (!eof() && ((peek() >= '0' && peek() <= '9') ||
                        (hex && ((peek() | 0x20) >= 'a' && (peek() | 0x20) <= 'f')))) {
        const uint8_t c = peek();
        const uint32_t digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + digit;
        ++i;
      }
      if (i == from || eof() || peek() != ';') return false;
      ++i;
      return v == 0x09 || v == 0x0A || v == 0x0D || (v >= 0x20 && v <= 0xD7FF) ||
             (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF);
    }
    Bytes n;
    if (!name(n) || eof() || peek() != ';') return false;
    ++i;
    return n == "lt" || n == "gt" || n == "amp" || n == "apos" || n == "quot";
  }
  // Text up to the next '<' (quote 0), or up to the quote that ends an attribute's value.
  bool text(uint8_t quote) {
    while (!eof()) {
      const uint8_t c = peek();
      if (quote && c == quote) return true;
      if (c == '<') return quote == 0;  // '<' inside a quoted value is refused
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      if (c == '&' && !entity()) return false;
    }
    return quote == 0;
  }
  bool until(std::string_view end) {
    const std::size_t at_end = d.find(end, i);
    if (at_end == Bytes::npos) return false;
    i = at_end + end.size();
    return true;
  }
  // After "<!": a comment, a CDATA section or a declaration (quotes and nested
  // brackets kept together).
  bool bang() {
    if (part(d, i, 2) == "--") {
      i += 2;
      const std::size_t e = d.find("--", i);
      if (e == Bytes::npos || e + 2 >= d.size() || at(d, e + 2) != '>') return false;  // "--" only before '>'
      i = e + 3;
      return true;
    }
    if (part(d, i, 7) == "[CDATA[") return until("]]>");
    int depth = 1;
    uint8_t quote = 0;
    while (!eof()) {
      const uint8_t c = peek();
      ++i;
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        ++depth;
      } else if (c == '>' && --depth == 0) {
        return true;
      }
    }
    return false;
  }
  // A start tag after '<' (name read): attributes, then '>' or "/>".
  bool attributes(bool& empty) {
    for (;;) {
      space();
      if (eof()) return false;
      if (peek() == '/') {
        ++i;
        empty = true;
        return !eof() && at(d, i++) == '>';
      }
      if (peek() == '>') {
        ++i;
        empty = false;
        return true;
      }
      Bytes attr;
      if (!name(attr)) return false;
      space();
      if (eof() || peek() != '=') return false;
      ++i;
      space();
      if (eof() || (peek() != '"' && peek() != '\'')) return false;
      const uint8_t q = peek();
      ++i;
      if (!text(q) || eof()) return false;
      ++i;
    }
  }
};

}  // namespace

std::string_view sniff_content_type(std::string_view data) {
  const Bytes d = data.substr(0, 512);
  std::size_t first = 0;
  while (first < d.size() && ws(at(d, first))) ++first;
  const Bytes t = d.substr(first);
  static constexpr std::string_view kHtml[] = {
      "<!DOCTYPE HTML", "<HTML",  "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV", "<FONT", "<TABLE", "<A",
      "<STYLE",         "<TITLE", "<B",    "<BODY",   "<BR",     "<P",  "<!--"};
  for (std::string_view h : kHtml)
    if (html_tag(t, h)) return "text/html; charset=utf-8";
  if (masked(t, "<?xml", {})) return "text/xml; charset=utf-8";
  if (has(d, 0, "%PDF-")) return "application/pdf";
  if (has(d, 0, "%!PS-Adobe-")) return "application/postscript";
  using namespace std::string_view_literals;
  if (masked(d, "\xFE\xFF\x00\x00"sv, "\xFF\xFF\x00\x00"sv)) return "text/plain; charset=utf-16be";
  if (masked(d, "\xFF\xFE\x00\x00"sv, "\xFF\xFF\x00\x00"sv)) return "text/plain; charset=utf-16le";
  if (masked(d, "\xEF\xBB\xBF\x00"sv, "\xFF\xFF\xFF\x00"sv)) return "text/plain; charset=utf-8";
  if (has(d, 0, "\x00\x00\x01\x00") || has(d, 0, "\x00\x00\x02\x00")) return "image/x-icon";
  if (has(d, 0, "BM")) return "image/bmp";
  if (has(d, 0, "GIF87a") || has(d, 0, "GIF89a")) return "image/gif";
  if (masked(d, "RIFF\x00\x00\x00\x00WEBPVP"sv, "\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF\xFF\xFF"sv))
    return "image/webp";
  if (has(d, 0, "\x89PNG\x0D\x0A\x1A\x0A")) return "image/png";
  if (has(d, 0, "\xFF\xD8\xFF")) return "image/jpeg";
  if (masked(d,
             "FORM\x00\x00\x00\x00"
             "AIFF"sv,
             "\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF"sv))
    return "audio/aiff";
  if (has(d, 0, "ID3")) return "audio/mpeg";
  if (has(d, 0, "OggS\x00")) return "application/ogg";
  if (has(d, 0, "MThd\x00\x00\x00\x06")) return "audio/midi";
  const std::string_view riff_mask = "\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF"sv;
  if (masked(d,
             "RIFF\x00\x00\x00\x00"
             "AVI "sv,
             riff_mask))
    return "video/avi";
  if (masked(d, "RIFF\x00\x00\x00\x00WAVE"sv, riff_mask)) return "audio/wave";
  if (mp4_box(d)) return "video/mp4";
  if (has(d, 0, "\x1A\x45\xDF\xA3")) return "video/webm";
  if (d.size() >= 36 && at(d, 34) == 'L' && at(d, 35) == 'P' &&
      d.substr(0, 34).find_first_not_of('\0') == Bytes::npos)
    return "application/vnd.ms-fontobject";
  if (has(d, 0, "\x00\x01\x00\x00")) return "font/ttf";
  if (has(d, 0, "OTTO")) return "font/otf";
  if (has(d, 0, "ttcf")) return "font/collection";
  if (has(d, 0, "wOFF")) return "font/woff";
  if (has(d, 0, "wOF2")) return "font/woff2";
  if (has(d, 0, "\x1F\x8B\x08")) return "application/x-gzip";
  if (has(d, 0, "PK\x03\x04")) return "application/zip";
  if (has(d, 0, "Rar!\x1A\x07\x00") || has(d, 0, "Rar!\x1A\x07\x01\x00"))
    return "application/x-rar-compressed";
  if (has(d, 0,
          "\x00"
          "asm"))
    return "application/wasm";
  for (std::size_t i = first; i < d.size(); ++i)
    if (binary_byte(at(d, i))) return "application/octet-stream";
  return "text/plain; charset=utf-8";
}

bool xml_element(std::string_view data) {
  XmlScan s{data};
  std::vector<Bytes> open;  // names of the elements open, the root first
  while (!s.eof()) {
    if (s.peek() != '<') {
      if (!s.text(0)) return false;
      continue;
    }
    ++s.i;
    if (s.eof()) return false;
    const uint8_t c = s.peek();
    if (c == '?') {
      ++s.i;
      Bytes target;
      if (!s.name(target) || !s.until("?>")) return false;
    } else if (c == '!') {
      ++s.i;
      if (!s.bang()) return false;
    } else if (c == '/') {
      ++s.i;
      Bytes n;
      if (!s.name(n)) return false;
      s.space();
      if (s.eof() || s.peek() != '>' || open.empty() || open.back() != n) return false;
      ++s.i;
      open.pop_back();
      if (open.empty()) return true;  // the element is whole
    } else {
      Bytes n;
      bool empty = false;
      if (!s.name(n) || !s.attributes(empty)) return false;
      if (empty && open.empty()) return true;
      if (!empty) open.push_back(n);
    }
  }
  return false;
}

std::string_view detect_mime_type(std::string_view data, simdjson::dom::parser& json) {
  const Bytes head = data.substr(0, 8192);
  if (std::string_view t = signature_type(head); !t.empty()) return t;
  const std::string_view sniffed = sniff_content_type(head);
  if (sniffed.rfind("text/plain", 0) == 0) {
    // Only text that opens as a JSON value can be one: the rest is not parsed (the
    // parser's buffers are not grown for prose).
    const std::size_t first = data.find_first_not_of(" \t\r\n");
    const bool may_be_json =
        first != Bytes::npos && std::string_view("{[\"-0123456789tfn").find(data[first]) != Bytes::npos;
    simdjson::dom::element e;
    if (may_be_json && json.parse(data.data(), data.size()).get(e) == simdjson::SUCCESS)
      return "application/json";
    if (xml_element(data)) return "text/xml";
  }
  return sniffed == "application/octet-stream" ? std::string_view{} : sniffed;
}

}  // namespace tapbeat
