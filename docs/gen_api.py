#!/usr/bin/env python3
"""Writes docs/api.md, the API reference, from the public headers.

Every public function (a declaration of tg_* in a header under
include/tapegrad/) is listed with its header and the first sentence of the
comment that documents it: the comment on its own line, else the comment
block above it (a declaration directly under another shares that one).

    python3 docs/gen_api.py          rewrite docs/api.md
    python3 docs/gen_api.py --check  exit 1 if docs/api.md is out of date, or a
                                     public function has no comment
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "api.md")
DECL = re.compile(r"^[A-Za-z_][\w \*]*?\b(tg_\w+)\s*\(")


def first_sentence(comment):
    text = " ".join(comment.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    return (m.group(1) if m else text).strip()


def strip_comment(block):
    block = re.sub(r"^/\*+", "", block.strip())
    block = re.sub(r"\*+/$", "", block)
    lines = [re.sub(r"^\s*\*\s?", "", line) for line in block.split("\n")]
    text = "\n".join(lines).strip()
    # A section banner "--- name ---" is a title, not a description.
    text = re.sub(r"^-+\s*[^\n]*?-{3,}\s*", "", text)
    return text.strip()


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    comment = None      # the latest comment block, while it still applies
    i = 0
    depth = 0           # inside a struct/enum body
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("/*"):
            block = [line]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            comment = strip_comment("\n".join(block))
            i += 1
            continue
        if not s:
            comment = None
            i += 1
            continue
        if s == 'extern "C" {' or (s == "}" and lines[i - 1].strip() == "#ifdef __cplusplus"):
            i += 1
            continue
        depth += s.count("{") - s.count("}")
        m = DECL.match(s) if depth == 0 and not s.startswith(("#", "typedef")) else None
        if m:
            decl = s
            while not re.sub(r"/\*.*?\*/\s*$", "", decl).rstrip().endswith(";") and i + 1 < len(lines):
                i += 1
                decl += " " + lines[i].strip()
            trailing = re.search(r"/\*(.*?)\*/\s*$", decl)
            doc = trailing.group(1).strip() if trailing else (comment or "")
            found.append((m.group(1), first_sentence(doc) if doc else ""))
        i += 1
    return found


def render():
    inc = os.path.join(ROOT, "include", "tapegrad")
    out = ["# API reference", "",
           "Every public function, with its header and the first sentence of its documentation.",
           "Written by `docs/gen_api.py` from the headers; the test suite fails when it is out of",
           "date. The header itself has the whole comment, shapes and error cases.", ""]
    missing = []
    for name in sorted(os.listdir(inc)):
        if not name.endswith(".h") or name == "tapegrad.h":
            continue
        fns = functions(os.path.join(inc, name))
        if not fns:
            continue
        real = os.path.relpath(os.path.realpath(os.path.join(inc, name)), ROOT)
        out += ["## <tapegrad/%s>" % name, "", "Source: `%s`" % real, "", "| function | what it does |",
                "| --- | --- |"]
        for fn, doc in fns:
            if not doc:
                missing.append("%s in %s" % (fn, name))
            out.append("| `%s` | %s |" % (fn, doc.replace("|", "\\|")))
        out.append("")
    return "\n".join(out), missing


def main():
    text, missing = render()
    if "--check" in sys.argv:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        bad = 0
        for m in missing:
            print("undocumented public function: " + m)
            bad += 1
        if current != text:
            print("docs/api.md is out of date: run python3 docs/gen_api.py")
            bad += 1
        print("%d passed, %d failed" % (0 if bad else 1, 1 if bad else 0))
        return 1 if bad else 0
    open(OUT, "w", encoding="utf-8").write(text)
    for m in missing:
        print("undocumented public function: " + m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
