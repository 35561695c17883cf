// Secrets kept out of the configuration file and referenced from it as ${NAME},
// as Beats' keystore: `tapbeat keystore create|add|list|remove`.
//
// The file (default <path.data>/tapbeat.keystore, setting keystore.path) holds
// "TBKS1\n", a 16-byte salt, a 12-byte IV, the AES-256-GCM ciphertext of the
// entries and its 16-byte tag; the key is PBKDF2-HMAC-SHA256 (100,000 rounds) of
// the password in TAPBEAT_KEYSTORE_PASSWORD (empty when unset, which obfuscates
// rather than protects, as Beats' default does) and the salt. The file is written
// mode 0600 in a private folder and replaced whole. Start-up and CLI only.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tapbeat {

class KeystoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Keystore {
 public:
  // The keystore at `path`: empty (exists() false) when there is no file; throws
  // KeystoreError for a file that is not a keystore or does not open with the
  // password.
  static Keystore open(const std::string& path);

  bool exists() const { return exists_; }
  const std::string& path() const { return path_; }
  std::optional<std::string> get(const std::string& name) const;
  std::vector<std::string> names() const;
  void set(const std::string& name, const std::string& value) { values_[name] = value; }
  bool remove(const std::string& name) { return values_.erase(name) > 0; }
  // Writes the file (created or replaced). Throws KeystoreError.
  void save();

 private:
  std::string path_;
  bool exists_ = false;
  std::map<std::string, std::string> values_;
};

// A name a keystore entry may have: letters, digits, '_', '.', '-'.
bool valid_keystore_name(const std::string& name);

}  // namespace tapbeat
