#!/usr/bin/env python3
"""Writes the seed corpus of scripts/fuzz (Tests/Fuzz/corpus/<target>/): a few well-formed inputs
per target, so that libFuzzer starts past the parsers' first checks. Run it again after changing
a seed; the files it writes are committed, so the fuzzer needs no Python."""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(ident, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
OPT_DO = b"\x00" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)


def query(qname, qtype=1, ident=0x4242, flags=0x0100, edns=True, opt=OPT):
    return header(ident, flags, ar=1 if edns else 0) + name(qname) + struct.pack(">HH", qtype, 1) + (opt if edns else b"")


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def reply(qname, answers=(), authority=(), ident=0x4242, rcode=0, qtype=1, edns=False):
    flags = 0x8180 | rcode
    return (header(ident, flags, an=len(answers), ns=len(authority), ar=1 if edns else 0)
            + name(qname) + struct.pack(">HH", qtype, 1) + b"".join(answers) + b"".join(authority)
            + (OPT if edns else b""))


PTR = b"\xc0\x0c"  # the question name
# A TSIG record with no data (root owner, class ANY): several in one message made ldns leak.
TSIG = b"\x00" + struct.pack(">HHIH", 250, 255, 0, 0)
SOA = name("ns.example") + name("hostmaster.example") + struct.pack(">IIIII", 1, 3600, 600, 86400, 300)

seeds = {
    "query": {
        "www-a": query("www.example"),
        "sink-a": query("a.sink.example", ident=0x4243),
        "sink-aaaa-noedns": query("a.sink.example", qtype=28, edns=False),
        "nx-mx": query("nx.example", qtype=15),
        "local-txt-do": query("local.example", qtype=16, opt=OPT_DO),
        "star-a": query("x.star.example"),
        "star-cname": query("x.star.example", qtype=5),
        "landing-a": query("landing.example"),
        "resolved-a": query("resolved.example"),
        "tcp-a": query("tcp.example"),
        "judi-any": query("a.judi.example", qtype=255),
        "ips-a": query("ok.sink.example"),
        "badvers": query("www.example", opt=b"\x00" + struct.pack(">HHIH", 41, 1232, 0x00010000, 0)),
        "notimp": query("www.example", flags=0x2100),
        "tsig-several": query("www.example", edns=False)[:10] + struct.pack(">H", 3)
        + query("www.example", edns=False)[12:] + TSIG * 3,
    },
    "reply": {
        "a": reply("www.example", [rr(PTR, 1, bytes([93, 184, 216, 34]))]),
        "tsig-several": reply("www.example", [rr(PTR, 1, bytes([93, 184, 216, 34]))])[:10] + struct.pack(">H", 2)
        + reply("www.example", [rr(PTR, 1, bytes([93, 184, 216, 34]))])[12:] + TSIG * 2,
        "a-opt": reply("www.example", [rr(PTR, 1, bytes([192, 0, 2, 1]))], edns=True),
        "cname-chain": reply("www.example", [
            rr(PTR, 5, name("cdn.judi.example")),
            rr(name("cdn.judi.example"), 5, name("edge.example")),
            rr(name("edge.example"), 1, bytes([198, 51, 100, 7])),
        ]),
        "dname": reply("www.example", [
            rr(name("example"), 39, name("local.example")),
            rr(PTR, 5, name("www.local.example")),
        ]),
        "nxdomain": reply("www.example", authority=[rr(name("example"), 6, SOA)], rcode=3),
        "aaaa": reply("www.example", [rr(PTR, 28, bytes.fromhex("20010db80bad00000000000000000001"))], qtype=28),
        "local-cname": reply("x.local.example", [rr(PTR, 5, name("local.example"))], ident=0x1111, qtype=16),
        "star-cname": reply("www.example", [rr(PTR, 5, name("a.star.example")), rr(name("a.star.example"), 1, bytes(4))]),
    },
    "domains": {
        "names": b"# a list\nsink.example\n*.wild.example\nUPPER.Example.\n\nbad..name\nxn--bcher-kva.example\n",
    },
    "hosts": {
        "hosts": b"# hosts\n0.0.0.0 ads.example tracker.example\n127.0.0.1\tlocalhost\n::1 six.example # comment\n",
    },
    "ips": {
        "ips": b"# addresses\n192.0.2.1\n198.51.100.0/24\n2001:db8::/32\n::ffff:192.0.2.9\n10.0.0.0/33\n",
    },
}


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    for target, files in seeds.items():
        os.makedirs(os.path.join(CORPUS, target))
        for file_name, data in files.items():
            with open(os.path.join(CORPUS, target, file_name), "wb") as out:
                out.write(data)
    os.makedirs(os.path.join(CORPUS, "rpz"))
    shutil.copy(os.path.join(ROOT, "Tests/BlockResolverTests/Fixtures/policy.rpz"), os.path.join(CORPUS, "rpz"))
    with open(os.path.join(ROOT, "config/lists/negative-content.rpz"), "rb") as rpz:
        with open(os.path.join(CORPUS, "rpz", "negative-content.rpz"), "wb") as out:
            out.write(rpz.read()[:2048])
    os.makedirs(os.path.join(CORPUS, "config"))
    shutil.copy(os.path.join(ROOT, "config/block-resolver.yml"), os.path.join(CORPUS, "config"))
    with open(os.path.join(CORPUS, "config", "small.yml"), "wb") as out:
        out.write(b'upstreams: ["127.0.0.1:5300", "[::1]:53"]\nlists:\n  - { name: a, path: a.txt, format: domains, '
                  b'category: gambling }\n  - { name: r, path: r.rpz, format: rpz, action: monitor }\n'
                  b'precedence: listed\ncache: { max_entries: 10 }\n')


main()
