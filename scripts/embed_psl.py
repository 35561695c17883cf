#!/usr/bin/env python3
"""Writes the Public Suffix List as a C++ source holding the lookup table that
PublicSuffixList::bundled() reads as it is: the rules read, and the open-addressing
table built, exactly as PublicSuffixList::parse() reads and builds them at run time
(lib/decode/dns/public_suffix.cpp: first word of a line, // comments, ASCII letters
lower-cased, '!' exception and '*.' wildcard rules, every name above a rule marked as
one, FNV-1a 64 over the name's bytes from the last to the first, linear probing).
Nothing of it is parsed or hashed at start-up.

usage: embed_psl.py public_suffix_list.dat OUTPUT.cpp"""
import re
import sys

RULE, WILDCARD, EXCEPTION, PARENT = 1, 2, 4, 8


def fnv1a(b):
    h = 0xCBF29CE484222325
    for c in reversed(b):
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    src, out = sys.argv[1:3]
    data = open(src, "rb").read()
    version = b""
    kinds = {}  # name -> kinds, in order of first appearance
    for line in data.split(b"\n"):
        if not version and line.startswith(b"// VERSION: "):
            version = line[len(b"// VERSION: "):].rstrip(b"\r")
        word = re.split(rb"[ \t\r]", bytes(c + 32 if 65 <= c <= 90 else c for c in line), maxsplit=1)[0]
        if not word or word.startswith(b"//") or len(word) > 0xFFFF:
            continue
        kind, skip = RULE, 0
        if word[:1] == b"!":
            kind, skip = EXCEPTION, 1
        elif word.startswith(b"*."):
            kind, skip = WILDCARD, 2
        if len(word) == skip:
            continue
        name = word[skip:]
        kinds[name] = kinds.get(name, 0) | kind
        for i, c in enumerate(name):
            if c == 0x2E and i + 1 < len(name):
                kinds[name[i + 1:]] = kinds.get(name[i + 1:], 0) | PARENT
    names = bytearray()
    offset = {}
    for name in kinds:
        offset[name] = len(names)
        names += name
    size = 2
    while size < 2 * len(kinds):
        size *= 2
    slots = [None] * size
    for name, k in kinds.items():
        i = fnv1a(name) & (size - 1)
        while slots[i] is not None:
            i = (i + 1) & (size - 1)
        slots[i] = (offset[name], len(name), k)
    rules = sum(bin(k & ~PARENT).count("1") for k in kinds.values())

    def literal(b):  # a C++ string literal, ASCII with escapes, in pieces below compilers' limits
        parts = []
        for i in range(0, len(b), 4096):
            s = "".join(chr(c) if 32 <= c < 127 and c not in (34, 92, 63) else f"\\{c:03o}" for c in b[i:i + 4096])
            parts.append(f'    "{s}"\n')
        return "".join(parts) or '    ""\n'

    with open(out, "w", encoding="ascii") as f:
        f.write(f"// Generated from {src.rsplit('/', 1)[-1]} by scripts/embed_psl.py.\n")
        f.write('#include "decode/dns/public_suffix.hpp"\n\nnamespace tapbeat {\nnamespace {\n')
        f.write("const char kNames[] =\n" + literal(bytes(names)) + ";\n")
        f.write("const PublicSuffixList::Slot kSlots[] = {\n")
        for s in slots:
            f.write("    {%d, %d, %d},\n" % s if s else "    {0, 0, 0},\n")
        f.write("};\n}  // namespace\n\n")
        f.write("extern const PublicSuffixList::Table kBundledPublicSuffixes;\n")
        f.write("const PublicSuffixList::Table kBundledPublicSuffixes{\n")
        f.write(f"    std::string_view(kNames, sizeof kNames - 1), kSlots, {size}, {rules},\n")
        f.write("    std::string_view(\n" + literal(version) + "    )};\n")
        f.write("}  // namespace tapbeat\n")


main()
