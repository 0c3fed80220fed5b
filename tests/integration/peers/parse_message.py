#!/usr/bin/python3
"""Parses one RFC 5322 message with Python's email package (default policy: RFC 5322, RFC 2047 and
RFC 2231 decoding, RFC 6532 UTF-8 headers) and prints what it found as JSON, for oauthmail's tests:
a parser nobody on the project wrote checks that composed messages are well-formed.

Output: {"headers": [[name, decoded value], ...], "addresses": {"To": [[name, addr], ...], ...},
"structure": {content_type, disposition, filename, content_id, charset, cte, defects,
parts | (size, sha256, text)}, "defects": [...] for the whole tree, "longest_line": octets,
"header_non_ascii": bool}.
"""

import email
import hashlib
import json
import sys
from email import policy


def part_info(p, defects):
    info = {
        "content_type": p.get_content_type(),
        "disposition": p.get_content_disposition(),
        "filename": p.get_filename(),
        "content_id": p.get("Content-ID"),
        "charset": p.get_content_charset(),
        "cte": p.get("Content-Transfer-Encoding"),
        "defects": [type(d).__name__ for d in p.defects],
    }
    defects.extend(info["defects"])
    if p.is_multipart():
        info["parts"] = [part_info(c, defects) for c in p.iter_parts()]
    else:
        payload = p.get_payload(decode=True) or b""
        info["size"] = len(payload)
        info["sha256"] = hashlib.sha256(payload).hexdigest()
        if p.get_content_maintype() == "text":
            info["text"] = p.get_content()
    return info


def main():
    data = open(sys.argv[1], "rb").read()
    head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    header_non_ascii = any(b > 127 for b in head)
    if header_non_ascii:
        # RFC 6532 (UTF-8 headers): the email package reads them from text, not from bytes (which
        # it decodes as ASCII with surrogate escapes).
        msg = email.message_from_string(data.decode("utf-8"), policy=policy.default)
    else:
        msg = email.message_from_bytes(data, policy=policy.default)
    defects = []
    out = {"headers": [], "addresses": {}}
    for name, value in msg.items():
        out["headers"].append([name, str(value)])
        for header_defect in getattr(value, "defects", []):
            defects.append(name + ":" + type(header_defect).__name__)
        if name.lower() in ("from", "to", "cc", "bcc", "reply-to", "sender"):
            out["addresses"].setdefault(name, []).extend(
                [a.display_name, a.addr_spec] for a in value.addresses
            )
    out["structure"] = part_info(msg, defects)
    out["defects"] = defects
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    out["longest_line"] = max(len(line) for line in lines)
    out["header_non_ascii"] = header_non_ascii
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
