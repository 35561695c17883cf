#include "plugin.hpp"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "version.hpp"

namespace tapbeat {
namespace {

std::string exe_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

void* open_plugin(const std::string& file) {
  const std::string dir = exe_dir();
  std::string tried;
  for (const std::string& path : {dir + "/" + file, dir + "/../lib/tapbeat/" + file}) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    if (void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    const char* e = ::dlerror();
    throw std::runtime_error("cannot load " + path + ": " + (e ? e : "unknown error"));
  }
  throw std::runtime_error(file + " is not installed (looked for " + tried + ")");
}

}  // namespace

void* plugin_symbol(const char* name, const char* symbol) {
  static std::mutex mu;
  static std::map<std::string, void*> loaded;  // never unloaded: its objects outlive any caller
  std::lock_guard lock(mu);
  const std::string file = std::string("tapbeat-") + name + ".so";
  auto it = loaded.find(file);
  if (it == loaded.end()) {
    void* h = open_plugin(file);
    // A module of another build would call the engine through a different ABI.
    const auto* v = static_cast<const char*>(::dlsym(h, "tapbeat_plugin_version"));
    if (!v || std::string(v) != kTapbeatVersion)
      throw std::runtime_error(file + " is of tapbeat " + (v ? v : "(unknown)") + ", this binary is " +
                               kTapbeatVersion);
    it = loaded.emplace(file, h).first;
  }
  void* p = ::dlsym(it->second, symbol);
  if (!p) throw std::runtime_error(file + " lacks " + symbol + " (a module of another tapbeat build?)");
  return p;
}

}  // namespace tapbeat
