// What the TCP outputs (Logstash, Redis) share: their `hosts` entries and their
// client TLS (`ssl.*`, OpenSSL) with Beats' settings and defaults.
#pragma once

#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>

namespace tapbeat {

// Fails a setting: the key below the output's (e.g. "ssl.certificate") and why.
using SettingFail = std::function<void(const std::string& key, const std::string& why)>;

struct HostPort {
  std::string name;  // as configured, for messages
  std::string host, port;
};

// "host", "host:port", "[v6]" or "[v6]:port" (default_port when none); "" and `out`
// filled, or why it is not an address.
std::string parse_host_port(const std::string& text, const std::string& default_port, HostPort& out);

// OpenSSL's last error as text ("TLS error" when it has none), and clears it.
std::string ssl_error_text();

// A client TLS context from an `ssl` section: supported_protocols (TLSv1.2 and 1.3
// by default), verification_mode (full, strict, certificate, none),
// certificate_authorities (else the system's), certificate + key (+ key_passphrase),
// cipher_suites. Errors go to `fail`, which must throw.
class TlsClient {
 public:
  TlsClient(const YAML::Node& ssl, const SettingFail& fail);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A TLS session on the connected socket fd, with SNI and (full, strict) the name
  // or address checked against `host`. SSL_connect is the caller's.
  SSL* session(int fd, const std::string& host) const;
  // Why a failed SSL_connect failed: OpenSSL's error and the certificate check's.
  static std::string handshake_error(SSL* ssl);

 private:
  SSL_CTX* ctx_ = nullptr;
  std::string mode_;
  std::string passphrase_;
};

}  // namespace tapbeat
