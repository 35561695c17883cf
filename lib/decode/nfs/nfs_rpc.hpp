// ONC RPC messages (RFC 5531) carrying NFS (program 100003): the call header with
// its AUTH_UNIX credentials (RFC 5531 appendix A), the NFS version and procedure,
// NFSv4 COMPOUND's tag, minor version and first-class operation (RFC 7530, 8881,
// 7862), and the reply's accept state and NFS status. Read from the message's
// first bytes (a WRITE's data is not needed).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tapbeat {

inline constexpr uint32_t kNfsProgram = 100003;

struct RpcCall {
  uint32_t xid = 0;
  uint32_t program = 0, version = 0, procedure = 0;
  uint32_t auth_flavor = 0;
  bool has_unix_cred = false;
  uint32_t stamp = 0, uid = 0, gid = 0;
  static constexpr int kMaxGids = 16;
  uint32_t gids[kMaxGids];
  int n_gids = 0;
  std::string_view machinename;
  // NFSv4 COMPOUND
  bool compound = false;
  std::string_view tag;
  uint32_t minor_version = 0;
  const char* opcode = nullptr;  // the procedure's or the COMPOUND's first-class operation
};

struct RpcReply {
  uint32_t xid = 0;
  bool accepted = false;
  uint32_t reject_stat = 0;  // when not accepted: 0 RPC_MISMATCH, 1 AUTH_ERROR
  uint32_t accept_stat = 0;
  bool has_nfs_status = false;
  uint32_t nfs_status = 0;
};

enum class RpcKind : uint8_t { kCall, kReply, kMalformed };

// The message's xid and direction; kMalformed when it is not RPC.
RpcKind rpc_kind(std::span<const uint8_t> b, uint32_t& xid);
// False when the call does not parse (past its bytes). Arguments past `b` (a long
// COMPOUND cut by the caller) leave the first-class operation as found so far.
bool parse_rpc_call(std::span<const uint8_t> b, RpcCall& c);
// `procedure` of the call answered: NULL (0) has no status.
bool parse_rpc_reply(std::span<const uint8_t> b, uint32_t procedure, RpcReply& r);

const char* nfs_status_name(uint32_t status);  // null: not a known status
const char* rpc_accept_stat_name(uint32_t stat);
const char* rpc_auth_flavor_name(uint32_t flavor);  // null: not a known flavor

}  // namespace tapbeat
