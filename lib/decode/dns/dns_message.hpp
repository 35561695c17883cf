// DNS message parsing (RFC 1035 §4, RFC 6891 EDNS, RFC 4034/5155 DNSSEC types, RFC
// 6844 CAA, RFC 6698 TLSA, RFC 9460 SVCB/HTTPS) into text fields for events, split
// as Packetbeat splits them: MX, SOA, SRV, DNSKEY, DS, RRSIG, NSEC, NSEC3 and
// NSEC3PARAM into `data` and named fields with Packetbeat's names and encodings
// (base64 keys and signatures, upper-case hex digests and salts, "-" for no salt,
// YYYYMMDDHHMMSS times, mnemonic algorithm and hash names); types without a
// presentation form as Packetbeat writes them (the RDATA bytes, printable ASCII
// as is, \t \r \n, \DDD for the rest). CAA, TLSA, SVCB/HTTPS, DNAME, CDS and
// CDNSKEY keep their presentation form (Packetbeat writes their raw bytes).
//
// Untrusted input: every read is bounds-checked, names follow at most kMaxPointers
// compression pointers and are at most 255 bytes; records past kMaxRecords per
// section, or past the arena's room for text, are counted (not_rendered), not rendered. Text is written into
// a caller-provided arena; views into it stay valid until the arena is reused. No allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace tapbeat {

// An RDATA part that Packetbeat writes beside `data` (MX preference, SOA rname and
// timers, SRV priority/weight/port, DNSSEC key tags, algorithms, ...).
// Records and their fields are set as they are read, not on construction: a message's
// arrays are large and mostly never touched.
struct DnsField {
  const char* key;
  std::string_view text;  // a string value
  uint32_t number;        // a numeric value, when is_number
  bool is_number;
};

struct DnsRecord {
  static constexpr int kMaxFields = 8;
  std::string_view name;
  uint16_t type;
  uint16_t klass;
  uint32_t ttl;
  std::string_view data;  // Packetbeat's `data`: the RDATA, less the parts in fields
  DnsField fields[kMaxFields];
  uint8_t n_fields;
  bool data_last;  // in the text form, fields come before data (MX, SRV)
};

// A message's header, counts and EDNS fields: what parse_dns() resets for each
// message (the record arrays are not cleared; each record is set when it is read).
struct DnsMessageHead {
  bool header_ok = false;
  uint16_t id = 0;
  bool response = false;
  uint8_t opcode = 0;
  uint16_t rcode = 0;  // 12 bits with the EDNS extended bits when an OPT record is present
  bool aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  bool has_question = false;
  std::string_view qname;
  uint16_t qtype = 0, qclass = 0;
  int n_answers = 0, n_authorities = 0, n_additionals = 0;
  uint32_t not_rendered = 0;  // records counted in the header and not in the arrays
  bool has_opt = false;
  uint16_t opt_udp_size = 0;
  uint8_t opt_version = 0;
  bool opt_do = false;
  uint8_t opt_ext_rcode = 0;  // the OPT record's upper 8 bits of the 12-bit response code
  // EDNS options as Packetbeat writes them (miekg/dns's text): NSID and COOKIE in hex,
  // Client Subnet as "address/source prefix/scope prefix" (IPv6 in brackets). Empty: absent.
  std::string_view opt_nsid, opt_cookie, opt_subnet;
  // An option's length ran past the OPT record (or bytes too few for an option were
  // left): the options before it are kept, the rest of the record is skipped.
  bool opt_malformed = false;
};

struct DnsMessage : DnsMessageHead {
  static constexpr int kMaxRecords = 512;  // per section; a 64 KiB message holds ~5,000 at most
  static constexpr int kMaxPointers = 32;

  DnsRecord answers[kMaxRecords];
  DnsRecord authorities[kMaxRecords];
  DnsRecord additionals[kMaxRecords];
};

enum class DnsParse { kOk, kTruncated, kBadName, kArenaFull };

// Parses one message. arena holds the text of names and data. On an error the
// fields read before it stay filled (header_ok tells whether the header was), so a
// message with a corrupt tail is still reported as far as it goes.
DnsParse parse_dns(const uint8_t* data, uint32_t len, DnsMessage& out, char* arena, uint32_t arena_len);

const char* dns_type_name(uint16_t type);    // "A", "AAAA", ... or nullptr
const char* dns_class_name(uint16_t klass);  // "IN", "CH", "HS", "ANY" or nullptr
// The name, or for one without a name its number, as Packetbeat writes both ("65280").
std::string_view dns_type_text(uint16_t type, char (&buf)[8]);
std::string_view dns_class_text(uint16_t klass, char (&buf)[8]);
const char* dns_rcode_name(uint16_t rcode);  // "NOERROR", "NXDOMAIN", ...
const char* dns_opcode_name(uint8_t op);     // "QUERY", "IQUERY", "STATUS", "NOTIFY", "UPDATE"

}  // namespace tapbeat
