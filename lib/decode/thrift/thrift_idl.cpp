#include "decode/thrift/thrift_idl.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

namespace tapbeat {
namespace {

struct Token {
  std::string_view text;
  int line;
};

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  int line = 1;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < s.size() && s[i + 1] == '/')) {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      i += 2;
      while (i + 1 < s.size() && !(s[i] == '*' && s[i + 1] == '/')) line += s[i++] == '\n';
      i += 2;
    } else if (c == '"' || c == '\'') {
      const std::size_t start = i++;
      while (i < s.size() && s[i] != c) i += s[i] == '\\' ? 2 : 1;
      out.push_back({s.substr(start, std::min(i + 1, s.size()) - start), line});
      ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '+') {
      const std::size_t start = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '.'))
        ++i;
      if (i == start) ++i;  // a lone sign
      out.push_back({s.substr(start, i - start), line});
    } else {
      out.push_back({s.substr(i, 1), line});
      ++i;
    }
  }
  return out;
}

class Parser {
 public:
  Parser(std::vector<Token> t, const std::string& where) : t_(std::move(t)), where_(where) {}

  void run(std::map<std::string, ThriftIdlMethod, std::less<>>& methods) {
    while (at_ < t_.size()) {
      if (is("service")) {
        ++at_;
        service(methods);
      } else if (is("{")) {
        skip_balanced("{", "}");
      } else {
        ++at_;
      }
    }
  }

 private:
  bool is(std::string_view s) const { return at_ < t_.size() && t_[at_].text == s; }
  [[noreturn]] void fail(const std::string& why) const {
    const int line = at_ < t_.size() ? t_[at_].line : (t_.empty() ? 1 : t_.back().line);
    throw std::runtime_error(where_ + ":" + std::to_string(line) + ": " + why);
  }
  std::string_view name() {
    if (at_ >= t_.size()) fail("unexpected end of file");
    return t_[at_++].text;
  }
  void expect(std::string_view s) {
    if (!is(s)) fail("expected '" + std::string(s) + "'");
    ++at_;
  }
  void skip_balanced(std::string_view open, std::string_view close) {
    int depth = 0;
    do {
      if (at_ >= t_.size()) fail("'" + std::string(open) + "' is not closed");
      if (is(open)) ++depth;
      if (is(close)) --depth;
      ++at_;
    } while (depth > 0);
  }
  void type() {
    name();
    if (is("<")) skip_balanced("<", ">");
  }
  void annotations() {
    if (is("(")) skip_balanced("(", ")");
  }
  // ( [id:] [required|optional] type name [= value] [annotations] [,;] ... )
  void fields(std::map<int, std::string>& out) {
    expect("(");
    int next_implicit = -1;
    while (!is(")")) {
      int id = next_implicit--;
      if (at_ + 1 < t_.size() && t_[at_ + 1].text == ":") {
        id = std::stoi(std::string(name()));
        ++at_;
      }
      if (is("required") || is("optional")) ++at_;
      type();
      out[id] = std::string(name());
      if (is("=")) {  // a default value: up to the next separator at this depth
        ++at_;
        while (at_ < t_.size() && !is(",") && !is(";") && !is(")")) {
          if (is("["))
            skip_balanced("[", "]");
          else if (is("{"))
            skip_balanced("{", "}");
          else
            ++at_;
        }
      }
      annotations();
      if (is(",") || is(";")) ++at_;
      if (at_ >= t_.size()) fail("a field list is not closed");
    }
    ++at_;
  }
  void service(std::map<std::string, ThriftIdlMethod, std::less<>>& methods) {
    const std::string svc(name());
    if (is("extends")) {
      ++at_;
      name();
    }
    expect("{");
    while (!is("}")) {
      if (at_ >= t_.size()) fail("service " + svc + " is not closed");
      ThriftIdlMethod m;
      m.service = svc;
      if (is("oneway")) {
        m.oneway = true;
        ++at_;
      }
      type();  // the return type (void too)
      const std::string fn(name());
      fields(m.params);
      if (is("throws")) {
        ++at_;
        fields(m.exceptions);
      }
      annotations();
      if (is(",") || is(";")) ++at_;
      methods[fn] = std::move(m);
    }
    ++at_;
    annotations();
  }

  std::vector<Token> t_;
  std::string where_;
  std::size_t at_ = 0;
};

}  // namespace

void ThriftIdl::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  parse(ss.str(), path);
}

void ThriftIdl::parse(std::string_view text, const std::string& where) {
  Parser(tokenize(text), where).run(methods_);
}

const ThriftIdlMethod* ThriftIdl::find(std::string_view method) const {
  auto it = methods_.find(method);
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace tapbeat
