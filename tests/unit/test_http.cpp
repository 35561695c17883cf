#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "decode/http/http_decoder.hpp"
#include "decode/http/http_wire.hpp"
#include "engine/decoder_set.hpp"
#include "engine/worker.hpp"
#include "packet_builder.hpp"
#include "stream_test.hpp"
#include "util/chain_store.hpp"

namespace tapbeat {
namespace {

using test::Frame;
constexpr uint64_t kMs = 1'000'000;

using test::contains;

// ---- parsing ----

TEST(HttpParse, StartLinesAndHeads) {
  auto kind = [](std::string_view s) {
    return http::start_kind(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(kind("GET / HTTP/1.1\r\n"), http::StartKind::kRequest);
  EXPECT_EQ(kind("M-SEARCH * HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("HTTP/1.0 200 OK"), http::StartKind::kResponse);
  EXPECT_EQ(kind("HTT"), http::StartKind::kNeedMore);
  EXPECT_EQ(kind("GET"), http::StartKind::kNeedMore);
  EXPECT_EQ(kind("\x16\x03\x01\x02"), http::StartKind::kNotHttp);
  // Any RFC 9110 token is a method; a lower-case one needs an origin or absolute target.
  EXPECT_EQ(kind("get / HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("CCM_POST /x HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("get http://a/ HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("hello world\r\n"), http::StartKind::kNotHttp);
  EXPECT_EQ(kind("GET\r\n"), http::StartKind::kRequest);  // no target
  EXPECT_EQ(kind("get\r\n"), http::StartKind::kNotHttp);
  EXPECT_EQ(kind("http/1.1 200 ok"), http::StartKind::kResponse);
  EXPECT_EQ(kind("HTTP/x"), http::StartKind::kNotHttp);
  // A run of blanks between method and target, as servers split the line.
  EXPECT_EQ(kind("GET          /x HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("GET \t /x HTTP/1.1"), http::StartKind::kRequest);
  EXPECT_EQ(kind("GET    "), http::StartKind::kNeedMore);
  EXPECT_EQ(kind("GET " + std::string(80, ' ') + "/x"), http::StartKind::kNotHttp);

  const std::string head =
      "POST /a/b.php?x=1 HTTP/1.1\r\nHost: ex.com:8080\r\nX-A: 1\r\nx-a:  2 \r\n\r\nbody";
  const auto* p = reinterpret_cast<const uint8_t*>(head.data());
  const std::size_t end = http::head_end(p, head.size());
  ASSERT_EQ(end, head.size() - 4);
  EXPECT_EQ(http::head_end(p, end - 1), 0u);  // the blank line is not there yet
  http::Head h;
  ASSERT_TRUE(http::parse_head(std::string_view(head).substr(0, end), h));
  EXPECT_FALSE(h.response);
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.uri, "/a/b.php?x=1");
  EXPECT_EQ(h.version, "1.1");
  EXPECT_EQ(h.get("host"), "ex.com:8080");
  EXPECT_EQ(h.get("x-a"), "1");
  EXPECT_EQ(h.n_headers, 3u);
  EXPECT_EQ(h.headers[2].value, "2");

  ASSERT_TRUE(http::parse_head("HTTP/1.1 404 Not Found\r\n\r\n", h));
  EXPECT_TRUE(h.response);
  EXPECT_EQ(h.status, 404);
  EXPECT_EQ(h.phrase, "Not Found");
  // A status code that is not three digits: a response still, noted; its leading digits
  // (one to three) are the code.
  ASSERT_TRUE(http::parse_head("HTTP/1.1 2 OK\r\n\r\n", h));
  EXPECT_EQ(h.status, 2);
  EXPECT_EQ(h.phrase, "OK");
  EXPECT_EQ(h.anomalies, http::kBadStatus);
  ASSERT_TRUE(http::parse_head("HTTP/1.0 2XX OK\r\n\r\n", h));
  EXPECT_EQ(h.status, 2);
  EXPECT_EQ(h.phrase, "OK");
  ASSERT_TRUE(http::parse_head("HTTP/1.1 2000 OK\r\n\r\n", h));
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.anomalies, http::kBadStatus);
  ASSERT_TRUE(http::parse_head("HTTP/1.1\r\n\r\n", h));
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.anomalies, http::kBadStatus);
  ASSERT_TRUE(http::parse_head("HTTP/1.1Transfer-Encoding:chunked\r\n\r\n", h));
  EXPECT_EQ(h.version, "1.1");
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.phrase, "");
  EXPECT_EQ(h.anomalies, http::kBadStatus);
  ASSERT_TRUE(http::parse_head("HTTP/1.0 2XX OK\r\n\r\n", h));
  EXPECT_EQ(h.version, "1.0");
  ASSERT_TRUE(http::parse_head("http/1.1 200 ok\r\n\r\n", h));
  EXPECT_EQ(h.version, "1.1");
  EXPECT_EQ(h.status, 200);
  ASSERT_TRUE(http::parse_head("GET /\r\n", h));  // HTTP/0.9
  EXPECT_EQ(h.version, "0.9");
  EXPECT_EQ(h.uri, "/");
  EXPECT_EQ(h.anomalies, http::kNoVersion);
  ASSERT_TRUE(http::parse_head("GET HTTP/1.1\r\n\r\n", h));
  EXPECT_EQ(h.anomalies, http::kNoTarget);
  EXPECT_EQ(h.version, "1.1");
  EXPECT_TRUE(http::versionless_request_line("GET /index.html\r\n"));
  EXPECT_FALSE(http::versionless_request_line("GET /index.html http/1.0\r\n"));
}

TEST(HttpParse, HeadsTakenAgainFromTheCacheEqualHeadsParsedAgain) {
  // Heads of every shape the parser knows, started (parsed into the cache) and then
  // read again from another copy of their text, as a transaction is written: the same
  // head as parse_head gives, its views into the new copy (a versionless request's
  // "0.9" excepted); text the cache has not seen, or no longer holds, parsed.
  std::vector<std::string> heads = {
      "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\nContent-Length: 0\r\n\r\n",
      "http/1.1 200 ok\r\ncontent-type: text/html\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
      "GET /nine\r\n\r\n",
      "HTTP/1.1 2XX Odd\r\nContent-Length: 5, 5\r\nContent-Length: 6\r\n\r\n",
      "POST / HTTP/1.0\r\n" + std::string("X-Long: ") + std::string(5000, 'l') + "\r\n\r\n",
      "NOT A HEAD\r\n\r\n",
      // Equal lengths, heads laid out differently: only equal text may share a head.
      "GET /xy HTTP/1.1\r\nA: b\r\n\r\n",
      "GET /x HTTP/1.1\r\nAB: b\r\n\r\n",
  };
  for (int i = 0; i < 20; ++i) heads.push_back("GET /" + std::to_string(i) + " HTTP/1.1\r\nH: v\r\n\r\n");
  auto same = [](const http::Head& a, const http::Head& b, std::string_view text) {
    EXPECT_EQ(a.response, b.response);
    EXPECT_EQ(a.chunked, b.chunked);
    EXPECT_EQ(a.has_length, b.has_length);
    EXPECT_EQ(a.anomalies, b.anomalies);
    EXPECT_EQ(a.content_length, b.content_length);
    EXPECT_EQ(a.status, b.status);
    ASSERT_EQ(a.n_headers, b.n_headers);
    EXPECT_EQ(a.dropped_headers, b.dropped_headers);
    std::vector<std::string_view> va = {a.method, a.uri, a.version, a.phrase},
                                  vb = {b.method, b.uri, b.version, b.phrase};
    for (uint32_t i = 0; i < a.n_headers; ++i) {
      va.insert(va.end(), {a.headers[i].name, a.headers[i].value});
      vb.insert(vb.end(), {b.headers[i].name, b.headers[i].value});
    }
    for (std::size_t i = 0; i < va.size(); ++i) {
      EXPECT_EQ(va[i], vb[i]) << text;
      const bool in_text = vb[i].data() >= text.data() && vb[i].data() <= text.data() + text.size();
      if (!vb[i].empty() && vb[i] != "0.9") {
        EXPECT_TRUE(in_text) << vb[i] << " of " << text;
      }
    }
  };
  http::HeadCache cache;
  for (std::size_t k = 0; k < heads.size(); ++k) {
    const http::Head* started = cache.parse(heads[k]);
    http::Head direct;
    const bool ok = http::parse_head(heads[k], direct);
    EXPECT_EQ(started != nullptr, ok) << heads[k];
    // The last few, read again from another copy: from the cache, or parsed.
    for (std::size_t j = k >= 20 ? k - 20 : 0; j <= k; ++j) {
      const std::string copy = heads[j];
      http::Head again, want;
      const bool got = cache.reparse(copy, again);
      ASSERT_EQ(got, http::parse_head(copy, want)) << copy;
      if (got) same(want, again, copy);
    }
  }
}

TEST(HttpParse, FramingAsRfc9112ReadsIt) {
  http::Head h;
  ASSERT_TRUE(
      http::parse_head("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", h));
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(h.anomalies, http::kLengthAndChunked);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", h));
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(h.anomalies, http::kFolded);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", h));
  EXPECT_FALSE(h.chunked);
  EXPECT_EQ(h.anomalies, http::kOtherCoding);
  // "identity" alone is no coding (RFC 2616 3.6), as curl, Python, Wireshark and Zeek
  // read it: the Content-Length frames the body.
  ASSERT_TRUE(
      http::parse_head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: identity\r\n\r\n", h));
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.has_length);
  EXPECT_EQ(h.anomalies, 0);
  ASSERT_TRUE(http::parse_head(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", h));
  EXPECT_FALSE(h.chunked);
  EXPECT_EQ(h.anomalies, http::kOtherCoding);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", h));
  EXPECT_FALSE(h.chunked);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", h));
  EXPECT_EQ(h.anomalies, http::kLengthMismatch);
  EXPECT_EQ(h.content_length, 5u);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n", h));
  EXPECT_EQ(h.anomalies, 0);
  EXPECT_EQ(h.content_length, 7u);
  ASSERT_TRUE(http::parse_head("POST / HTTP/1.1\r\nContent-Length: +7\r\n\r\n", h));
  EXPECT_EQ(h.anomalies, http::kLengthMismatch);
  EXPECT_FALSE(h.has_length);
}

TEST(HttpParse, ParametersAreSortedEncodedAndHidden) {
  char out[256];
  const std::string_view hide[] = {"pass"};
  auto enc = [&](std::string_view q, std::string_view form, bool hidden) {
    return std::string(out, http::encode_params(q, form, {hide, hidden ? 1u : 0u}, out, sizeof out));
  };
  // Go's url.Values.Encode: keys sorted, values in arrival order, QueryEscape.
  EXPECT_EQ(enc("user=monica&pass=secret", "", false), "pass=secret&user=monica");
  EXPECT_EQ(enc("user=monica&pass=secret", "", true), "pass=xxxxx&user=monica");
  EXPECT_EQ(enc("b=2&a=1&b=1", "c=a+b%21", false), "a=1&b=2&b=1&c=a+b%21");
  EXPECT_EQ(enc("", "{ \"query\": {}}\n", false), "%7B+%22query%22%3A+%7B%7D%7D%0A=");
  EXPECT_EQ(enc("bad=%zz&ok=1", "", false), "ok=1");  // a bad escape drops that pair, as Go does
  EXPECT_EQ(enc("PASS=x", "", true), "PASS=xxxxx");   // keywords match in any case
}

// Pairs already encoded are copied, the rest decoded and encoded again: either way the
// result is Go's url.Values.Encode of the parsed query, checked against a plain
// reference over random queries of unreserved bytes, '+', escapes in both cases,
// needless escapes, '=', ';', empty pairs, repeated and hidden keys.
TEST(HttpParse, ParametersCopiedOrReencodedAreWhatGoEncodes) {
  auto hexval = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  auto unesc = [&](std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '%') {
        if (i + 2 >= in.size() || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) return false;
        out += static_cast<char>(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
        i += 2;
      } else {
        out += in[i] == '+' ? ' ' : in[i];
      }
    }
    return true;
  };
  auto esc = [](std::string_view in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string o;
    for (unsigned char c : in) {
      if ((c < 0x80 && std::isalnum(c)) || c == '-' || c == '_' || c == '.' || c == '~')
        o += static_cast<char>(c);
      else if (c == ' ')
        o += '+';
      else
        o += {'%', kHex[c >> 4], kHex[c & 15]};
    }
    return o;
  };
  auto reference = [&](std::string_view q, std::string_view hidden) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t at = 0;
    while (at <= q.size()) {
      const std::size_t amp = std::min(q.find('&', at), q.size());
      const std::string_view part = q.substr(at, amp - at);
      at = amp + 1;
      if (part.empty() || part.find(';') != std::string_view::npos) continue;
      const std::size_t eq = part.find('=');
      std::string k, v;
      if (!unesc(part.substr(0, eq), k)) continue;
      if (!unesc(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), v)) continue;
      std::string lk = k;
      for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!hidden.empty() && lk == hidden) v = "xxxxx";
      pairs.emplace_back(k, v);
    }
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string o;
    for (const auto& [k, v] : pairs) o += (o.empty() ? "" : "&") + esc(k) + "=" + esc(v);
    return o;
  };
  const char* const tokens[] = {"a",  "b", "k",   "key", "Z",   "_",   "x-y",      "1",         "~",
                                ".",  "+", "%2B", "%2b", "%41", "%20", "%2F",      "%E2%82%AC", "%zz",
                                "%2", "=", "&",   ";",   "/",   " ",   "\xc3\xa9", "pass",      "PASS"};
  std::mt19937 rng(7);
  char out[4096];
  for (int round = 0; round < 20000; ++round) {
    std::string q;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) q += tokens[rng() % std::size(tokens)];
    const bool hide = rng() % 4 == 0;
    const std::string_view hidden_items[] = {"pass"};
    const std::string got(out, http::encode_params(q, "", {hidden_items, hide ? 1u : 0u}, out, sizeof out));
    ASSERT_EQ(got, reference(q, hide ? "pass" : "")) << "query " << q;
  }
  // Output that does not fit is cut where the encoder cuts it.
  EXPECT_EQ(std::string(out, http::encode_params("b=1&a=22", "", {}, out, 6)), "a=22&b");
}

TEST(HttpParse, PathAndQueryEscapingKeepWhatGoKeeps) {
  // Go's URL.EscapedPath keeps unreserved bytes and the sub-delimiters $&+,/:;=@ and
  // writes a space as %20; QueryEscape keeps unreserved bytes only, a space as '+'.
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  std::string path_expect, query_expect;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : all) {
    const bool unreserved = std::isalnum(c) && c < 0x80 ? true : c == '-' || c == '_' || c == '.' || c == '~';
    const bool sub = std::string_view("$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos;
    const std::string pct = {'%', kHex[c >> 4], kHex[c & 15]};
    path_expect += unreserved || sub ? std::string(1, static_cast<char>(c)) : pct;
    query_expect += unreserved ? std::string(1, static_cast<char>(c)) : c == ' ' ? std::string("+") : pct;
  }
  char out[1024];
  EXPECT_EQ(std::string(out, http::path_escape(all, out, sizeof out)), path_expect);
  const std::string pair = "k=" + query_expect;
  char q[1024];
  EXPECT_EQ(std::string(q, http::encode_params(pair, "", {}, q, sizeof q)), "k=" + query_expect);
}

TEST(HttpParse, BasicAuthUser) {
  char out[64];
  // "simplesimon:abcd123+"
  EXPECT_EQ(std::string(out, http::basic_auth_user("Basic c2ltcGxlc2ltb246YWJjZDEyMys=", out, sizeof out)),
            "simplesimon");
  EXPECT_EQ(http::basic_auth_user("Bearer abc", out, sizeof out), 0u);
  EXPECT_EQ(http::basic_auth_user("Basic !!!", out, sizeof out), 0u);
}

TEST(ChainStore, AppendsAcrossBlocksAndReleases) {
  ChainStore store(3);
  ChainStore::Chain a, b;
  std::vector<uint8_t> data(5000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  EXPECT_EQ(store.append(a, data.data(), 5000), 5000u);  // three blocks
  EXPECT_EQ(store.blocks_in_use(), 3u);
  EXPECT_EQ(store.append(b, data.data(), 10), 0u);  // the store is full
  std::vector<uint8_t> back(6000);
  ASSERT_EQ(store.copy_out(a, back.data(), 6000), 5000u);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
  store.release(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(store.blocks_in_use(), 0u);
  EXPECT_EQ(store.append(b, data.data(), 10), 10u);
}

// ---- the decoder, through a worker ----

using test::Conn;

struct HttpHarness : test::StreamTest {
  explicit HttpHarness(std::vector<uint16_t> ports = {80}, bool detect = false,
                       void (*tune)(HttpSettings&) = nullptr) {
    HttpSettings& s = decoders.enable<HttpSettings>("http", ports);
    if (tune) tune(s);
    if (detect) decoders.enable_detection();
    start();
  }
};

// A CONNECT the capture lost, its 200 framed by nothing (the tunnel opens), then the
// tunnel's request and response: the 200 began with no request waiting and its body
// would begin with a status line, so it ends at its head and goes out alone. Before, it
// was read to the connection's end, took the tunnel's response for its body and paired
// with the tunnel's GET, sent after it (suricata-verify http-connect-fragmented with the
// CONNECT dropped).
TEST(HttpDecoder, AnUnframedSuccessAnsweringALostRequestEndsBeforeAStatusLine) {
  // The answer to a lost CONNECT, then the tunnel's exchange. Also where the server wrote a
  // stray line end after its head (suricata-verify http-connect-simple's): the line ends
  // are the answer's, the status line after them the tunnel's response, whether it comes
  // in the same segment or the next.
  struct Case {
    const char* answer;
    const char* response;
  };
  for (const Case& k : {Case{"\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"},
                        Case{"\r\n\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"},
                        Case{"\r\n\n", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"}}) {
    HttpHarness h;
    Conn c;
    h.handshake(c);
    h.lose(true, c, "CONNECT abc:443 HTTP/1.1\r\nHost: abc:443\r\n\r\n");
    h.server(c, std::string("HTTP/1.1 200 Connection established\r\nServer: p\r\n") + k.answer);
    h.client(c, "GET / HTTP/1.1\r\nHost: abc\r\n\r\n");
    h.server(c, k.response);
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << k.answer << k.response;
    EXPECT_TRUE(contains(ev[0], R"("status_phrase":"connection established")") &&
                !contains(ev[0], R"("method")") && contains(ev[0], "Unmatched response"))
        << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("path":"/")") && contains(ev[1], R"("status_phrase":"ok")") &&
                contains(ev[1], R"("body":{"bytes":2})"))
        << ev[1];
  }
}

TEST(HttpDecoder, AnUnframedSuccessAnsweringALostRequestWithABodyRunsToTheClose) {
  // A body that begins with text before a status line is the body, to the close.
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.lose(true, c, "GET /a HTTP/1.0\r\n\r\n");
  h.server(c, "HTTP/1.0 200 OK\r\nServer: p\r\n\r\n\nabc\n");
  h.server(c, "HTTP/1.0 200 OK\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":24})")) << ev[0];
}

TEST(HttpDecoder, PipelinedRequestsMatchResponsesInOrder) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(
      c, "GET /one HTTP/1.1\r\nHost: a.example\r\n\r\nGET /two?b=2&a=1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
  h.server(
      c,
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"GET /one")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status_code":200)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")"));
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":3})"));
  EXPECT_TRUE(contains(ev[1], R"("query":"GET /two")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":404)"));
  EXPECT_TRUE(contains(ev[1], R"("status":"Error")"));
  EXPECT_TRUE(contains(ev[1], R"("full":"http://a.example/two?a=1&b=2")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("domain":"a.example")"));
  EXPECT_EQ(h.count("http.transactions"), 2u);
}

// Requests and their answers, in turn, on one connection; the events of the run.
std::vector<std::string> exchanges(HttpHarness& h,
                                   std::initializer_list<std::pair<const char*, const char*>> each) {
  Conn c;
  h.handshake(c);
  for (const auto& [request, response] : each) {
    h.client(c, request);
    h.server(c, response);
  }
  return h.finish();
}

// 100 requests pipelined before the first answer (a scanner's habit): the 16 the
// connection state holds and the 84 waiting in the block store behind them are all
// paired, in order, with their responses.
TEST(HttpDecoder, DeepPipelineIsPairedInOrder) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  std::string requests, responses;
  for (int i = 0; i < 100; ++i) {
    requests += "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    responses += "HTTP/1.1 " + std::to_string(200 + i) + " X\r\nContent-Length: 0\r\n\r\n";
  }
  h.client(c, requests);
  h.server(c, responses);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(contains(ev[static_cast<std::size_t>(i)], "\"path\":\"/r" + std::to_string(i) + "\"")) << i;
    EXPECT_TRUE(contains(ev[static_cast<std::size_t>(i)], "\"status_code\":" + std::to_string(200 + i))) << i;
  }
  EXPECT_EQ(h.count("http.transactions"), 100u);
  EXPECT_EQ(h.count("http.pipeline_overflow"), 0u);
}

TEST(HttpDecoder, PathIsDecodedAsGoParsesItAndEscapedAgainInTheFullUrl) {
  // Packetbeat's url.path and query carry url.Parse's decoded path; url.full escapes
  // it again as URL.String() does (':' and '+' kept, space as %20, '\\' as %5C).
  HttpHarness h;
  const auto ev = exchanges(h, {{"GET /a%20b/ce%3Agzip+x%5C012.txt?q=1 HTTP/1.1\r\nHost: h.example\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
                                {"GET /bad%zzescape HTTP/1.1\r\nHost: h.example\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"GET /a b/ce:gzip+x\\012.txt")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("path":"/a b/ce:gzip+x\\012.txt")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("full":"http://h.example/a%20b/ce:gzip+x%5C012.txt?q=1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("extension":"txt")")) << ev[0];
  // A bad escape: the path as sent (url.Parse refuses it; Packetbeat writes no path).
  EXPECT_TRUE(contains(ev[1], R"("path":"/bad%zzescape")")) << ev[1];
}

TEST(HttpDecoder, ChunkedBodySplitAnywhere) {
  HttpHarness h({80}, false, [](HttpSettings& s) { s.response_body_for = {"text/plain"}; });
  Conn c;
  h.handshake(c);
  h.client(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string resp =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
  // One byte per segment: every state of the chunk parser meets a segment end.
  for (char ch : resp) h.server(c, std::string_view(&ch, 1));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":12,"content":"hello, world"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("bytes":)" + std::to_string(resp.size()) + R"(,"headers")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("content-length":12)"));
}

TEST(HttpDecoder, ContinueThenFinalResponseIsOneTransaction) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  h.server(c, "HTTP/1.1 100 Continue\r\n\r\n");
  h.client(c, "data");
  h.server(c, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("status_code":201)"));
  EXPECT_FALSE(contains(ev[0], R"("error")")) << ev[0];
  EXPECT_EQ(h.count("http.informational_responses"), 1u);
}

// The server answers while the client is still sending its request's body (a 413 or
// 401 before the upload ends): the response is that request's, published once the
// request is whole, and the next request pairs with its own.
TEST(HttpDecoder, ResponseBeforeTheRequestBodyEndsIsThatRequests) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nfirst");
  h.server(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
  h.client(c, " second");
  h.client(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("method":"POST")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status_code":413)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("method":"GET")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":200)")) << ev[1];
  EXPECT_EQ(h.count("http.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("http.unmatched_requests"), 0u);
}

TEST(HttpDecoder, CloseDelimitedBodyEndsWithFin) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET /old HTTP/1.0\r\n\r\n");
  h.server(c, "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>");
  h.server(c, "</html>");
  h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq, "");
  // Published at the FIN, before the end of input.
  h.w->flush();
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":13})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("content-length":13)"));
  EXPECT_TRUE(contains(ev[0], R"("version":"1.0")"));
}

// A request and a response (by default a 3000-byte one of which the first 1000 body
// bytes are captured), then `hole` bytes lost, then `tail` bytes; the events once the
// server closes.
std::vector<std::string> exchange_with_hole(
    HttpHarness& h, uint32_t hole, std::size_t tail,
    std::string_view request = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n",
    std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n", std::size_t body = 1000) {
  Conn c;
  h.handshake(c);
  h.client(c, request);
  h.server(c, head);
  if (body) h.server(c, std::string(body, 'a'));
  c.sseq += hole;  // segments the capture lost
  if (tail) h.server(c, std::string(tail, 'c'));
  h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq, "");
  return h.finish();
}

TEST(HttpDecoder, HoleInTheBodyKeepsTheTransactionWithTheLossNote) {
  HttpHarness h;
  const auto ev = exchange_with_hole(h, 1000, 1000);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("error":{"message":"Packet loss while capturing the response"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")"));
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":3000})"));
  // The response's bytes are those captured (head 41 + 2000), as Packetbeat counts them.
  EXPECT_TRUE(contains(ev[0], R"("bytes":2041,"headers")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("destination":{"bytes":2041)")) << ev[0];
  EXPECT_EQ(h.count("http.gaps"), 1u);
}

// A hole that runs past the body's end (into whatever followed) loses the framing:
// the response is published as lossy with its Content-Length as the body's size and
// the bytes captured.
TEST(HttpDecoder, HolePastTheBodysEndKeepsItsContentLength) {
  HttpHarness h;
  const auto ev = exchange_with_hole(h, 2500, 100);
  ASSERT_GE(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("error":{"message":"Packet loss while capturing the response"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":3000})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("bytes":1041,"headers")")) << ev[0];
}

// A keep-alive connection whose second response the capture lost (its segment gone,
// the client's ACK of it seen): that request goes out alone, saying why, and the
// responses after the gap answer their own requests, not each the one before. The
// gap comes with the ACK, so the third response is not held until the connection ends.
TEST(HttpDecoder, LostResponseLeavesTheRequestsAfterItPairedRight) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  const char* bodies[] = {"a", "bb", "ccc", "dddd"};
  for (int i = 0; i < 4; ++i) {
    h.client(c, "GET /" + std::to_string(i + 1) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string resp =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(i + 1) + "\r\n\r\n" + bodies[i];
    if (i == 1) {
      h.lose(false, c, resp);
      h.frame(true, c, tcp_flag::kAck, c.cseq, "");  // the client acknowledges it
    } else {
      h.server(c, resp);
    }
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("query":"GET /1")") && contains(ev[0], R"("body":{"bytes":1})")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"GET /2")")) << ev[1];
  EXPECT_TRUE(
      contains(ev[1], R"("message":"Unmatched request; its response began in bytes the capture lost")"))
      << ev[1];
  EXPECT_FALSE(contains(ev[1], R"("status_code")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("query":"GET /3")") && contains(ev[2], R"("body":{"bytes":3})")) << ev[2];
  // Its response's first packet came a millisecond after it, not at the end.
  EXPECT_TRUE(contains(ev[2], R"("duration":1000000,)")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("query":"GET /4")") && contains(ev[3], R"("body":{"bytes":4})")) << ev[3];
  EXPECT_EQ(h.count("http.responses_lost"), 1u);
  EXPECT_EQ(h.count("http.transactions"), 3u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_acked_gaps), 1u);
}

// GET /1 and GET /2, each answered by a body of its number's length; their events
// from ev[first] on.
void two_exchanges(HttpHarness& h, Conn& c) {
  for (int i = 1; i <= 2; ++i) {
    h.client(c, "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(i) + "\r\n\r\n" + std::string(i, 'b'));
  }
}
void expect_two_exchanges(const std::vector<std::string>& ev, std::size_t first) {
  ASSERT_GE(ev.size(), first + 2);
  for (std::size_t i = 1; i <= 2; ++i) {
    const std::string& e = ev[first + i - 1];
    EXPECT_TRUE(contains(e, "\"query\":\"GET /" + std::to_string(i) + "\"")) << e;
    EXPECT_TRUE(contains(e, "\"body\":{\"bytes\":" + std::to_string(i) + "}")) << e;
  }
}

// A response's head lost, its body (two bytes, too few to tell what they are) sent in a
// packet of its own: those bytes wait for more, and the next response's packet joins
// them. The next response is read where its packet begins; before, the joined bytes
// did not start a message, the response and its long chunked body were passed over,
// and every later request took the response after its own (a live capture, each
// segment dropped in turn: up to 28 transactions lost for one packet).
TEST(HttpDecoder, ResponseAfterTheHeldTailOfALostOneIsRead) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nu");
  h.lose(false, c, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n");
  h.server(c, "ok");
  h.client(c, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  h.server(c, "5\r\nHTTP/\r\n5\r\nchunk\r\n0\r\n\r\n");
  two_exchanges(h, c);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("query":"POST /up")") && contains(ev[0], "its response began in bytes"))
      << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("query":"GET /c")") && contains(ev[1], R"("body":{"bytes":10})")) << ev[1];
  expect_two_exchanges(ev, 2);
  EXPECT_EQ(h.count("http.skipped_bytes"), 2u);
}

// The first response's head lost and its body 200 KB: the server side shows no message
// start for longer than the 64 KiB after which a side that never showed one is taken
// for no HTTP. The client's request was read, so the connection is HTTP: the body is
// passed over to the next response, and the later pairs are read. Before, the
// connection was left at 64 KiB (http.violations) and every later exchange lost (a live
// capture of 200 KB bodies, its first response's first segment dropped: 60 of 60).
TEST(HttpDecoder, LongBodyOfAFirstResponseWhoseHeadWasLostIsPassedOver) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  h.lose(false, c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + std::string(1000, 'z'));
  for (int i = 0; i < 199; ++i) h.server(c, std::string(1000, static_cast<char>('a' + i % 26)));
  two_exchanges(h, c);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("query":"GET /big")") && contains(ev[0], "its response began in bytes"))
      << ev[0];
  expect_two_exchanges(ev, 1);
  EXPECT_EQ(h.count("http.violations"), 0u);
}

// A Host that is an address joins related.ip after the two ends, as Packetbeat adds it;
// a name goes to related.hosts instead.
// A capture with a small snap length (200 bytes of each frame, then 80): heads longer
// than what a frame kept lose their end, bodies most of their bytes. Each message is published
// for the whole lines it shows, with a note, a request with its response (method, path,
// status as sent), and the next exchange on the connection is read as usual. Before,
// such heads were dropped at the gap: the requests were lost, their responses
// published unmatched.
// A head whose sender stopped before its blank line, as Zeek logs it (its http-no-crlf
// trace; Suricata's http-close-headers, whose rule matches such a response's Server
// header): a request line without its CRLF, then the client's FIN; a status line and
// headers, then the server's FIN. Each is published for what it shows, noted; the
// response pairs with its request. Before, both were dropped with the bytes held, the
// request going out unmatched. A decoder that cannot take such bytes has them counted
// (stream.unfinished_bytes), where they had gone uncounted.
TEST(HttpDecoder, HeadsTheConnectionsEndCutShortArePublished) {
  HttpHarness h;
  Conn a{40001, 80}, b{40002, 80};
  h.handshake(a);
  h.client(a, "GET /only HTTP/1.1");
  h.frame(true, a, tcp_flag::kFin | tcp_flag::kAck, a.cseq, "");
  h.handshake(b);
  h.client(b, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
  h.server(b, "HTTP/1.0 200 OK\r\nServer: ng1nx\r\nContent-Ty");
  h.frame(false, b, tcp_flag::kFin | tcp_flag::kAck, b.sseq, "");
  auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  if (contains(ev[0], R"("path":"/x")")) std::swap(ev[0], ev[1]);  // the unmatched one goes out at the end
  EXPECT_TRUE(contains(ev[0], R"("path":"/only")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("version":"1.1")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "Unmatched request; its head was cut short by the end of the connection"))
      << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("path":"/x")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":200)")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status":"OK")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], "its head was cut short by the end of the connection")) << ev[1];
  EXPECT_EQ(h.count("http.heads_cut_by_end"), 2u);
  EXPECT_EQ(h.count(Counter::stream_unfinished_bytes), 0u);

  test::StreamTest r;
  const uint16_t memcache[] = {11211};
  r.decoders.enable("memcache", memcache);
  r.start();
  Conn c{40003, 11211};
  r.handshake(c);
  r.client(c, "get some_ke");  // a command line the client never ended
  r.frame(true, c, tcp_flag::kFin | tcp_flag::kAck, c.cseq, "");
  r.finish();
  EXPECT_EQ(r.count(Counter::stream_unfinished_bytes), 11u);
}

// A server that answers a head it will not read to its end (400, 408, 414, 431) answers
// the request that head begins: the response waits for it, and the two are one
// transaction, as Zeek logs them (the request line was there before the answer). A
// response before any request began stays unmatched.
TEST(HttpDecoder, AnswerToAHeadNotYetEndedWaitsForIt) {
  HttpHarness h;
  Conn a{40001, 80}, b{40002, 80}, c{40003, 80}, d{40004, 80};
  // A head the client never ends, the answer, and the close.
  auto refused = [&](Conn& k, const std::string& head, const std::string& answer) {
    h.handshake(k);
    h.client(k, head);
    h.server(k, answer);
    h.frame(false, k, tcp_flag::kFin | tcp_flag::kAck, k.sseq, "");
    h.frame(true, k, tcp_flag::kFin | tcp_flag::kAck, k.cseq, "");
  };
  refused(a, "GET /never HTTP/1.1\r\nHost: a.example\r\nX-Junk: aaaa",
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad");
  h.handshake(b);
  h.client(b, "GET /slow HTTP/1.1\r\nHost: a.example\r\n");
  h.server(b, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n");
  h.client(b, "Accept: */*\r\n\r\n");
  refused(c, "GET /" + std::string(3000, 'u'),  // a request line past the server's limit
          "HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  h.handshake(d);
  h.server(d, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  h.client(d, "GET /after HTTP/1.1\r\nHost: a.example\r\n\r\n");
  auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  auto find = [&](const std::string& what) {
    int at = -1;
    for (int i = 0; i < static_cast<int>(ev.size()); ++i)
      if (contains(ev[i], what)) {
        EXPECT_EQ(at, -1) << what << " in two events";
        at = i;
      }
    EXPECT_GE(at, 0) << what;
    return at < 0 ? std::string() : ev[at];
  };
  const std::string never = find(R"("path":"/never")");
  EXPECT_TRUE(contains(never, R"("status_code":400)")) << never;
  EXPECT_TRUE(contains(never, "its head was cut short by the end of the connection")) << never;
  EXPECT_FALSE(contains(never, "Unmatched")) << never;
  const std::string slow = find(R"("path":"/slow")");
  EXPECT_TRUE(contains(slow, R"("status_code":408)")) << slow;
  EXPECT_FALSE(contains(slow, "error")) << slow;
  const std::string longer = find(R"("path":"/uuuu)");
  EXPECT_TRUE(contains(longer, R"("status_code":414)")) << longer;
  EXPECT_TRUE(contains(longer, "its head was cut short by the end of the connection")) << longer;
  EXPECT_FALSE(contains(longer, "HTTP/0.9")) << longer;
  EXPECT_TRUE(contains(find(R"("status_code":200)"), "Unmatched response"));
  EXPECT_TRUE(contains(find(R"("path":"/after")"), "Unmatched request"));
  EXPECT_EQ(h.count("http.responses_held"), 3u);
  EXPECT_EQ(h.count("http.unmatched_responses"), 1u);
}

// A body shorter than its framing said, ended by its sender's FIN (the FIN's sequence
// number right after the last byte: nothing was lost to the capture): the response goes
// out at the FIN with what came, noted as cut by the end, not as packet loss. A FIN
// numbered past the bytes seen is still a loss.
TEST(HttpDecoder, BodiesTheSendersEndCutShortAreNotLoss) {
  HttpHarness h;
  Conn a{40001, 80}, b{40002, 80}, c{40003, 80};
  for (Conn* k : {&a, &b, &c}) {
    h.handshake(*k);
    h.client(*k, "GET /dl HTTP/1.1\r\nHost: a.example\r\n\r\n");
  }
  h.server(a, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(300, 'y'));
  h.frame(false, a, tcp_flag::kFin | tcp_flag::kAck, a.sseq, "");
  h.server(b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n");
  h.frame(false, b, tcp_flag::kFin | tcp_flag::kAck, b.sseq, "");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(300, 'y'));
  h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq + 700, "");  // 700 bytes lost
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  for (int i : {0, 1}) {
    EXPECT_TRUE(contains(ev[i], "its body was cut short by the end of the connection")) << ev[i];
    EXPECT_FALSE(contains(ev[i], "Packet loss")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status_code":200)")) << ev[i];
  }
  EXPECT_TRUE(contains(ev[2], "Packet loss while capturing the response")) << ev[2];
}

TEST(HttpDecoder, HeadsCutByTheSnapLengthStillPair) {
  HttpHarness h;
  h.snap = 200;  // 54 bytes of headers: 146 of each segment's payload kept
  Conn c;
  h.handshake(c);
  const std::string pad(300, 'p');
  for (int i = 0; i < 3; ++i) {
    const std::string path = "/item/" + std::to_string(i);
    h.client(c, "GET " + path + " HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + pad + "\r\n\r\n");
    const std::string body(1000 + i, 'b');
    h.server(c, "HTTP/1.1 " + std::to_string(200 + i) + " OK\r\nContent-Type: text/html\r\nX-Pad: " + pad +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  // 26 bytes of each segment kept: the request line is cut inside its target (method
  // and target as far as they go, the response's version), the status line inside its
  // phrase (version and code).
  h.snap = 80;
  h.client(c, "GET /a/long/path/to/a/resource HTTP/1.1\r\nHost: shop.example\r\n\r\n");
  h.server(c, "HTTP/1.1 503 Service Temporarily Unavailable\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    const std::string& e = ev[static_cast<std::size_t>(i)];
    EXPECT_TRUE(contains(e, R"("path":"/item/)" + std::to_string(i) + "\"")) << e;
    EXPECT_TRUE(contains(e, R"("status_code":)" + std::to_string(200 + i))) << e;
    EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
    EXPECT_TRUE(contains(e, "its head was cut short by bytes the capture lost")) << e;
  }
  const std::string& cut = ev[3];
  EXPECT_TRUE(contains(cut, R"("method":"GET")")) << cut;
  EXPECT_TRUE(contains(cut, R"("path":"/a/long/path/to/a/reso")")) << cut;
  EXPECT_TRUE(contains(cut, R"("request":{"bytes":26,)")) << cut;  // as captured
  EXPECT_TRUE(contains(cut, R"("status_code":503)")) << cut;
  EXPECT_TRUE(contains(cut, R"("version":"1.1")")) << cut;
  EXPECT_TRUE(contains(cut, "its request line was cut short by bytes the capture lost")) << cut;
  EXPECT_FALSE(contains(cut, "0.9")) << cut;
  EXPECT_EQ(h.count("http.heads_cut_by_gap"), 8u);
  EXPECT_EQ(h.count("http.versionless_requests"), 0u);
  EXPECT_EQ(h.count("http.unmatched_responses"), 0u);
}

TEST(HttpDecoder, HostAddressJoinsRelatedIp) {
  HttpHarness h;
  const auto ev = exchange_with_hole(h, 0, 0, "GET / HTTP/1.1\r\nHost: 203.0.113.9:8080\r\n\r\n",
                                     "HTTP/1.1 204 No Content\r\n\r\n", 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("related":{"ip":["10.0.0.1","10.0.0.2","203.0.113.9"]})")) << ev[0];
}

// A status line without a reason phrase ("HTTP/1.1 200" and "HTTP/1.1 200 ", as RFC 9112
// allows): status_phrase is left out, as Packetbeat leaves out an empty one (it had been
// written empty).
TEST(HttpDecoder, EmptyReasonPhraseIsLeftOut) {
  HttpHarness h;
  const auto ev =
      exchanges(h, {{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
                    {"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 204 \r\n\r\n"}});
  ASSERT_EQ(ev.size(), 2u);
  for (const auto& e : ev) {
    EXPECT_FALSE(contains(e, "status_phrase")) << e;
    EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
  }
}

// CONNECT's target is an authority (RFC 9110 9.3.6): url.domain and url.port are the
// tunnel's far end, with no path or url.full, and `query` is "CONNECT " as
// Packetbeat writes it. The target had been taken for a path ("url.path":"abc:443",
// "url.full":"http://<proxy>/abc:443").
TEST(HttpDecoder, ConnectTargetIsTheTunnelsFarEnd) {
  HttpHarness h;
  const auto ev = exchanges(h, {{"CONNECT abc.example:443 HTTP/1.1\r\nHost: abc.example:443\r\n\r\n",
                                 "HTTP/1.1 200 Connection established\r\n\r\n"}});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("url":{"domain":"abc.example","port":443,"scheme":"http"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("query":"CONNECT ")")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("path")")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("full")")) << ev[0];
}

// A Host header naming a port other than the one the request came to is noted with
// Packetbeat's words (its http.go); the status stays the response's. A Host without a
// port, with the connection's, or with one that is no port, and an absolute-form target
// without a Host header (Packetbeat reads the header alone), are not.
TEST(HttpDecoder, HostHeaderPortMismatchIsNotedAsPacketbeatNotesIt) {
  const char* kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const struct {
    const char* request;
    bool noted;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: example.com:abc\r\n\r\n", false},
      {"GET http://example.com:8080/ HTTP/1.1\r\n\r\n", false},
  };
  for (const auto& k : cases) {
    HttpHarness h;
    const auto ev = exchanges(h, {{k.request, kOk}});
    ASSERT_EQ(ev.size(), 1u) << k.request;
    EXPECT_EQ(contains(ev[0], R"("error":{"message":"Host header port number mismatch"})"), k.noted) << ev[0];
    EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  }
}

// url.path, `query` and url.full as long as the request line made them, as Packetbeat
// writes them: they had been cut at 4,096 (url.path decoded, url.full) and 1,900 bytes
// (`query`'s path) without a note.
TEST(HttpDecoder, LongTargetsAreWrittenWhole) {
  HttpHarness h;
  std::string path = "/";
  for (int i = 0; i < 1500; ++i) path += "%41b%20";
  std::string params;
  for (int i = 0; i < 150; ++i) params += (i ? "&p" : "p") + std::to_string(i) + "=" + std::string(30, 'v');
  const std::string req = "GET " + path + "?" + params + " HTTP/1.1\r\nHost: example.com\r\n\r\n";
  const auto ev = exchanges(h, {{req.c_str(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  ASSERT_EQ(ev.size(), 1u);
  std::string decoded = "/";
  for (int i = 0; i < 1500; ++i) decoded += "Ab ";
  std::string escaped = "/";
  for (int i = 0; i < 1500; ++i) escaped += "Ab%20";
  EXPECT_TRUE(contains(ev[0], R"("path":")" + decoded + "\"")) << ev[0].size();
  EXPECT_TRUE(contains(ev[0], R"("query":"GET )" + decoded + "\"")) << ev[0].size();
  // The parameters sorted by name, as Go's url.Values encodes them.
  EXPECT_TRUE(contains(ev[0], R"("full":"http://example.com)" + escaped + "?p0=")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "&p99=" + std::string(30, 'v') + "\"")) << ev[0];
}

// More header lines than a head keeps (128): the rest are not kept, counted and noted,
// but the framing and the fields the event reads come from every line. A
// Content-Length after 400 headers had been dropped with them: the response was read
// until the close and took the next one's bytes as its body.
TEST(HttpDecoder, HeadersPastTheLimitStillFrameTheMessage) {
  HttpHarness h;
  std::string many;
  for (int i = 0; i < 400; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  const std::string req = "POST /a HTTP/1.1\r\n" + many + "Host: far.example\r\nContent-Length: 3\r\n\r\nabc";
  const std::string resp = "HTTP/1.1 200 OK\r\n" + many + "X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok";
  const auto ev = exchanges(h, {{req.c_str(), resp.c_str()},
                                {"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"}});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("domain":"far.example")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":2})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], "more than 128 header lines; the rest not kept")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("path":"/b")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":204)")) << ev[1];
  EXPECT_EQ(h.count("http.transactions"), 2u);
  EXPECT_EQ(h.count("http.headers_dropped"), 2u * 272u + 1u);  // the fold's header too

  http::Head head;
  std::string text = "GET / HTTP/1.1\r\n" + many + "Transfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(http::parse_head(text, head));
  EXPECT_TRUE(head.chunked);
  EXPECT_EQ(head.n_headers, 129u);
  EXPECT_EQ(head.anomalies, http::kHeadersDropped);
}

// A status line without a three-digit code is a response still: the transaction is
// published (status Error, the code its leading digits, a note) and the connection goes
// on; before, the response was refused and its request left unmatched.
TEST(HttpDecoder, StatusLineWithoutThreeDigitCodeIsPublishedWithANote) {
  HttpHarness h;
  const auto ev = exchanges(
      h, {{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 2XX OK\r\nContent-Length: 4\r\n\r\ntoto"},
          {"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
           "HTTP/1.1Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok"},
          {"GET /c HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}});
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("status_code":2,"status_phrase":"ok")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("message":"status line without a three-digit status code")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"Error")")) << ev[0];
  EXPECT_FALSE(contains(ev[1], R"("status_code")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("path":"/b")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status":"Error")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("status_code":200)")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("status":"OK")")) << ev[2];
  EXPECT_EQ(h.count("http.bad_status_codes"), 2u);
  EXPECT_EQ(h.count("http.malformed"), 0u);
}

TEST(HttpDecoder, UnansweredAndUnrequested) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.server(c, "HTTP/1.1 204 No Content\r\n\r\n");  // capture started after the request
  h.client(c, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("message":"Unmatched response")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("message":"Unmatched request")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status":"Error")"));
}

TEST(HttpDecoder, HeadersBodiesRedactionAndRawText) {
  HttpHarness h({80}, false, [](HttpSettings& s) {
    s.send_all_headers = s.split_cookie = s.redact_authorization = true;
    s.send_request = true;
    s.request_body_for = {"x-www-form-urlencoded"};
    // A long list: every keyword applies (the 40th here), not the first 32 alone.
    for (int i = 0; i < 39; ++i) s.hide_keywords.push_back("k" + std::to_string(i));
    s.hide_keywords.push_back("password");
    s.real_ip_header = "x-forwarded-for";
    s.redact_headers = {"x-secret"};
  });
  Conn c;
  h.handshake(c);
  const std::string body = "user=bo&password=hunter2";
  h.client(c,
           "POST /login HTTP/1.1\r\nHost: shop.example:8080\r\nAuthorization: Basic Ym86cHc=\r\n"
           "Cookie: a=1; B=\"2\"\r\nX-Forwarded-For: 192.0.2.7, 10.0.0.1\r\nX-Secret: s\r\nAccept: a\r\n"
           "Accept: b\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  h.server(c, "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  const std::string& e = ev[0];
  EXPECT_TRUE(contains(e, R"("authorization":"*")")) << e;
  EXPECT_TRUE(contains(e, R"("cookie":{"a":"1","b":"2"})"));
  EXPECT_TRUE(contains(e, R"("accept":"a, b")"));
  EXPECT_TRUE(contains(e, R"("x-secret":"REDACTED")"));
  EXPECT_TRUE(contains(e, R"("forwarded_ip":"192.0.2.7")"));
  EXPECT_TRUE(contains(e, R"("user":{"name":"bo"})"));
  EXPECT_TRUE(contains(e, R"("query":"password=xxxxx&user=bo")"));
  EXPECT_TRUE(contains(e, R"("content":"password=xxxxx&user=bo")"));  // hidden in the body too
  EXPECT_TRUE(contains(e, R"(Authorization:************)")) << e;     // raw text masked
  EXPECT_FALSE(contains(e, "hunter2"));
  EXPECT_TRUE(contains(e, R"("full":"http://shop.example:8080/login?password=xxxxx&user=bo")"));
  EXPECT_TRUE(contains(e, R"("port":8080)"));
}

// HTTP as it is on the wire: lower-case versions and status lines, methods beyond
// the usual list, a request line without a target. Each one is a transaction.
TEST(HttpDecoder, OddButValidShapesArePublished) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "get /a http/1.1\r\nHost: x\r\n\r\n");
  h.server(c, "http/1.1 200 ok\r\ncontent-length: 2\r\n\r\nhi");
  h.client(c, "CCM_POST /cgi HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  h.server(c, "HTTP/1.1 204 No Content\r\n\r\n");
  h.client(c, "PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\n\r\n");
  h.server(c, "HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n");
  h.client(c, "OPTIONS * HTTP/1.1\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  h.client(c, "GET HTTP/1.1\r\n\r\n");
  h.server(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  // Tabs for the spaces (RFC 9112 section 3: recipients may split on any whitespace, as
  // Python's http.server does); before, the line was passed over and the answer unmatched.
  h.client(c, "GET\t/tab\tHTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_TRUE(contains(ev[0], R"("method":"get")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status_code":200)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("version":"1.1")")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("error")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("method":"CCM_POST")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":204)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("method":"PROPFIND")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("query":"OPTIONS *")")) << ev[3];
  // The asterisk-form as Go's EscapedPath leaves it (Packetbeat's url.full): not "%2A".
  EXPECT_TRUE(contains(ev[3], R"("full":"http://)") && contains(ev[3], R"(/*")")) << ev[3];
  EXPECT_TRUE(contains(ev[4], R"("message":"request line without a target")")) << ev[4];
  EXPECT_TRUE(contains(ev[5], R"("path":"/tab")")) << ev[5];
  EXPECT_TRUE(contains(ev[5], R"("version":"1.1")")) << ev[5];
  EXPECT_EQ(h.count("http.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("http.violations"), 0u);
}

TEST(HttpDecoder, Http09RequestAndItsHeadlessAnswer) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET /old.html\r\n");
  h.server(c, "<html>plain old body</html>\n");
  h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq, "");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("version":"0.9")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("query":"GET /old.html")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("message":"HTTP/0.9 request: no version on the request line")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":{"body":{"bytes":28})")) << ev[0];
  EXPECT_FALSE(contains(ev[0], R"("status_code")")) << ev[0];
  EXPECT_EQ(h.count("http.versionless_requests"), 1u);
}

// Header lines after a versionless request line are read up to the blank line (as
// Python's http.server and Suricata read them); the answer has no head.
TEST(HttpDecoder, VersionlessRequestLineWithHeaders) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET /\nFakeHeader\nHost: localhost\nUser-Agent: myscript\n\n");
  h.server(c, "<html>listing</html>");
  h.frame(false, c, tcp_flag::kFin | tcp_flag::kAck, c.sseq, "");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("user_agent":{"original":"myscript"})")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("domain":"localhost")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("version":"0.9")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("response":{"body":{"bytes":20})")) << ev[0];
}

// Request smuggling shapes: framed as RFC 9112 says (as the back end would), and the
// request hidden in the first one's body is published as a request of its own.
TEST(HttpDecoder, SmugglingShapesPublishTheHiddenRequest) {
  struct Case {
    const char* name;
    std::string first;
    const char* note;
  };
  const std::string hidden = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
  const Case cases[] = {
      {"CL.TE",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "Content-Length and Transfer-Encoding together; framed by Transfer-Encoding"},
      {"TE folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
       "obsolete line folding in a header"},
      {"leading zeros",
       "POST / HTTP/1.1\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0000000000000000000000000000003\r\nabc\r\n0\r\n\r\n",
       nullptr},
      {"CL twice", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
       "Content-Length repeated with different values or not a number"},
      {"chunk past 2^64", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\n",
       "invalid chunk framing; the message ends there"},
      // 2^64 read by a count that wraps is 0, the last chunk: what follows it in the
      // segment (a chunk-looking line, then the request) is looked through line by line.
      {"chunk 2^64 wrapped",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n\r\n0\r\n\r\n",
       "invalid chunk framing; the message ends there"},
  };
  for (const Case& k : cases) {
    HttpHarness h;
    Conn c;
    h.handshake(c);
    h.client(c, k.first + hidden);
    h.server(
        c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << k.name;
    EXPECT_TRUE(contains(ev[0], R"("query":"POST /")")) << k.name << ev[0];
    if (k.note)
      EXPECT_TRUE(contains(ev[0], std::string(R"("message":")") + k.note + "\"")) << k.name << ev[0];
    else
      EXPECT_FALSE(contains(ev[0], R"("error")")) << k.name << ev[0];
    EXPECT_TRUE(contains(ev[1], R"("query":"GET /admin")")) << k.name << ev[1];
    EXPECT_TRUE(contains(ev[1], R"("status_code":403)")) << k.name << ev[1];
    EXPECT_EQ(h.count("http.violations"), 0u) << k.name;
  }
}

// A request with two Content-Lengths that differ: its body ends at the one a request
// follows (a versioned request line, its method upper case), the smaller where both or
// neither do; those bytes may arrive in another segment. A request whose
// Transfer-Encoding does not end in chunked has no body (a server answers 400): the
// chunked body's bytes behind it are passed over line by line to the request they hide.
TEST(HttpDecoder, TheRequestBehindAmbiguousFramingIsFoundInTheSameSegment) {
  struct Case {
    const char* name;
    std::vector<std::string> client;  // segments
    uint64_t body;                    // the first request's body bytes
  };
  const std::string hidden = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
  const Case cases[] = {
      {"CL 3 then 5", {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde" + hidden}, 5},
      {"CL 5 then 3", {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nabcde" + hidden}, 5},
      {"CL 5 then 3, hidden after 3",
       {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nabc" + hidden},
       3},
      {"CL 0 then 2", {"POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 2\r\n\r\nab" + hidden}, 2},
      {"CL 3 then 5, split at 3",
       {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc", "de" + hidden},
       5},
      {"TE chunked then identity",
       {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
        "identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
        hidden},
       0},
  };
  for (const Case& k : cases) {
    HttpHarness h;
    Conn c;
    h.handshake(c);
    for (const std::string& s : k.client) h.client(c, s);
    h.server(
        c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), 2u) << k.name;
    EXPECT_TRUE(contains(ev[0], R"("query":"POST /")")) << k.name << ev[0];
    EXPECT_TRUE(contains(ev[0], k.body ? "Content-Length repeated with different values"
                                       : "Transfer-Encoding without chunked as its last coding"))
        << k.name << ev[0];
    if (k.body) {
      EXPECT_TRUE(contains(ev[0], R"("body":{"bytes":)" + std::to_string(k.body))) << k.name << ev[0];
    } else {
      EXPECT_FALSE(contains(ev[0], R"("request":{"body")")) << k.name << ev[0];
    }
    EXPECT_TRUE(contains(ev[1], R"("query":"GET /admin")")) << k.name << ev[1];
    EXPECT_TRUE(contains(ev[1], R"("status_code":403)")) << k.name << ev[1];
    EXPECT_EQ(h.count("http.unmatched_responses"), 0u) << k.name;
  }
  // A response keeps the first (the server wrote both; what follows may be junk).
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET /a HTTP/1.1\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhijunk");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("response":{"body":{"bytes":2})")) << ev[0];
}

TEST(HttpDecoder, HeadPastTheLimitIsCutAndTheConnectionGoesOn) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  // The first 64 KiB of the head are the event's; the headers past the cut are
  // passed over (but for framing: FramingHeadersPastTheCutStillFrameTheMessage).
  std::string big = "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n";
  while (big.size() < 100'000) big += "X-Filler: " + std::string(100, 'f') + "\r\n";
  big += "\r\nbody";
  for (std::size_t i = 0; i < big.size(); i += 1400) h.client(c, std::string_view(big).substr(i, 1400));
  h.server(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
  h.client(c, "GET /next HTTP/1.1\r\n\r\n");
  h.server(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("query":"POST /big")")) << ev[0].substr(0, 400);
  EXPECT_TRUE(contains(ev[0], R"(head longer than 64 KiB; cut)")) << ev[0].substr(0, 400);
  EXPECT_TRUE(contains(ev[0], R"("client":{"bytes":)" + std::to_string(big.size()))) << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[1], R"("query":"GET /next")")) << ev[1];
  EXPECT_EQ(h.count("http.head_too_large"), 1u);
  EXPECT_EQ(h.count("http.violations"), 0u);
}

// A head past 64 KiB whose framing headers come after the cut (a long cookie or
// header line first): the message is still framed by them, so the body is the
// message's and the next message on the connection is read.
TEST(HttpDecoder, FramingHeadersPastTheCutStillFrameTheMessage) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  const std::string cookie = "Cookie: " + std::string(70'000, 'k') + "\r\n";
  const std::string request = "POST /up HTTP/1.1\r\nHost: a\r\n" + cookie + "Content-Length: 5\r\n\r\nhello";
  for (std::size_t i = 0; i < request.size(); i += 1400)
    h.client(c, std::string_view(request).substr(i, 1400));
  // The response's Content-Length line split across two segments.
  const std::string response = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(70'000, 'v') + "\r\nConte";
  for (std::size_t i = 0; i < response.size(); i += 1400)
    h.server(c, std::string_view(response).substr(i, 1400));
  h.server(c, "nt-Length: 3\r\n\r\nabc");
  h.client(c, "GET /chunked HTTP/1.1\r\n\r\n");
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nX-Long: " + std::string(70'000, 'v') +
      "\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (std::size_t i = 0; i < chunked.size(); i += 1400)
    h.server(c, std::string_view(chunked).substr(i, 1400));
  h.client(c, "GET /next HTTP/1.1\r\n\r\n");
  h.server(c, "HTTP/1.1 204 No Content\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(contains(ev[0], R"("query":"POST /up")")) << ev[0].substr(0, 400);
  EXPECT_TRUE(contains(ev[0], R"("request":{"body":{"bytes":5})")) << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[0], R"("response":{"body":{"bytes":3})")) << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[0], R"("client":{"bytes":)" + std::to_string(request.size())))
      << ev[0].substr(0, 600);
  EXPECT_TRUE(contains(ev[0], R"("server":{"bytes":)" + std::to_string(response.size() + 19)))
      << ev[0].substr(0, 600);
  // Chunked over a Content-Length (RFC 9112 6.3), noted as framing servers may read apart.
  EXPECT_TRUE(contains(ev[1], R"("query":"GET /chunked")")) << ev[1].substr(0, 400);
  EXPECT_TRUE(contains(ev[1], R"("response":{"body":{"bytes":3})")) << ev[1].substr(0, 600);
  EXPECT_TRUE(contains(ev[1], R"(Content-Length and Transfer-Encoding)")) << ev[1].substr(0, 600);
  EXPECT_TRUE(contains(ev[2], R"("query":"GET /next")")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("status_code":204)")) << ev[2];
  EXPECT_EQ(h.count("http.head_too_large"), 3u);
  EXPECT_EQ(h.count("http.ambiguous_framing"), 1u);
  EXPECT_EQ(h.count("http.unmatched_requests") + h.count("http.unmatched_responses"), 0u);
  EXPECT_EQ(h.count("http.violations"), 0u);
}

// event.end is the response's first packet, also when its head spans segments.
TEST(HttpDecoder, EndIsTheResponsesFirstPacket) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  h.client(c, "GET / HTTP/1.1\r\n\r\n");  // one packet: 1 ms per packet in the harness
  h.server(c, "HTTP/1.1 200 OK\r\nContent-");
  h.server(c, "Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("duration":1000000)")) << ev[0];
}

TEST(HttpDecoder, NotHttpOnAnHttpPortDetaches) {
  HttpHarness h;
  Conn c;
  h.handshake(c);
  const std::string junk(30000, '\x01');
  for (int i = 0; i < 3; ++i) h.client(c, junk);
  h.finish();
  EXPECT_EQ(h.count("http.violations"), 1u);
  EXPECT_EQ(h.count(Counter::stream_detached), 1u);
}

// HTTP/2 with prior knowledge (h2c, cleartext gRPC on a web port): the client's
// connection preface ends HTTP/1 decoding of the connection, counted; it had been
// published as an unanswered request "PRI *" and every frame after it skipped as junk.
// The preface split over segments is waited for; HTTP/1 on the port goes on.
TEST(HttpDecoder, Http2PriorKnowledgeEndsHttp1Decoding) {
  using namespace std::string_literals;
  HttpHarness h;
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string settings = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"s;
  Conn a{40001, 80};
  h.handshake(a);
  h.client(a, preface + settings);
  h.server(a, settings + "\x00\x00\x00\x04\x01\x00\x00\x00\x00"s);
  h.client(a,
           "\x00\x00\x04\x00\x01\x00\x00\x00\x03"
           "abcd"s);
  Conn b{40002, 80};
  h.handshake(b);
  h.client(b, preface.substr(0, 10));
  h.client(b, preface.substr(10) + settings);
  Conn web{40003, 80};
  h.handshake(web);
  h.client(web, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(web, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("path":"/p")")) << ev[0];
  EXPECT_EQ(h.count("http.http2_prior_knowledge"), 2u);
  EXPECT_EQ(h.count("http.skipped_bytes"), 0u);
  EXPECT_EQ(h.count("http.unmatched_requests"), 0u);
  EXPECT_EQ(h.count(Counter::stream_detached), 0u);
}

// One Head is parsed into again and again (the decoder's scratch): nothing of the
// head before shows through the next, though its header slots are not cleared.
TEST(HttpParse, HeadParsedAgainKeepsNothingOfTheOneBefore) {
  http::Head h;
  ASSERT_TRUE(
      http::parse_head("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
                       "Transfer-Encoding: chunked\r\nX-1: 1\r\n folded\r\n\r\n",
                       h));
  EXPECT_TRUE(h.chunked && h.has_length);
  EXPECT_NE(h.anomalies, 0);
  ASSERT_TRUE(http::parse_head("HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n", h));
  EXPECT_TRUE(h.response);
  EXPECT_FALSE(h.chunked || h.has_length);
  EXPECT_EQ(h.anomalies, 0);
  EXPECT_EQ(h.content_length, 0u);
  EXPECT_TRUE(h.method.empty() && h.uri.empty());
  EXPECT_EQ(h.n_headers, 1u);
  EXPECT_EQ(h.get("host"), "");
  EXPECT_EQ(h.get("server"), "s");
  ASSERT_TRUE(http::parse_head("GET / HTTP/1.0\r\n\r\n", h));
  EXPECT_FALSE(h.response);
  EXPECT_EQ(h.status, 0);
  EXPECT_TRUE(h.phrase.empty());
  EXPECT_EQ(h.n_headers, 0u);
  EXPECT_EQ(h.dropped_headers, 0u);
}

TEST(Detection, PayloadFindsHttpOnAnyPortAndGivesUpOnOthers) {
  HttpHarness h({80}, true);
  Conn web{41000, 12345};
  h.handshake(web);
  h.client(web, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(web, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  Conn other{41001, 23456};
  h.handshake(other);
  for (int i = 0; i < 5; ++i) h.client(other, "SSH-2.0-OpenSSH\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(contains(ev[0], R"("port":12345)"));
  EXPECT_EQ(h.count(Counter::detect_by_payload), 1u);
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);
}

// Off the HTTP ports, detection takes a request whose method is outside the common
// list (any RFC 9110 token: QUERY, a WebDAV or vendor method, one in lower case) by its
// whole request line, version included (in either case); a vendor's method with a
// target longer than the bytes scanned (the version out of sight); and a status line
// in lower case when the capture missed the request. Each is published with its
// response. Lines of another text protocol that only start like a request (no version,
// a short target) are not taken for HTTP.
TEST(Detection, AnyTokenMethodWithItsVersionIsHttpOnAnyPort) {
  HttpHarness h({80}, true);
  const std::string target = "/upload/" + std::string(400, 'a') + "?k=v";
  struct {
    Conn conn;
    std::string request, response;
  } exchanges[] = {
      {{41000, 4711},
       "QUERY /users HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: "
       "2\r\n\r\n{}",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"},
      {{41010, 4713},
       "get /small http/1.1\r\nHost: example.com\r\n\r\n",
       "http/1.1 200 ok\r\nContent-Length: 2\r\n\r\nhi"},
      {{41011, 2323},
       "STORE_BLOB " + target + " HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc",
       "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"},
      // The server's port first: the request was not captured.
      {{8001, 41012}, "http/1.0 404 not found\r\nContent-Length: 0\r\n\r\n", ""},
  };
  for (auto& x : exchanges) {
    h.handshake(x.conn);
    h.client(x.conn, x.request);
    if (!x.response.empty()) h.server(x.conn, x.response);
  }
  for (uint16_t port : {4712, 4714}) {
    Conn other{static_cast<uint16_t>(port + 37000), port};
    h.handshake(other);
    for (int i = 0; i < 5; ++i)
      h.client(other, port == 4712 ? "HELLO /there friend\r\n" : "NOTE /short text\r\n");
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("method":"QUERY")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status_code":200)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("port":4711)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("method":"get")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":200)")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("method":"STORE_BLOB")")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("status_code":201)")) << ev[2];
  EXPECT_TRUE(contains(ev[2], R"("port":2323)")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("status_code":404)")) << ev[3];
  EXPECT_EQ(h.count(Counter::detect_by_payload), 4u);
  EXPECT_EQ(h.count(Counter::detect_undetected), 2u);
}

// A connection off the HTTP ports picked up without its SYN: the first packet seen
// may be the server's (the tail of a body), so the first sender is not known to be the
// client. The client's request line is still taken for HTTP, and the request is
// published with its response; before, only the response's status line was found
// (an unmatched response, its request lost). The same for a connection first seen at
// the server's SYN-ACK.
TEST(Detection, ConnectionPickedUpMidStreamIsFoundByTheClientsRequest) {
  HttpHarness h({80}, true);
  Conn mid{41020, 8081};
  h.server(mid, std::string(900, 'b'));
  h.client(mid, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(mid, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  Conn synack{41021, 8082};
  h.frame(false, synack, tcp_flag::kSyn | tcp_flag::kAck, synack.sseq++, "");
  h.client(synack, "GET /after-synack HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(synack, "HTTP/1.1 204 No Content\r\n\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(contains(ev[0], R"("method":"GET")")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status_code":200)")) << ev[0];
  EXPECT_TRUE(contains(ev[0], R"("status":"OK")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("path":"/after-synack")")) << ev[1];
  EXPECT_TRUE(contains(ev[1], R"("status_code":204)")) << ev[1];
  EXPECT_EQ(h.count(Counter::detect_by_payload), 2u);
}

// Bytes that are a protocol the run does not decode (a TLS ClientHello with only HTTP
// enabled) end detection at once: the connection is undetected after that one segment,
// and later segments are not looked at (an encrypted stream that happened to show
// "GET " would otherwise be read as HTTP).
TEST(Detection, ProtocolNotEnabledEndsDetectionAtItsFirstSegment) {
  HttpHarness h({80}, true);
  Conn tls{41002, 12346};
  h.handshake(tls);
  std::string hello = std::string("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", 11);
  hello += std::string(32, '\x5a');
  h.client(tls, hello);
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);  // at once, not after 4 segments
  h.client(tls, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(tls, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const auto ev = h.finish();
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(h.count(Counter::detect_by_payload), 0u);
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);
}

// HTTP through a SOCKS proxy (port 1080, no decoder's): the handshake (SOCKS 5 with and
// without user/password, SOCKS 4a) is passed over and detection finds the HTTP it
// carries, as Zeek finds it; a refused request carries nothing.
TEST(Detection, HttpThroughASocksProxyIsFound) {
  using namespace std::string_literals;
  HttpHarness h({80}, true);
  const std::string get = "GET /p HTTP/1.1\r\nHost: a.example\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  // Each exchange in its own segment, as clients and proxies send them; then HTTP.
  auto run = [&](uint16_t port, std::initializer_list<std::pair<bool, std::string>> handshake, bool http) {
    Conn c{port, 1080};
    h.handshake(c);
    for (const auto& [from_client, bytes] : handshake) from_client ? h.client(c, bytes) : h.server(c, bytes);
    if (!http) return;
    h.client(c, get);
    h.server(c, ok);
  };
  const std::string reply = "\x05\x00\x00\x01\x0a\x00\x00\x01\x00\x50"s;
  run(41010,
      {{true, "\x05\x01\x00"s},
       {false, "\x05\x00"s},
       {true,
        "\x05\x01\x00\x03\x09"
        "a.example\x00\x50"s},
       {false, reply}},
      true);
  run(41011,
      {{true, "\x05\x02\x00\x02"s},
       {false, "\x05\x02"s},
       {true, "\x01\x04user\x04pass"s},
       {false, "\x01\x00"s},
       {true, "\x05\x01\x00\x01\x0a\x00\x00\x02\x00\x50"s},
       {false, reply}},
      true);
  run(41012,
      {{true,
        "\x04\x01\x00\x50\x00\x00\x00\x01me\x00"
        "a.example\x00"s},
       {false, "\x00\x5a\x00\x00\x00\x00\x00\x00"s}},
      true);
  run(41013,
      {{true, "\x05\x01\x00"s},
       {false, "\x05\x00"s},
       {true, "\x05\x01\x00\x01\x0a\x00\x00\x03\x00\x50"s},
       {false, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"s}},
      false);  // refused
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("full":"http://a.example:1080/p")")) << e;
    EXPECT_TRUE(contains(e, R"("status_code":200)")) << e;
    EXPECT_TRUE(contains(e, R"("port":1080)")) << e;
  }
  EXPECT_EQ(h.count(Counter::detect_socks), 3u);
  EXPECT_EQ(h.count(Counter::detect_by_payload), 3u);
  EXPECT_EQ(h.count(Counter::detect_undetected), 0u);
}

TEST(Detection, ProxyProtocolHeaderBeforeTheClientsBytesIsPassedOver) {
  // A load balancer's PROXY header (v1 text, v2 binary) first on a connection: passed
  // over, whether it shares its segment with the request or comes alone, on the port's
  // decoder and through payload detection; HTTP had read "PROXY" as the method and the
  // request line after it as a header. So too on a connection picked up mid-stream at
  // its first segment (a capture begun just after the SYN: nDPI's haproxy.pcap is that
  // one packet, the header and a ClientHello).
  using namespace std::string_literals;
  HttpHarness h({80}, true);
  const std::string get = "GET /p HTTP/1.1\r\nHost: a.example\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string v1 = "PROXY TCP4 192.0.2.10 192.0.2.20 51000 80\r\n";
  const std::string v2 =
      "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A\x21\x11\x00\x0C"
      "\xC0\x00\x02\x0A\xC0\x00\x02\x14\xC7\x38\x00\x50"s;
  auto run = [&](uint16_t cport, uint16_t sport, std::vector<std::string> client_first, bool syn = true) {
    Conn c{cport, sport};
    if (syn) h.handshake(c);
    for (const std::string& b : client_first) h.client(c, b);
    h.server(c, ok);
  };
  run(42001, 80, {v1 + get});           // by port, one segment
  run(42002, 80, {v1, get});            // by port, the header alone
  run(42003, 80, {v2 + get});           // v2
  run(42004, 8888, {v1 + get});         // payload detection, one segment
  run(42005, 8888, {v2, get});          // payload detection, the header alone
  run(42006, 80, {v1 + get}, false);    // mid-stream, by port
  run(42007, 8888, {v2 + get}, false);  // mid-stream, payload detection
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 7u);
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("method":"GET")")) << e;
    EXPECT_TRUE(contains(e, R"("path":"/p")")) << e;
    EXPECT_TRUE(contains(e, R"("status_code":200)")) << e;
    EXPECT_FALSE(contains(e, "PROXY")) << e;
    EXPECT_FALSE(contains(e, R"("error")")) << e;
  }
  EXPECT_EQ(h.count(Counter::detect_proxy_protocol), 7u);
  EXPECT_EQ(h.count(Counter::detect_by_payload), 3u);
}

// Plaintext HTTP on 443: a request line with its version is HTTP beyond doubt (a
// decisive probe), whether the connection was seen from its SYN or picked up mid-stream
// (detect.port_overruled). One without (HTTP/0.9's shape) goes to HTTP from its start
// when the port's decoder refuses it (detect.port_refused), seen from its SYN only:
// mid-stream bytes refuse every decoder.
TEST(Detection, ProtocolOnAPortAnotherClaimsIsFoundByItsBytes) {
  test::StreamTest h;
  const uint16_t web[] = {80}, tls[] = {443};
  h.decoders.enable("http", web);
  h.decoders.enable("tls", tls);
  h.decoders.enable_detection();
  h.start();
  Conn plain{41000, 443};
  h.handshake(plain);
  h.client(plain, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(plain, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  Conn bare{41003, 443};
  h.handshake(bare);
  h.client(bare, "GET /s\r\n");
  Conn mid{41001, 443};
  h.client(mid, "GET /q HTTP/1.1\r\nHost: x\r\n\r\n");
  Conn mid_bare{41002, 443};
  h.client(mid_bare, "GET /r\r\n");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  std::string paths;
  for (const auto& e : ev) paths += e;
  EXPECT_TRUE(contains(paths, R"("path":"/p")"));
  EXPECT_TRUE(contains(paths, R"("status_code":200)"));
  EXPECT_TRUE(contains(paths, R"("path":"/q")"));
  EXPECT_TRUE(contains(paths, R"("path":"/s")"));
  EXPECT_FALSE(contains(paths, R"("path":"/r")"));
  EXPECT_EQ(h.count(Counter::detect_port_refused), 1u);
  EXPECT_EQ(h.count(Counter::detect_port_overruled), 2u);
  EXPECT_EQ(h.count("tls.violations"), 1u);  // the bare mid-stream one
}

// A ClientHello naming a.example (TLS 1.2, one suite), and a ServerHello choosing it.
std::string client_hello_a_example() {
  using namespace std::string_literals;
  const std::string sni =
      "\x00\x00\x00\x0e\x00\x0c\x00\x00\x09"
      "a.example"s;
  const std::string ch_body = "\x03\x03"s + std::string(32, '\x11') + "\x00\x00\x02\xc0\x2f\x01\x00"s +
                              static_cast<char>(0) + static_cast<char>(sni.size()) + sni;
  const std::string ch_hs = "\x01\x00"s + static_cast<char>(ch_body.size() >> 8) +
                            static_cast<char>(ch_body.size() & 0xff) + ch_body;
  return "\x16\x03\x01\x00"s + static_cast<char>(ch_hs.size()) + ch_hs;
}
std::string server_hello_tls12() {
  using namespace std::string_literals;
  const std::string sh_body = "\x03\x03"s + std::string(32, '\x22') + "\x00\xc0\x2f\x00\x00\x00"s;
  const std::string sh_hs = "\x02\x00\x00"s + static_cast<char>(sh_body.size()) + sh_body;
  return "\x16\x03\x03\x00"s + static_cast<char>(sh_hs.size()) + sh_hs;
}

// TLS from a connection's first byte on another protocol's port (HTTPS on 80, a
// database's TLS on its plaintext port): HTTP had skipped the records as bytes before a
// message and MySQL read them as packets, both without a word. The TLS decoder takes the
// connection, with payload detection on or off; plaintext on the port stays with the
// port's decoder, and a connection picked up mid-stream too unless payload detection is
// on (a ClientHello record is decisive: detect.port_overruled).
TEST(Detection, TlsFromTheFirstByteOnAnotherProtocolsPortGoesToTls) {
  for (const bool detection : {false, true}) {
    test::StreamTest h;
    const uint16_t web[] = {80}, db[] = {3306}, tls[] = {443};
    h.decoders.enable("http", web);
    h.decoders.enable("mysql", db);
    h.decoders.enable("tls", tls);
    if (detection) h.decoders.enable_detection();
    h.start();
    const std::string hello = client_hello_a_example(), server_hello = server_hello_tls12();
    for (const uint16_t port : {uint16_t{80}, uint16_t{3306}, uint16_t{443}}) {
      Conn c{static_cast<uint16_t>(41000 + port % 1000), port};
      h.handshake(c);
      h.client(c, hello);
      h.server(c, server_hello);
    }
    Conn plain{42000, 80};
    h.handshake(plain);
    h.client(plain, "GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
    h.server(plain, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    Conn mid{42001, 80};
    h.client(mid, hello);
    const auto ev = h.finish();
    ASSERT_EQ(ev.size(), detection ? 5u : 4u) << detection;
    int tls_events = 0, answered = 0;
    for (const auto& e : ev) {
      if (!contains(e, R"("type":"tls")")) continue;
      ++tls_events;
      EXPECT_TRUE(contains(e, R"("server_name":"a.example")")) << e;
      answered += contains(e, R"("cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")");
    }
    EXPECT_EQ(tls_events, detection ? 4 : 3) << detection;
    EXPECT_EQ(answered, 3) << detection;
    int paths = 0;
    for (const auto& e : ev) paths += contains(e, R"("path":"/p")");
    EXPECT_EQ(paths, 1);
    EXPECT_EQ(h.count(Counter::detect_tls_on_port), 2u) << detection;
    EXPECT_EQ(h.count(Counter::detect_port_overruled), detection ? 1u : 0u) << detection;
    EXPECT_EQ(h.count("mysql.unmatched_responses"), 0u);
  }
}

// A protocol on another's port (HTTP through MySQL's, Redis through memcached's, TLS
// through Redis's): first bytes that another protocol's decisive probe names, and none of
// the port's, take the connection to that protocol from its start, or leave it undecoded
// where the run does not decode that protocol (TLS here: Redis would read the records as
// bytes of no command). Bytes the port's protocol may send keep the port's decoder: a
// Redis inline command that reads like an HTTP request line, a memcached text command
// (Redis takes the same line inline, so it names neither).
TEST(Detection, DecisiveFirstBytesTakeAConnectionFromItsPortsDecoder) {
  test::StreamTest h;
  const uint16_t web[] = {80}, sql[] = {3306}, kv[] = {6379}, mc[] = {11211};
  h.decoders.enable("http", web);
  h.decoders.enable("mysql", sql);
  h.decoders.enable("redis", kv);
  h.decoders.enable("memcache", mc);
  h.decoders.enable_detection();
  h.start();
  // A connection from its SYN: the client's bytes, the server's answer.
  const auto exchange = [&h](uint16_t client_port, uint16_t server_port, std::string_view ask,
                             std::string_view answer) {
    Conn c{client_port, server_port};
    h.handshake(c);
    h.client(c, ask);
    h.server(c, answer);
  };
  exchange(41000, 3306, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  exchange(41001, 6379, "GET /key\r\n", "$-1\r\n");             // inline, on Redis's port
  exchange(41002, 11211, "get k\r\n", "END\r\n");               // on memcached's
  exchange(41003, 11211, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");  // Redis on memcached's
  exchange(41004, 6379, client_hello_a_example(), server_hello_tls12());
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  std::map<std::string, int> types;
  for (const auto& e : ev) {
    for (const char* t : {"http", "redis", "memcache", "mysql"})
      if (contains(e, std::string(R"("type":")") + t + "\"")) ++types[t];
    EXPECT_FALSE(contains(e, R"("status":"Error")")) << e;
  }
  EXPECT_EQ(types["http"], 1);
  EXPECT_EQ(types["redis"], 2);  // the inline GET on its port, PING on memcached's
  EXPECT_EQ(types["memcache"], 1);
  EXPECT_EQ(types["mysql"], 0);
  EXPECT_EQ(h.count(Counter::detect_port_overruled), 3u);
  EXPECT_EQ(h.count(Counter::detect_port_refused), 0u);
  EXPECT_EQ(h.count("redis.malformed") + h.count("redis.violations") + h.count("mysql.violations") +
                h.count("memcache.violations"),
            0u);
}

// A CONNECT tunnel carries what its first bytes show, either side's: TLS from a
// ClientHello (sent ahead of the proxy's answer too), HTTP to the far end (in
// segments too short to tell by alone; as a proxy carries it and Packetbeat and Zeek
// read it), and a protocol no decoder takes (SMTP: the server speaks first) leaves the
// flow alone. Line ends after the proxy's answer are not the tunnel's.
TEST(Detection, ConnectTunnelIsFoundByItsFirstBytes) {
  for (const bool detection : {false, true}) {
    test::StreamTest h;
    const uint16_t web[] = {3128}, tls[] = {443};
    h.decoders.enable("http", web);
    h.decoders.enable("tls", tls);
    if (detection) h.decoders.enable_detection();
    h.start();
    Conn plain{43000, 3128};
    h.handshake(plain);
    h.client(plain, "CONNECT www.example:80 HTTP/1.1\r\nHost: www.example:80\r\n\r\n");
    h.server(plain, "HTTP/1.1 200 Connection established\r\n\r\n\r\n");
    h.client(plain, "GE");
    h.client(plain, "T /inner HTTP/1.1\r\nHost: www.example\r\n\r\n");
    h.server(plain, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    h.client(plain, "GET /inner2 HTTP/1.1\r\nHost: www.example\r\n\r\n");
    h.server(plain, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    Conn secure{43001, 3128};
    h.handshake(secure);
    h.client(secure, "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
    h.client(secure, client_hello_a_example());
    h.server(secure, "HTTP/1.1 200 Connection established\r\n\r\n");
    h.server(secure, server_hello_tls12());
    Conn mail{43002, 3128};
    h.handshake(mail);
    h.client(mail, "CONNECT mx.example:25 HTTP/1.1\r\n\r\n");
    h.server(mail, "HTTP/1.0 200 OK\r\n\r\n");
    h.server(mail, "220 mx.example ESMTP ready\r\n");
    h.client(mail, "EHLO client.example\r\n");
    h.server(mail, "250 mx.example\r\n");
    const auto ev = h.finish();
    std::vector<std::string> seen;
    for (const auto& e : ev) {
      if (contains(e, R"("type":"tls")")) {
        EXPECT_TRUE(contains(e, R"("server_name":"a.example")")) << e;
        seen.push_back("tls");
      } else if (contains(e, R"("method":"CONNECT")")) {
        EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
        seen.push_back("connect");
      } else if (contains(e, R"("path":"/inner")")) {
        EXPECT_TRUE(contains(e, R"("status_code":200)")) << e;
        seen.push_back("/inner");
      } else if (contains(e, R"("path":"/inner2")")) {
        EXPECT_TRUE(contains(e, R"("status_code":404)")) << e;
        seen.push_back("/inner2");
      } else {
        seen.push_back(e);
      }
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::string>{"/inner", "/inner2", "connect", "connect", "connect", "tls"}))
        << detection;
    EXPECT_EQ(h.count(Counter::stream_tunnels), 3u) << detection;
    EXPECT_EQ(h.count(Counter::detect_undetected), 1u) << detection;  // the SMTP one
    EXPECT_EQ(h.count("http.unmatched_responses"), 0u) << detection;
    EXPECT_EQ(h.count("http.violations"), 0u) << detection;
    EXPECT_EQ(h.count("tls.violations"), 0u) << detection;
  }
}

// A request line its client sent in pieces, on a port no decoder claims: the segments
// that follow in order are looked at together, and the request is read whole from its
// first byte and timed by its first packet (it had been found by "T /split HTTP/1.1"
// alone: method "T"; or not at all). Bytes that never tell a protocol are counted
// undetected when the connection ends.
// Off the HTTP ports, a capture point that merges the two directions wrote each
// answer before the request it acknowledges. The first one's status line tells HTTP
// (the server's side): the SYNs seen while the connection was probed tell where the
// client's bytes begin, so the answer waits for the request it acknowledges and the
// two pair, as on port 80; the keep-alive exchanges after it too. Before, the answer
// went out unmatched and the request alone. And a request sent in its SYN (TCP Fast
// Open) is found there and read from the SYN's number plus one, with no gap.
TEST(Detection, AnswerWrittenBeforeItsRequestWaitsForIt) {
  HttpHarness h({80}, true);
  Conn c{41030, 8081};
  h.handshake(c);
  for (const char* path : {"/one", "/two"}) {
    const std::string req = std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    Conn ahead = c;  // the answer acknowledges the request written after it
    ahead.cseq += static_cast<uint32_t>(req.size());
    h.frame(false, ahead, tcp_flag::kAck | tcp_flag::kPsh, c.sseq, resp);
    h.client(c, req);  // sent before the answer came: it acknowledges none of it
    c.sseq += static_cast<uint32_t>(resp.size());
  }
  // TCP Fast Open: the request in the SYN, its bytes from the SYN's number plus one.
  Conn tfo{41031, 8082};
  const std::string req = "GET /three HTTP/1.1\r\nHost: x\r\n\r\n";
  h.frame(true, tfo, tcp_flag::kSyn, tfo.cseq, req);
  tfo.cseq += 1 + static_cast<uint32_t>(req.size());
  h.frame(false, tfo, tcp_flag::kSyn | tcp_flag::kAck, tfo.sseq++, "");
  h.server(tfo, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  h.client(tfo, "GET /four HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(tfo, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(contains(ev[0], R"("path":"/one")")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("path":"/two")")) << ev[1];
  EXPECT_TRUE(contains(ev[2], R"("path":"/three")")) << ev[2];
  EXPECT_TRUE(contains(ev[3], R"("path":"/four")")) << ev[3];
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("status_code":200)")) << e;
    EXPECT_TRUE(contains(e, R"("status":"OK")")) << e;
  }
  EXPECT_EQ(h.count(Counter::detect_by_payload), 2u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_waited_for_peer), 2u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_gaps), 0u);
}

TEST(Detection, RequestLineSentInPiecesIsFoundAndReadWhole) {
  HttpHarness h({80}, true);
  const std::string rest = "T /split HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Conn halves{44000, 8888};
  h.handshake(halves);
  h.client(halves, "GE");
  h.client(halves, rest);
  h.server(halves, ok);
  Conn typed{44001, 8888};
  h.handshake(typed);
  for (const char* piece : {"G", "E", "T", " ", "/"}) h.client(typed, piece);
  h.client(typed, "split HTTP/1.1\r\nHost: x\r\n\r\n");
  h.server(typed, ok);
  Conn binary{44002, 9999};
  h.handshake(binary);
  h.client(binary, std::string("\x01\x02", 2));
  h.client(binary, std::string("\x03", 1));
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 2u);
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("method":"GET")")) << e;
    EXPECT_TRUE(contains(e, R"("path":"/split")")) << e;
    EXPECT_TRUE(contains(e, R"("client":{"bytes":32,)")) << e;
  }
  // From the first piece to the answer: 2 ms (two pieces), 6 ms (six).
  EXPECT_TRUE(contains(ev[0], R"("duration":2000000)")) << ev[0];
  EXPECT_TRUE(contains(ev[1], R"("duration":6000000)")) << ev[1];
  EXPECT_EQ(h.count(Counter::detect_by_payload), 2u);
  EXPECT_EQ(h.count(Counter::detect_undetected), 1u);
}

// Bytes read while probing that a later segment does not follow in order reach no
// decoder: counted (detect.probe_bytes_dropped). A hole after them drops them all; a
// retransmission of their end drops those before it; one of all of them drops none.
TEST(Detection, ProbedBytesNotKeptAreCounted) {
  HttpHarness h({80}, true);
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Conn hole{44000, 8888};
  h.handshake(hole);
  h.client(hole, "0123456789");  // matches nothing
  hole.cseq += 5;                // five bytes the capture lost
  h.client(hole, "GET /a HTTP/1.1\r\n\r\n");
  h.server(hole, ok);
  Conn again{44001, 8888};
  h.handshake(again);
  h.client(again, "0123456789");
  again.cseq -= 4;  // its last four sent again, then the request
  h.client(again, "6789GET /b HTTP/1.1\r\n\r\n");
  h.server(again, ok);
  Conn whole{44002, 8888};
  h.handshake(whole);
  h.client(whole, "0123456789");
  whole.cseq -= 10;  // all of it sent again
  h.client(whole, "0123456789GET /c HTTP/1.1\r\n\r\n");
  h.server(whole, ok);
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(h.count(Counter::detect_by_payload), 3u);
  EXPECT_EQ(h.count(Counter::detect_probe_bytes_dropped), 10u + 6u);
}

// The same ports taken again by a new connection (a client reusing its port, hosts
// behind one NAT address): a SYN other than the one that opened the connection, or any
// SYN once a connection whose opening was not seen has closed, ends it and begins
// another with its own sequence numbers. (Its bytes had been read as the old
// connection's, far from its numbers: a gap, the request unanswered.) A SYN sent again
// keeps the connection.
TEST(TcpConnections, PortsReusedByANewConnectionBeginAnother) {
  HttpHarness h;
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  auto exchange = [&](Conn& c, const std::string& path) {
    h.client(c, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    h.server(c, ok);
  };
  Conn first{45000, 80, 1000, 5000};
  h.frame(true, first, tcp_flag::kSyn, first.cseq, "");  // sent twice: one connection
  h.handshake(first);
  exchange(first, "/first");
  h.frame(true, first, tcp_flag::kRst, first.cseq, "");
  Conn second{45000, 80, 900000, 700000};  // the same ports at once, other numbers
  h.handshake(second);
  exchange(second, "/second");
  h.frame(true, second, tcp_flag::kFin | tcp_flag::kAck, second.cseq++, "");
  h.frame(false, second, tcp_flag::kFin | tcp_flag::kAck, second.sseq++, "");
  Conn third{45000, 80, 3'000'000'000u, 12};
  h.handshake(third);
  exchange(third, "/third");
  Conn midstream{45001, 80, 77777, 88888};  // picked up after its SYN
  exchange(midstream, "/midstream");
  h.frame(true, midstream, tcp_flag::kFin | tcp_flag::kAck, midstream.cseq++, "");
  Conn after{45001, 80, 2'000'000, 3'000'000};
  h.handshake(after);
  exchange(after, "/after");
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 5u);
  const char* paths[] = {"/first", "/second", "/third", "/midstream", "/after"};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(contains(ev[i], std::string(R"("path":")") + paths[i] + "\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
  }
  EXPECT_EQ(h.count(Counter::stream_port_reuse), 3u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_gaps), 0u);
  EXPECT_EQ(h.count("http.unmatched_requests"), 0u);
}

// A capture point that merges the two directions (a TAP's two ports, a SPAN of both)
// may write an answer before the request it acknowledges. The answer waits for the
// request's bytes and each request pairs with its own answer; the exchange's duration
// is 0, not below it. (Each such answer had gone out unmatched and every later request
// on the connection had taken the next request's answer.)
TEST(TcpConnections, AnswersCapturedBeforeTheirRequestsPairAsSent) {
  HttpHarness h;
  Conn c{47000, 80};
  h.handshake(c);
  for (int i = 0; i < 4; ++i) {
    const std::string req = "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string resp = "HTTP/1.1 20" + std::to_string(i) + " OK\r\nContent-Length: 0\r\n\r\n";
    if (i % 2 == 0) {
      h.client(c, req);
      h.server(c, resp);
      continue;
    }
    Conn answered = c;  // the answer acknowledges the request, not seen yet
    answered.cseq += static_cast<uint32_t>(req.size());
    h.frame(false, answered, tcp_flag::kAck | tcp_flag::kPsh, c.sseq, resp);
    h.client(c, req);
    c.sseq += static_cast<uint32_t>(resp.size());
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(contains(ev[i], "\"path\":\"/r" + std::to_string(i) + "\"")) << ev[i];
    EXPECT_TRUE(contains(ev[i], "\"status_code\":20" + std::to_string(i))) << ev[i];
    EXPECT_TRUE(contains(ev[i], R"("status":"OK")")) << ev[i];
    if (i % 2) {
      EXPECT_TRUE(contains(ev[i], R"("duration":0,)")) << ev[i];
    }
  }
  EXPECT_EQ(h.count(Counter::tcp_reasm_waited_for_peer), 2u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_wait_given_up), 0u);
  EXPECT_EQ(h.count(Counter::tcp_reasm_gaps), 0u);
}

// One direction tagged and the other not, or each with its own tag (a SPAN of a trunk,
// traffic routed between VLANs): two flows, one TCP conversation, its requests paired
// with their responses as Packetbeat and Zeek pair them (they had been two connections,
// each request unanswered and each response unmatched).
TEST(TcpConnections, DirectionsTaggedDifferentlyAreOneConnection) {
  HttpHarness h;
  struct Way {
    uint16_t client_vlan, server_vlan;
  };
  uint16_t port = 46000;
  for (const Way w : {Way{10, 0}, Way{0, 10}, Way{10, 20}}) {
    Conn c{port++, 80, 1000, 5000};
    auto send = [&](bool from_client, uint8_t flags, uint32_t& seq, std::string_view text) {
      const uint16_t vlan = from_client ? w.client_vlan : w.server_vlan;
      test::Frame f;
      if (vlan)
        f.eth(0x8100, from_client ? 1 : 2, from_client ? 2 : 1).vlan(vlan, 0x0800);
      else
        f.eth(0x0800, from_client ? 1 : 2, from_client ? 2 : 1);
      if (from_client)
        f.ipv4("10.0.0.1", "10.0.0.2", 6).tcp(c.client_port, 80, flags, seq, c.sseq);
      else
        f.ipv4("10.0.0.2", "10.0.0.1", 6).tcp(80, c.client_port, flags, seq, c.cseq);
      f.text(text);
      h.push(f);
      seq += static_cast<uint32_t>(text.size()) + ((flags & tcp_flag::kSyn) ? 1 : 0);
    };
    send(true, tcp_flag::kSyn, c.cseq, "");
    send(false, tcp_flag::kSyn | tcp_flag::kAck, c.sseq, "");
    send(true, tcp_flag::kAck | tcp_flag::kPsh, c.cseq, "GET /tagged HTTP/1.1\r\nHost: x\r\n\r\n");
    send(false, tcp_flag::kAck | tcp_flag::kPsh, c.sseq, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  }
  const auto ev = h.finish();
  ASSERT_EQ(ev.size(), 3u);
  for (const auto& e : ev) {
    EXPECT_TRUE(contains(e, R"("path":"/tagged")")) << e;
    EXPECT_TRUE(contains(e, R"("status_code":200)")) << e;
  }
  EXPECT_EQ(h.count("http.unmatched_requests"), 0u);
  EXPECT_EQ(h.count("http.unmatched_responses"), 0u);
}

TEST(Detection, BuiltInDatabasePassesOverDecodersTheRunDoesNotEnable) {
  // The database built with tapbeat holds every decoder's probes; a run that enables
  // Redis alone must not take an HTTP request for anything.
  DecoderSet set;
  const uint16_t p[] = {6379};
  set.enable("redis", p);
  set.enable_detection();
  const PayloadDetector* d = set.plan().detector;
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->precompiled());
  PayloadDetector::Scratch scratch(*d);
  const auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  // HTTP's bytes are recognised as a protocol this run does not decode, not taken.
  EXPECT_EQ(d->classify(scratch, bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true),
            PayloadDetector::kNotEnabled);
  EXPECT_EQ(d->classify(scratch, bytes("*1\r\n$4\r\nPING\r\n"), true), decoder_index("redis"));
  EXPECT_EQ(d->classify(scratch, bytes("*1\r\n$4\r\nPING\r\n"), false), -1);  // client_only probe
  EXPECT_EQ(d->classify(scratch, bytes("SSH-2.0-OpenSSH\r\n"), true), -1);    // no probe matches
}

// The wide probes (a request line read to its version) sit in a database of their own,
// read only where no other probe matches: what they alone tell is found as before,
// for payload detection and on a port another protocol claims.
TEST(Detection, WideProbesTellWhatNoOtherProbeMatches) {
  const auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  const std::string_view query = "QUERY /users HTTP/1.1\r\nHost: x\r\n\r\n";  // a wide probe's alone
  const std::string_view get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string_view greeting{
      "\x4a\x00\x00\x00\x0a"
      "8.0.36\x00",
      12};  // MySQL's, from the server
  {
    DecoderSet set;
    const uint16_t web[] = {80}, sql[] = {3306};
    set.enable("http", web);
    set.enable("mysql", sql);
    set.enable_detection();
    const PayloadDetector* d = set.plan().detector;
    ASSERT_NE(d, nullptr);
    PayloadDetector::Scratch scratch(*d);
    const int http = decoder_index("http"), mysql = decoder_index("mysql");
    EXPECT_EQ(d->classify(scratch, bytes(query), true), http);
    EXPECT_EQ(d->classify(scratch, bytes(get), true), http);
    EXPECT_EQ(d->classify(scratch, bytes(query), false), -1);  // client_only
    // On MySQL's port: HTTP's decisive probes take the connection (GET's narrow probe is
    // not decisive; the wide one that reads on to the version is); MySQL's greeting stays.
    EXPECT_EQ(d->overrule(scratch, bytes(query), true, mysql), http);
    EXPECT_EQ(d->overrule(scratch, bytes(get), true, mysql), http);
    EXPECT_EQ(d->overrule(scratch, bytes(greeting), false, mysql), -1);
    EXPECT_EQ(d->overrule(scratch, bytes("SSH-2.0-OpenSSH\r\n"), true, mysql), -1);
  }
  {
    DecoderSet set;  // HTTP not enabled: its bytes are a protocol not decoded, either way
    const uint16_t p[] = {53};
    set.enable("dns", p);
    set.enable_detection();
    const PayloadDetector* d = set.plan().detector;
    ASSERT_NE(d, nullptr);
    PayloadDetector::Scratch scratch(*d);
    EXPECT_EQ(d->classify(scratch, bytes(query), true), PayloadDetector::kNotEnabled);
    EXPECT_EQ(d->classify(scratch, bytes(get), true), PayloadDetector::kNotEnabled);
    EXPECT_EQ(d->classify(scratch, bytes("SSH-2.0-OpenSSH\r\n"), true), -1);
  }
}

TEST(Detection, HttpRequestWithARunOfBlanksBeforeItsTarget) {
  DecoderSet set;
  const uint16_t p[] = {80};
  set.enable("http", p);
  set.enable_detection();
  PayloadDetector::Scratch scratch(*set.plan().detector);
  const std::string_view line = "GET                  /aaaa_very_long_uri HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(set.plan().detector->classify(scratch,
                                          {reinterpret_cast<const uint8_t*>(line.data()), line.size()}, true),
            decoder_index("http"));
}

TEST(Detection, NoProbesNoDatabase) {
  DecoderSet set;
  const uint16_t p[] = {67};
  set.enable("dhcpv4", p);
  set.enable_detection();
  EXPECT_EQ(set.plan().detector, nullptr);
}

TEST(Detection, DuplicatePortsAreAConfigError) {
  DecoderSet set;
  const uint16_t p[] = {8053};
  set.enable("dns", p);
  EXPECT_THROW(set.enable("http", p), std::invalid_argument);
}

}  // namespace
}  // namespace tapbeat
