#include "output/net_client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace tapbeat {

std::string parse_host_port(const std::string& text, const std::string& default_port, HostPort& out) {
  out.name = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return "bad address '" + text + "'";
    out.host = text.substr(1, close - 1);
    out.port = close + 1 < text.size() && text[close + 1] == ':' ? text.substr(close + 2) : default_port;
  } else if (const auto c = text.rfind(':'); c != std::string::npos && text.find(':') == c) {
    out.host = text.substr(0, c);
    out.port = text.substr(c + 1);
  } else {
    out.host = text;
    out.port = default_port;
  }
  if (out.host.empty() || out.port.empty() || out.port.size() > 5 ||
      out.port.find_first_not_of("0123456789") != std::string::npos || std::stoul(out.port) > 65535 ||
      std::stoul(out.port) == 0)
    return "bad address '" + text + "' (expected host:port)";
  return {};
}

std::string ssl_error_text() {
  const unsigned long e = ERR_get_error();
  if (!e) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

TlsClient::TlsClient(const YAML::Node& t, const SettingFail& fail) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) fail("ssl", ssl_error_text());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);  // Beats' default: TLSv1.2 and TLSv1.3
  if (const YAML::Node p = t["supported_protocols"]) {
    int lo = 0, hi = 0;
    for (const auto& v : p) {
      const std::string name = v.as<std::string>();
      const int ver = name == "TLSv1.0" || name == "TLSv1" ? TLS1_VERSION
                      : name == "TLSv1.1"                  ? TLS1_1_VERSION
                      : name == "TLSv1.2"                  ? TLS1_2_VERSION
                      : name == "TLSv1.3"                  ? TLS1_3_VERSION
                                                           : 0;
      if (!ver)
        fail("ssl.supported_protocols", "unknown protocol '" + name + "' (TLSv1.1, TLSv1.2, TLSv1.3)");
      lo = lo ? std::min(lo, ver) : ver;
      hi = std::max(hi, ver);
    }
    SSL_CTX_set_min_proto_version(ctx_, lo);
    SSL_CTX_set_max_proto_version(ctx_, hi);
  }
  mode_ = t["verification_mode"] ? t["verification_mode"].as<std::string>() : "full";
  if (mode_ != "full" && mode_ != "strict" && mode_ != "certificate" && mode_ != "none")
    fail("ssl.verification_mode", "expected full, strict, certificate or none");
  if (const YAML::Node cas = t["certificate_authorities"]) {
    for (const auto& ca : cas) {
      const std::string f = ca.as<std::string>();
      if (SSL_CTX_load_verify_locations(ctx_, f.c_str(), nullptr) != 1)
        fail("ssl.certificate_authorities", "cannot load " + f + ": " + ssl_error_text());
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx_);
  }
  SSL_CTX_set_verify(ctx_, mode_ == "none" ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (t["certificate"] || t["key"]) {
    if (!t["certificate"] || !t["key"]) fail("ssl.certificate", "ssl.certificate and ssl.key go together");
    if (t["key_passphrase"]) {
      passphrase_ = t["key_passphrase"].as<std::string>();
      SSL_CTX_set_default_passwd_cb_userdata(ctx_, passphrase_.data());
    }
    const std::string cert = t["certificate"].as<std::string>(), key = t["key"].as<std::string>();
    if (SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) != 1)
      fail("ssl.certificate", "cannot load " + cert + ": " + ssl_error_text());
    if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1)
      fail("ssl.key", "cannot load " + key + ": " + ssl_error_text());
  }
  if (const YAML::Node cs = t["cipher_suites"]) {
    std::string list;
    for (const auto& v : cs) list += (list.empty() ? "" : ":") + v.as<std::string>();
    if (SSL_CTX_set_cipher_list(ctx_, list.c_str()) != 1)
      fail("ssl.cipher_suites", "OpenSSL knows none of " + list + " (use OpenSSL cipher names)");
  }
}

TlsClient::~TlsClient() {
  if (ctx_) SSL_CTX_free(ctx_);
}

SSL* TlsClient::session(int fd, const std::string& host) const {
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, host.c_str());
  if (mode_ == "full" || mode_ == "strict") {
    X509_VERIFY_PARAM* p = SSL_get0_param(ssl);
    in6_addr a6;
    in_addr a4;
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1)
      X509_VERIFY_PARAM_set1_ip_asc(p, host.c_str());
    else
      X509_VERIFY_PARAM_set1_host(p, host.c_str(), 0);
  }
  return ssl;
}

std::string TlsClient::handshake_error(SSL* ssl) {
  std::string why = "TLS handshake: " + ssl_error_text();
  if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK)
    why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
  return why;
}

}  // namespace tapbeat
