// SIP messages (RFC 3261): the start line, the header fields (compact forms,
// folded lines, several values) and the SDP body (RFC 8866), read into views.
// The head is first copied into a work area with folded lines joined, so that
// every value is one contiguous view; lists are lower-cased there too.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tapbeat {

struct SipUri {
  std::string_view original, scheme, username, host;
  uint32_t port = 0;
  std::string_view line, transport;  // URI parameters Packetbeat reports (Contact)
};

// From, To, Contact: [display-name] <uri> *(;param) or uri *(;param).
struct SipNameAddr {
  bool present = false;
  std::string_view display_info, tag, expires, q;
  SipUri uri;
};

struct SipSdp {
  bool present = false;
  std::string_view version, owner_username, owner_session_id, owner_version, owner_ip, session_name,
      connection_info, connection_address;
};

struct SipMessage {
  static constexpr int kMaxList = 32;  // Via, Allow, Supported entries kept

  bool request = false;
  std::string_view method, uri_text, version, status_phrase;
  uint32_t status_code = 0;
  SipUri uri;

  std::string_view call_id, cseq_method, content_type, content_encoding, user_agent, accept, authorization,
      private_uri_text;
  uint32_t cseq_code = 0;
  bool has_cseq = false;
  int64_t max_forwards = -1;
  int64_t content_length = -1;
  SipNameAddr from, to, contact;
  SipUri private_uri;
  std::string_view via[kMaxList];
  int n_via = 0;
  std::string_view allow[kMaxList];
  int n_allow = 0;
  std::string_view supported[kMaxList];
  int n_supported = 0;
  int headers_cut = 0;  // list entries past kMaxList

  // Authorization (parse_authorization).
  std::string_view auth_scheme, auth_realm, auth_username;
  SipUri auth_uri;

  SipSdp sdp;
};

enum class SipHead : uint8_t {
  kOk,
  kNotSip,  // the start line is not a SIP request or status line
};

// The start line of `line` (without its line end); false when it is not SIP's.
bool sip_start_line(std::string_view line, SipMessage& m);

// Parses a complete head (start line to the empty line, its line ends included).
// `work` holds the unfolded copy (at least head.size() * 2 bytes: lists are
// lower-cased into it too); views point into it.
SipHead parse_sip_head(std::string_view head, SipMessage& m, char* work, std::size_t work_size);

// The Authorization header's scheme, realm, username and uri.
void parse_sip_authorization(SipMessage& m);

// The SDP body's session-level fields Packetbeat reports.
void parse_sdp(std::string_view body, SipSdp& sdp);

// Where the head ends in `b` (the offset after its empty line), or 0 when it has not
// ended yet; the search starts at `from` (bytes before it were searched already).
// Leading CRLFs are the caller's to skip.
std::size_t sip_head_end(std::string_view b, std::size_t from = 0);

// A header line (without its line end) that is Content-Length or its compact form
// 'l': its value as parse_sip_head reads it (-1: not a number); false for any other line.
bool sip_content_length_line(std::string_view line, int64_t& value);

SipUri parse_sip_uri(std::string_view text);

}  // namespace tapbeat
