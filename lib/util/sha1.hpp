// SHA-1 of a buffer, computed with OpenSSL's SHA1_Init/Update/Final: the context lives
// on the stack. The EVP interface allocates a provider context on every digest and
// looks the algorithm up under a lock (so does the one-shot SHA1()); its first use
// also initialises all of libcrypto (configuration file, providers, every cipher and
// digest), milliseconds at start-up that a run needing no TLS never pays. These calls
// are deprecated in OpenSSL 3 but kept there, and Debian builds them.
#pragma once

#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>

namespace tapbeat {

inline void sha1(const void* p, std::size_t n, uint8_t out[20]) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, p, n);
  SHA1_Final(out, &ctx);
#pragma GCC diagnostic pop
}

}  // namespace tapbeat
