#include "decode/nfs/nfs_rpc.hpp"

#include <iterator>

#include "util/byte_reader.hpp"

namespace tapbeat {
namespace {

// XDR (RFC 4506): big-endian 4-byte units; a failed read leaves `ok` false.
struct Xdr {
  std::span<const uint8_t> b;
  std::size_t at = 0;
  bool ok = true;

  uint32_t u32() {
    if (!ok || b.size() - at < 4) {
      ok = false;
      return 0;
    }
    const uint32_t v = load_be32(b.data() + at);
    at += 4;
    return v;
  }
  std::span<const uint8_t> opaque(uint32_t max = UINT32_MAX) {
    const uint32_t n = u32();
    const std::size_t padded = (static_cast<std::size_t>(n) + 3) & ~std::size_t{3};
    if (!ok || n > max || b.size() - at < padded) {
      ok = false;
      return {};
    }
    const auto v = b.subspan(at, n);
    at += padded;
    return v;
  }
  void skip(std::size_t n) {
    if (!ok || b.size() - at < n) {
      ok = false;
      return;
    }
    at += n;
  }
  void bitmap() {  // bitmap4: a counted array of words
    const uint32_t n = u32();
    if (n > 64) ok = false;
    skip(4 * static_cast<std::size_t>(n));
  }
};

std::string_view text(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// Procedure names, as Packetbeat writes them for NFSv3 (RFC 1813's, with its spellings).
constexpr const char* kV2Procs[] = {"NULL", "GETATTR",    "SETATTR", "ROOT",   "LOOKUP",  "READLINK",
                                    "READ", "WRITECACHE", "WRITE",   "CREATE", "REMOVE",  "RENAME",
                                    "LINK", "SYMLINK",    "MKDIR",   "RMDIR",  "READDIR", "STATFS"};
constexpr const char* kV3Procs[] = {"NULL",   "GETATTR", "SETATTR",  "LOOKUP", "ACCESS",   "READLINK",
                                    "READ",   "WRITE",   "CREATE",   "MKDIR",  "SYM_LINK", "MKNODE",
                                    "REMOVE", "RMDIR",   "RENAME",   "LINK",   "READDIR",  "READDIRPLUS",
                                    "FSSTAT", "FSINFO",  "PATHINFO", "COMMIT"};

// NFSv4 operations 3..71 (RFC 7530, RFC 8881, RFC 7862).
constexpr const char* kV4Ops[] = {
    "ACCESS",
    "CLOSE",
    "COMMIT",
    "CREATE",
    "DELEGPURGE",
    "DELEGRETURN",
    "GETATTR",
    "GETFH",
    "LINK",
    "LOCK",
    "LOCKT",
    "LOCKU",
    "LOOKUP",
    "LOOKUPP",
    "NVERIFY",
    "OPEN",
    "OPENATTR",
    "OPEN_CONFIRM",
    "OPEN_DOWNGRADE",
    "PUTFH",
    "PUTPUBFH",
    "PUTROOTFH",
    "READ",
    "READDIR",
    "READLINK",
    "REMOVE",
    "RENAME",
    "RENEW",
    "RESTOREFH",
    "SAVEFH",
    "SECINFO",
    "SETATTR",
    "SETCLIENTID",
    "SETCLIENTID_CONFIRM",
    "VERIFY",
    "WRITE",
    "RELEASE_LOCKOWNER",
    "BACKCHANNEL_CTL",
    "BIND_CONN_TO_SESSION",
    "EXCHANGE_ID",
    "CREATE_SESSION",
    "DESTROY_SESSION",
    "FREE_STATEID",
    "GET_DIR_DELEGATION",
    "GETDEVICEINFO",
    "GETDEVICELIST",
    "LAYOUTCOMMIT",
    "LAYOUTGET",
    "LAYOUTRETURN",
    "SECINFO_NO_NAME",
    "SEQUENCE",
    "SET_SSV",
    "TEST_STATEID",
    "WANT_DELEGATION",
    "DESTROY_CLIENTID",
    "RECLAIM_COMPLETE",
    "ALLOCATE",
    "COPY",
    "COPY_NOTIFY",
    "DEALLOCATE",
    "IO_ADVISE",
    "LAYOUTERROR",
    "LAYOUTSTATS",
    "OFFLOAD_CANCEL",
    "OFFLOAD_STATUS",
    "READ_PLUS",
    "SEEK",
    "WRITE_SAME",
    "CLONE",
};
constexpr uint32_t kFirstV4Op = 3;

const char* v4_op_name(uint32_t op) {
  if (op >= kFirstV4Op && op - kFirstV4Op < std::size(kV4Ops)) return kV4Ops[op - kFirstV4Op];
  return nullptr;
}

// The operations that only set up the current file handle or read attributes: the
// COMPOUND's purpose is the first operation that is none of these (Packetbeat's rule).
bool first_class(uint32_t op) {
  switch (op) {
    case 9:
    case 10:
    case 15:
    case 16:
    case 17:
    case 22:
    case 23:
    case 24:
    case 30:
    case 31:
    case 32:
    case 33:
    case 37:
    case 53:
      return false;
    default:
      return true;
  }
}

// Passes over the arguments of a non-first-class operation.
void skip_args(uint32_t op, Xdr& x) {
  switch (op) {
    case 9:  // GETATTR
      x.bitmap();
      break;
    case 15:  // LOOKUP
    case 22:  // PUTFH
    case 33:  // SECINFO
      x.opaque();
      break;
    case 17:  // NVERIFY
    case 37:  // VERIFY
      x.bitmap();
      x.opaque();
      break;
    case 30:  // RENEW
      x.skip(8);
      break;
    case 53:  // SEQUENCE: sessionid, sequenceid, slotid, highest slotid, cachethis
      x.skip(16 + 4 * 4);
      break;
    default:  // GETFH, LOOKUPP, PUTPUBFH, PUTROOTFH, RESTOREFH, SAVEFH: none
      break;
  }
}

struct Named {
  uint32_t code;
  const char* name;
};
constexpr Named kStatus[] = {
    {0, "NFS_OK"},
    {1, "NFSERR_PERM"},
    {2, "NFSERR_NOENT"},
    {5, "NFSERR_IO"},
    {6, "NFSERR_NXIO"},
    {13, "NFSERR_ACCESS"},
    {17, "NFSERR_EXIST"},
    {18, "NFSERR_XDEV"},
    {19, "NFSERR_NODEV"},
    {20, "NFSERR_NOTDIR"},
    {21, "NFSERR_ISDIR"},
    {22, "NFSERR_INVAL"},
    {27, "NFSERR_FBIG"},
    {28, "NFSERR_NOSPC"},
    {30, "NFSERR_ROFS"},
    {31, "NFSERR_MLINK"},
    {63, "NFSERR_NAMETOOLONG"},
    {66, "NFSERR_NOTEMPTY"},
    {69, "NFSERR_DQUOT"},
    {70, "NFSERR_STALE"},
    {71, "NFSERR_REMOTE"},
    {99, "NFSERR_WFLUSH"},
    {10001, "NFSERR_BADHANDLE"},
    {10002, "NFSERR_NOT_SYNC"},
    {10003, "NFSERR_BAD_COOKIE"},
    {10004, "NFSERR_NOTSUPP"},
    {10005, "NFSERR_TOOSMALL"},
    {10006, "NFSERR_SERVERFAULT"},
    {10007, "NFSERR_BADTYPE"},
    {10008, "NFSERR_DELAY"},
    {10009, "NFSERR_SAME"},
    {10010, "NFSERR_DENIED"},
    {10011, "NFSERR_EXPIRED"},
    {10012, "NFSERR_LOCKED"},
    {10013, "NFSERR_GRACE"},
    {10014, "NFSERR_FHEXPIRED"},
    {10015, "NFSERR_SHARE_DENIED"},
    {10016, "NFSERR_WRONGSEC"},
    {10017, "NFSERR_CLID_INUSE"},
    {10018, "NFSERR_RESOURCE"},
    {10019, "NFSERR_MOVED"},
    {10020, "NFSERR_NOFILEHANDLE"},
    {10021, "NFSERR_MINOR_VERS_MISMATCH"},
    {10022, "NFSERR_STALE_CLIENTID"},
    {10023, "NFSERR_STALE_STATEID"},
    {10024, "NFSERR_OLD_STATEID"},
    {10025, "NFSERR_BAD_STATEID"},
    {10026, "NFSERR_BAD_SEQID"},
    {10027, "NFSERR_NOT_SAME"},
    {10028, "NFSERR_LOCK_RANGE"},
    {10029, "NFSERR_SYMLINK"},
    {10030, "NFSERR_RESTOREFH"},
    {10031, "NFSERR_LEASE_MOVED"},
    {10032, "NFSERR_ATTRNOTSUPP"},
    {10033, "NFSERR_NO_GRACE"},
    {10034, "NFSERR_RECLAIM_BAD"},
    {10035, "NFSERR_RECLAIM_CONFLICT"},
    {10036, "NFSERR_BADXDR"},
    {10037, "NFSERR_LOCKS_HELD"},
    {10038, "NFSERR_OPENMODE"},
    {10039, "NFSERR_BADOWNER"},
    {10040, "NFSERR_BADCHAR"},
    {10041, "NFSERR_BADNAME"},
    {10042, "NFSERR_BAD_RANGE"},
    {10043, "NFSERR_LOCK_NOTSUPP"},
    {10044, "NFSERR_OP_ILLEGAL"},
    {10045, "NFSERR_DEADLOCK"},
    {10046, "NFSERR_FILE_OPEN"},
    {10047, "NFSERR_ADMIN_REVOKED"},
    {10048, "NFSERR_CB_PATH_DOWN"},
    {10049, "NFSERR_BADIOMODE"},
    {10050, "NFSERR_BADLAYOUT"},
    {10051, "NFSERR_BAD_SESSION_DIGEST"},
    {10052, "NFSERR_BADSESSION"},
    {10053, "NFSERR_BADSLOT"},
    {10054, "NFSERR_COMPLETE_ALREADY"},
    {10055, "NFSERR_CONN_NOT_BOUND_TO_SESSION"},
    {10056, "NFSERR_DELEG_ALREADY_WANTED"},
    {10057, "NFSERR_BACK_CHAN_BUSY"},
    {10058, "NFSERR_LAYOUTTRYLATER"},
    {10059, "NFSERR_LAYOUTUNAVAILABLE"},
    {10060, "NFSERR_NOMATCHING_LAYOUT"},
    {10061, "NFSERR_RECALLCONFLICT"},
    {10062, "NFSERR_UNKNOWN_LAYOUTTYPE"},
    {10063, "NFSERR_SEQ_MISORDERED"},
    {10064, "NFSERR_SEQUENCE_POS"},
    {10065, "NFSERR_REQ_TOO_BIG"},
    {10066, "NFSERR_REP_TOO_BIG"},
    {10067, "NFSERR_REP_TOO_BIG_TO_CACHE"},
    {10068, "NFSERR_RETRY_UNCACHED_REP"},
    {10069, "NFSERR_UNSAFE_COMPOUND"},
    {10070, "NFSERR_TOO_MANY_OPS"},
    {10071, "NFSERR_OP_NOT_IN_SESSION"},
    {10072, "NFSERR_HASH_ALG_UNSUPP"},
    {10073, "NFSERR_CONN_BINDING_NOT_ENFORCED"},
    {10074, "NFSERR_CLIENTID_BUSY"},
    {10075, "NFSERR_PNFS_IO_HOLE"},
    {10076, "NFSERR_SEQ_FALSE_RETRY"},
    {10077, "NFSERR_BAD_HIGH_SLOT"},
    {10078, "NFSERR_DEADSESSION"},
    {10079, "NFSERR_ENCR_ALG_UNSUPP"},
    {10080, "NFSERR_PNFS_NO_LAYOUT"},
    {10081, "NFSERR_NOT_ONLY_OP"},
    {10082, "NFSERR_WRONG_CRED"},
    {10083, "NFSERR_WRONG_TYPE"},
    {10084, "NFSERR_DIRDELEG_UNAVAIL"},
    {10085, "NFSERR_REJECT_DELEG"},
    {10086, "NFSERR_RETURNCONFLICT"},
};

}  // namespace

RpcKind rpc_kind(std::span<const uint8_t> b, uint32_t& xid) {
  if (b.size() < 8) return RpcKind::kMalformed;
  xid = load_be32(b.data());
  const uint32_t type = load_be32(b.data() + 4);
  if (type == 0) return b.size() >= 24 && load_be32(b.data() + 8) == 2 ? RpcKind::kCall : RpcKind::kMalformed;
  return type == 1 ? RpcKind::kReply : RpcKind::kMalformed;
}

bool parse_rpc_call(std::span<const uint8_t> b, RpcCall& c) {
  Xdr x{b};
  c.xid = x.u32();
  x.u32();  // CALL
  x.u32();  // RPC version 2
  c.program = x.u32();
  c.version = x.u32();
  c.procedure = x.u32();
  c.auth_flavor = x.u32();
  const auto cred = x.opaque(400);
  x.u32();  // verifier
  x.opaque(400);
  if (!x.ok) return false;
  if (c.auth_flavor == 1) {  // AUTH_SYS: stamp, machinename, uid, gid, gids<16>
    Xdr u{cred};
    c.stamp = u.u32();
    c.machinename = text(u.opaque(255));
    c.uid = u.u32();
    c.gid = u.u32();
    const uint32_t n = u.u32();
    for (uint32_t i = 0; i < n && u.ok && c.n_gids < RpcCall::kMaxGids; ++i) {
      const uint32_t g = u.u32();
      if (u.ok) c.gids[c.n_gids++] = g;
    }
    c.has_unix_cred = u.ok;
  }
  if (c.program != kNfsProgram) return true;
  if (c.version == 2) {
    c.opcode = c.procedure < std::size(kV2Procs) ? kV2Procs[c.procedure] : "ILLEGAL";
  } else if (c.version == 3) {
    c.opcode = c.procedure < std::size(kV3Procs) ? kV3Procs[c.procedure] : "ILLEGAL";
  } else if (c.version == 4) {
    if (c.procedure == 0) {
      c.opcode = "NULL";
    } else if (c.procedure == 1) {
      c.compound = true;
      c.tag = text(x.opaque(1024));
      c.minor_version = x.u32();
      const uint32_t nops = x.u32();
      c.opcode = "ILLEGAL";
      for (uint32_t i = 0; i < nops && x.ok; ++i) {
        const uint32_t op = x.u32();
        if (!x.ok) break;
        const char* name = v4_op_name(op);
        if (!name) {
          c.opcode = "ILLEGAL";
          break;
        }
        c.opcode = name;
        if (first_class(op)) break;
        skip_args(op, x);
      }
    } else {
      c.opcode = "ILLEGAL";
    }
  }
  return true;
}

bool parse_rpc_reply(std::span<const uint8_t> b, uint32_t procedure, RpcReply& r) {
  Xdr x{b};
  r.xid = x.u32();
  x.u32();  // REPLY
  const uint32_t stat = x.u32();
  if (!x.ok) return false;
  if (stat != 0) {  // MSG_DENIED
    r.accepted = false;
    r.reject_stat = x.u32();
    return x.ok;
  }
  r.accepted = true;
  x.u32();  // verifier
  x.opaque(400);
  r.accept_stat = x.u32();
  if (!x.ok) return false;
  if (r.accept_stat == 0 && procedure != 0) {
    r.nfs_status = x.u32();
    r.has_nfs_status = x.ok;
  } else if (r.accept_stat == 0) {
    r.has_nfs_status = true;  // NULL: nothing to fail
    r.nfs_status = 0;
  }
  return true;
}

const char* nfs_status_name(uint32_t status) {
  for (const Named& n : kStatus)
    if (n.code == status) return n.name;
  return nullptr;
}

const char* rpc_accept_stat_name(uint32_t stat) {
  static constexpr const char* kNames[] = {"success",      "prog_unavail", "prog_mismatch",
                                           "proc_unavail", "garbage_args", "system_err"};
  return stat < std::size(kNames) ? kNames[stat] : "unknown";
}

const char* rpc_auth_flavor_name(uint32_t flavor) {
  switch (flavor) {
    case 0:
      return "none";
    case 1:
      return "unix";
    case 2:
      return "short";
    case 3:
      return "des";
    case 6:
      return "rpcsec_gss";
    default:
      return nullptr;
  }
}

}  // namespace tapbeat
