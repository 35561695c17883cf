#include "config/keystore.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/safe_file.hpp"

namespace tapbeat {
namespace {

constexpr char kMagic[] = "TBKS1\n";
constexpr std::size_t kMagicLen = sizeof kMagic - 1, kSalt = 16, kIv = 12, kTag = 16;
constexpr int kRounds = 100'000;
constexpr std::size_t kMaxFile = 16u << 20;  // a keystore is small; refuse anything this large

std::string password() {
  const char* p = std::getenv("TAPBEAT_KEYSTORE_PASSWORD");
  return p ? p : "";
}

void derive(const unsigned char* salt, unsigned char key[32]) {
  const std::string pw = password();
  if (PKCS5_PBKDF2_HMAC(pw.data(), static_cast<int>(pw.size()), salt, kSalt, kRounds, EVP_sha256(), 32,
                        key) != 1)
    throw KeystoreError("key derivation failed");
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

bool get_u32(const std::string& in, std::size_t& off, uint32_t& v) {
  if (in.size() - off < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(in[off + i]);
  off += 4;
  return true;
}

struct Cipher {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~Cipher() { EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

bool valid_keystore_name(const std::string& name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

Keystore Keystore::open(const std::string& path) {
  Keystore k;
  k.path_ = path;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT) return k;
    throw KeystoreError(path + ": " + std::strerror(errno));
  }
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.size() > kMaxFile) throw KeystoreError(path + ": larger than a keystore can be");
  if (data.size() < kMagicLen + kSalt + kIv + kTag || data.compare(0, kMagicLen, kMagic) != 0)
    throw KeystoreError(path + ": not a tapbeat keystore");
  const auto* salt = reinterpret_cast<const unsigned char*>(data.data() + kMagicLen);
  const auto* iv = salt + kSalt;
  const auto* body = iv + kIv;
  const std::size_t body_len = data.size() - kMagicLen - kSalt - kIv - kTag;
  unsigned char key[32];
  derive(salt, key);
  Cipher c;
  std::string plain(body_len, '\0');
  int n = 0, fin = 0;
  std::string tag = data.substr(data.size() - kTag);
  if (!c.ctx || EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, iv) != 1 ||
      EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(plain.data()), &n, body,
                        static_cast<int>(body_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(plain.data()) + n, &fin) != 1)
    throw KeystoreError(path +
                        ": does not open with this password (TAPBEAT_KEYSTORE_PASSWORD) or is damaged");
  std::size_t off = 0;
  while (off < plain.size()) {
    uint32_t nl = 0, vl = 0;
    if (!get_u32(plain, off, nl) || plain.size() - off < nl) throw KeystoreError(path + ": damaged entry");
    std::string name = plain.substr(off, nl);
    off += nl;
    if (!get_u32(plain, off, vl) || plain.size() - off < vl) throw KeystoreError(path + ": damaged entry");
    k.values_[name] = plain.substr(off, vl);
    off += vl;
  }
  k.exists_ = true;
  return k;
}

std::optional<std::string> Keystore::get(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Keystore::names() const {
  std::vector<std::string> v;
  for (const auto& [name, value] : values_) v.push_back(name);
  return v;
}

void Keystore::save() {
  const std::size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  if (const std::string why = prepare_private_dir(dir); !why.empty()) throw KeystoreError(dir + ": " + why);
  std::string plain;
  for (const auto& [name, value] : values_) {
    put_u32(plain, static_cast<uint32_t>(name.size()));
    plain += name;
    put_u32(plain, static_cast<uint32_t>(value.size()));
    plain += value;
  }
  unsigned char salt[kSalt], iv[kIv], key[32], tag[kTag];
  if (RAND_bytes(salt, kSalt) != 1 || RAND_bytes(iv, kIv) != 1) throw KeystoreError("no random bytes");
  derive(salt, key);
  Cipher c;
  std::string body(plain.size(), '\0');
  int n = 0, fin = 0;
  if (!c.ctx || EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, iv) != 1 ||
      EVP_EncryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(body.data()), &n,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(body.data()) + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTag, tag) != 1)
    throw KeystoreError("encryption failed");
  std::string file(kMagic, kMagicLen);
  file.append(reinterpret_cast<const char*>(salt), kSalt);
  file.append(reinterpret_cast<const char*>(iv), kIv);
  file += body;
  file.append(reinterpret_cast<const char*>(tag), kTag);
  // A new file beside the old one, renamed over it: never half written.
  const std::string tmp = path_ + ".new";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw KeystoreError(tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < file.size()) {
    const ssize_t w = ::write(fd, file.data() + done, file.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw KeystoreError(tmp + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw KeystoreError(path_ + ": " + std::strerror(e));
  }
  exists_ = true;
}

}  // namespace tapbeat
