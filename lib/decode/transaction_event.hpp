// The fields every transaction event carries (Packetbeat's common transaction
// fields): @timestamp, type, status, event.*, network.*, source/destination/client/
// server, related.ip. A protocol writes its own object(s) after begin_transaction()
// and closes the event with end_transaction(). No allocation.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "event/agent.hpp"
#include "event/json_writer.hpp"
#include "net/networks.hpp"
#include "net/packet.hpp"

namespace tapbeat {

// Packetbeat's error.message for a transaction the capture lost part of (its HTTP
// module's words, which every decoder here uses for a message with a gap).
inline constexpr const char* kLossRequest = "Packet loss while capturing the request";
inline constexpr const char* kLossResponse = "Packet loss while capturing the response";

struct TransactionFields {
  const char* type;              // "icmp", "dns", "http", ...
  bool ok;                       // status OK or Error
  const char* status = nullptr;  // instead of ok's: memcache's "Client Error" and "Server Error"
  const char* error = nullptr;   // error.message (also on an OK transaction: a note such as packet loss)
  const char* error_more =
      nullptr;  // a second note (with error set): error.message is then a list of both, as Packetbeat writes
  uint64_t start_ns = 0;       // first packet of the request (or of the response alone)
  uint64_t end_ns = 0;         // first packet of the response, as Packetbeat ends it; 0: none
  bool omit_duration = false;  // no event.duration (a TLS handshake that did not complete)
  // A request never answered has event.start alone, a response without its request
  // event.end alone (at start_ns), neither a duration: Packetbeat's model.
  bool request_only = false;
  bool response_only = false;
  bool omit_bytes = false;  // no client/server/network bytes (TLS: Packetbeat has none)
  // The event is one message (DHCPv4): source and destination are its sender and
  // receiver (the server when from_server), and only the sender's bytes are written.
  bool one_message = false;
  bool from_server = false;

  // A note (a limit that cut a value) in error.message's first free place: beside a
  // note already there, never over one.
  void add_note(const char* note) {
    if (!error)
      error = note;
    else if (!error_more)
      error_more = note;
  }
  uint8_t ip_version = 4;
  uint8_t proto = 0;  // IP protocol
  IpBytes client{}, server{};
  uint16_t client_port = 0, server_port = 0;  // 0: the protocol has none
  uint64_t client_bytes = 0, server_bytes = 0;
  uint16_t cid_sport = 0, cid_dport = 0;          // community id ports (ICMP: type, code)
  bool cid_from_server = false;                   // the first message went server -> client
  const char* event_type_extra = nullptr;         // a second event.type besides connection
  const char* network_protocol = nullptr;         // network.protocol (application)
  std::string_view event_action;                  // event.action (AMQP: "amqp.<method>")
  const char* event_outcome = nullptr;            // event.outcome (memcache: "success" when answered OK)
  std::string_view server_domain;                 // destination.domain and server.domain
  std::string_view related_host;                  // related.hosts
  std::string_view related_user;                  // related.user
  std::string_view forwarded_ip;                  // network.forwarded_ip
  std::span<const std::string_view> related_ips;  // more related.ip (DNS answers)
  bool related_ips_first = false;                 // before the client's and server's (SIP's SDP owner)
  // One-message protocols' event fields (SIP).
  const char* event_type_first = "connection";  // event.type's first value
  const char* event_category_extra = nullptr;   // a second event.category ("authentication")
  bool has_sequence = false;                    // event.sequence
  int64_t event_sequence = 0;
  std::string_view event_original;                       // event.original
  std::string_view event_reason;                         // event.reason
  const char* network_application = nullptr;             // network.application
  bool iana_number = false;                              // network.iana_number (the IP protocol, as text)
  std::span<const std::string_view> related_hosts_more;  // related.hosts after related_host
  std::span<const std::string_view> related_users;       // related.user (instead of related_user)
  std::string_view user_name;                            // user.name
  std::string_view client_domain;                        // client.domain and source.domain (NFS machine name)
  bool has_user_id = false, has_group_id = false;        // user.id, group.id (NFS credentials)
  uint32_t user_id = 0, group_id = 0;
};

// The two ends of a transaction (the community id follows the client's view).
inline void set_ends(TransactionFields& t, uint8_t ip_version, uint8_t proto, const IpBytes& client,
                     uint16_t client_port, const IpBytes& server, uint16_t server_port) {
  t.ip_version = ip_version;
  t.proto = proto;
  t.client = client;
  t.server = server;
  t.client_port = t.cid_sport = client_port;
  t.server_port = t.cid_dport = server_port;
}

void begin_transaction(JsonWriter& w, const TransactionFields& t, const AgentInfo& agent,
                       const NetworkSet* internal);
void end_transaction(JsonWriter& w);

}  // namespace tapbeat
