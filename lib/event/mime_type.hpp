// The MIME type of a value's bytes, as Beats' detect_mime_type processor tells it:
// file signatures first (the first 8 KiB: images, audio, video, fonts, documents,
// archives, executables), then the content sniffing of the WHATWG MIME Sniffing
// standard as Go's net/http runs it (the first 512 bytes: HTML, XML, PDF, BOMs, media,
// text), and text that is a whole JSON value or an XML element told apart from plain
// text. Bytes that are none of these give no type (Beats leaves the target unset).
//
// Thread-safety: pure functions; the JSON check uses the caller's parser.
#pragma once

#include <string_view>

namespace simdjson::dom {
class parser;
}

namespace tapbeat {

// The type of `data` ("image/png", "text/html; charset=utf-8", ...), or "" for none.
// `json` parses the text that sniffing finds plain, to tell JSON from it.
std::string_view detect_mime_type(std::string_view data, simdjson::dom::parser& json);

// The WHATWG MIME Sniffing standard's answer for the first 512 bytes of data, as
// Go's http.DetectContentType gives it ("application/octet-stream" when nothing fits).
std::string_view sniff_content_type(std::string_view data);

// Whether data opens with one whole XML element, as Go's encoding/xml reads it
// strictly: text, comments, processing instructions and a DOCTYPE before it; tags
// nested and closed in order, attributes quoted, entities known or numeric.
bool xml_element(std::string_view data);

}  // namespace tapbeat
