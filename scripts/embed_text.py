#!/usr/bin/env python3
"""Writes a C++ source that holds a text file as a std::string_view constant.

usage: embed_text.py INPUT OUTPUT NAMESPACE::NAME"""
import sys

src, out, qualified = sys.argv[1:4]
ns, name = qualified.rsplit("::", 1)
text = open(src, encoding="utf-8").read()
delim = "txt"
while ")" + delim + '"' in text:
    delim += "x"
# Raw string literals are split in pieces well below compilers' literal limits.
pieces = [text[i:i + 60000] for i in range(0, len(text), 60000)] or [""]
with open(out, "w", encoding="utf-8") as f:
    f.write(f"// Generated from {src.rsplit('/', 1)[-1]} by scripts/embed_text.py.\n")
    f.write("#include <string_view>\n\n")
    f.write(f"namespace {ns} {{\n")
    f.write(f"extern const std::string_view {name};\n")
    f.write(f"static const char {name}_data[] =\n")
    for p in pieces:
        f.write(f'    R"{delim}({p}){delim}"\n')
    f.write(";\n")
    f.write(f"const std::string_view {name}({name}_data, sizeof {name}_data - 1);\n")
    f.write(f"}}  // namespace {ns}\n")
