import XCTest
@testable import ResolverConfig

final class ConfigLoaderTests: XCTestCase {
    let loader = ConfigLoader(resolvConfPath: "/nonexistent/resolv.conf", coreCount: 2)

    func parse(_ yaml: String) throws -> ResolverSettings {
        try loader.parse(yaml: yaml, path: "/etc/br/config.yml", displayName: "config.yml")
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testFullConfig() throws {
        let settings = try parse("""
            listen: ["127.0.0.1:5353", "[::1]:5353"]
            upstreams: ["127.0.0.1:5300", "::1"]
            timeout_ms: 800
            threads: 1
            sinkhole: { ipv4: 10.1.2.3, ipv6: "2001:db8::1", ttl: 60 }
            tcp: { idle_timeout_ms: 5000 }
            lists:
              - { name: pse, path: lists/pse.txt, format: domains, action: block, category: "PSE not registered" }
              - { name: ok, path: /abs/ok.hosts, format: hosts, action: allow }
            """)
        XCTAssertEqual(settings.listen.map(\.description), ["127.0.0.1:5353", "[::1]:5353"])
        XCTAssertEqual(settings.upstreams.map(\.description), ["127.0.0.1:5300", "[::1]:53"])
        XCTAssertEqual(settings.timeoutMilliseconds, 800)
        XCTAssertEqual(settings.sinkhole, .init(ipv4: "10.1.2.3", ipv6: "2001:db8::1", ttl: 60))
        XCTAssertEqual(settings.tcpIdleTimeoutMilliseconds, 5000)
        XCTAssertEqual(settings.lists.map(\.path), ["/etc/br/lists/pse.txt", "/abs/ok.hosts"])
        XCTAssertEqual(settings.lists.map(\.action), [.block, .allow])
        XCTAssertEqual(settings.lists[1].category, "ok")
        XCTAssertEqual(settings.lists.map(\.configLine), [8, 9])
    }

    func testDefaults() throws {
        let settings = try parse("upstreams: [\"192.0.2.1\"]\nlists: []\n")
        XCTAssertEqual(settings.timeoutMilliseconds, 1500)
        XCTAssertEqual(settings.sinkhole, .init(ipv4: "0.0.0.0", ipv6: "::", ttl: 300))
        XCTAssertEqual(settings.threads, 2)
        XCTAssertEqual(settings.listen.map(\.description), ["127.0.0.1:53"])
    }

    func testUnknownKeyIsNamedWithItsLine() {
        XCTAssertEqual(error("lists: []\nupstream: [\"127.0.0.1\"]\n"),
                       "config.yml:2: upstream: unknown key; expected one of access, cache, edns_udp_size, group, listen, listen_https, listen_tls, lists, max_bad_lines, metrics, outgoing, precedence, query_log, query_timeout_ms, rate_limit, sinkhole, tcp, threads, timeout_ms, tls, upstream_strategy, upstreams, user")
        XCTAssertTrue(error("""
            upstreams: ["192.0.2.1"]
            lists:
              - name: a
                path: a.txt
                acton: block
            """).hasPrefix("config.yml:5: lists[0].acton: unknown key"))
    }

    func testWrongTypesAndValuesNameKeyAndLine() {
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\ntimeout_ms: fast\nlists: []\n"),
                       "config.yml:2: timeout_ms: expected a whole number, got \"fast\"")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\ntimeout_ms: 0\nlists: []\n"),
                       "config.yml:2: timeout_ms: 0 is out of range (10 to 60000)")
        XCTAssertEqual(error("upstreams: \"127.0.0.1\"\nlists: []\n"),
                       "config.yml:1: upstreams: expected a list (`[a, b]` or `- a` lines), got \"127.0.0.1\"")
        XCTAssertEqual(error("upstreams: [\"dns.google\"]\nlists: []\n"),
                       "config.yml:1: upstreams[0]: \"dns.google\" is not an IPv4 or IPv6 address (host names are not accepted)")
        XCTAssertEqual(error("upstreams: [\"127.0.0.1:99999\"]\nlists: []\n"),
                       "config.yml:1: upstreams[0]: port \"99999\" is not a number from 1 to 65535 in \"127.0.0.1:99999\"")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nsinkhole: { ipv4: \"::\" }\nlists: []\n"),
                       "config.yml:2: sinkhole.ipv4: \"::\" is not an IPv4 address")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a.txt, action: blok }\n"),
                       "config.yml:3: lists[0].action: \"blok\" is not one of block, allow, monitor")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a.txt, format: csv }\n"),
                       "config.yml:3: lists[0].format: \"csv\" is not one of domains, hosts, rpz, ips")
    }

    /// `max_bad_lines`: a top-level default a list may override; 0 or more.
    func testMaxBadLines() throws {
        let settings = try parse("""
            upstreams: ["192.0.2.1"]
            max_bad_lines: 50
            lists:
              - { name: a, path: a.txt }
              - { name: b, path: b.txt, max_bad_lines: 0 }
            """)
        XCTAssertEqual(settings.lists.map(\.maxBadLines), [50, 0])
        XCTAssertEqual(try parse("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a.txt }\n").lists[0].maxBadLines,
                       nil)
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a.txt, max_bad_lines: -1 }\n"),
                       "config.yml:3: lists[0].max_bad_lines: -1 is out of range (0 to 1000000000)")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nmax_bad_lines: many\nlists: []\n"),
                       "config.yml:2: max_bad_lines: expected a whole number, got \"many\"")
    }

    func testMissingAndDuplicateListFields() {
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { path: a.txt }\n"),
                       "config.yml:3: lists[0].name: missing; every list needs a name")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a }\n"),
                       "config.yml:3: lists[0].path: missing; every list needs a file")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\nlists:\n  - { name: a, path: a }\n  - { name: a, path: b }\n"),
                       "config.yml:4: lists[1].name: \"a\" is used by an earlier list; names must be unique")
        XCTAssertEqual(error("upstreams: [\"192.0.2.1\"]\n"),
                       "config.yml:1: lists: missing; name at least one list (an empty list `[]` is allowed)")
    }

    func testYAMLSyntaxErrorHasALine() {
        XCTAssertTrue(error("lists: []\nupstreams: [\"127.0.0.1\"\n").hasPrefix("config.yml:"), error("lists: [\n"))
        XCTAssertEqual(error(""), "config.yml: the config is empty; it needs at least `lists:`")
    }

    func testUpstreamsFromResolvConf() throws {
        XCTAssertEqual(ConfigLoader.nameservers(resolvConf: """
            # generated
            search example.net
            nameserver 192.0.2.53
            nameserver fe80::1%eth0
            nameserver 2001:db8::53
            """).map(\.description), ["192.0.2.53:53", "[2001:db8::53]:53"])
        XCTAssertEqual(error("lists: []\n"),
                       "config.yml: upstreams: none named and /nonexistent/resolv.conf lists no nameserver; name at least one")
    }

    func testForwardingToItselfIsRejected() {
        XCTAssertEqual(error("listen: [\"127.0.0.1:53\"]\nupstreams: [\"127.0.0.1\"]\nlists: []\n"),
                       "config.yml:2: upstreams: 127.0.0.1:53 is this resolver's own listen address: queries would loop; name the real upstream resolvers")
        XCTAssertEqual(error("listen: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1\"]\nlists: []\n"), "no error")
    }

    // MARK: encrypted DNS

    func testEncryptedListenersAndTLSUpstreams() throws {
        let settings = try parse("""
            listen: ["127.0.0.1:5353"]
            tls: { certificate: tls/resolver.crt, key: /abs/resolver.key }
            listen_tls: ["127.0.0.1:8853", "::1"]
            listen_https: ["127.0.0.1"]
            upstreams:
              - { address: "192.0.2.53", tls: { name: resolver.example, ca: tls/ca.crt } }
              - { address: "192.0.2.54:9853", tls: {} }
              - "192.0.2.55"
            lists: []
            """)
        XCTAssertEqual(settings.tls, .init(certificate: "/etc/br/tls/resolver.crt", key: "/abs/resolver.key"))
        XCTAssertEqual(settings.listenTLS.map(\.description), ["127.0.0.1:8853", "[::1]:853"])
        XCTAssertEqual(settings.listenHTTPS.map(\.description), ["127.0.0.1:443"])
        XCTAssertEqual(settings.upstreams.map(\.description),
                       ["192.0.2.53:853 (tls resolver.example)", "192.0.2.54:9853 (tls 192.0.2.54)", "192.0.2.55:53"])
        XCTAssertEqual(settings.upstreams[0].tls, .init(name: "resolver.example", ca: "/etc/br/tls/ca.crt"))
        XCTAssertEqual(settings.upstreams[1].tls, .init())
        XCTAssertNil(settings.upstreams[2].tls)
        let plain = try parse("upstreams: [\"192.0.2.1\"]\nlists: []\n")
        XCTAssertNil(plain.tls)
        XCTAssertEqual(plain.listenTLS, [])
        XCTAssertEqual(plain.listenHTTPS, [])
    }

    func testEncryptedListenerErrors() {
        XCTAssertEqual(error("listen_https: [\"127.0.0.1:8443\"]\nupstreams: [\"192.0.2.1\"]\nlists: []\n"),
                       "config.yml:1: listen_https: needs tls.certificate and tls.key (a PEM certificate chain and its key)")
        XCTAssertEqual(error("tls: { certificate: a.crt }\nupstreams: [\"192.0.2.1\"]\nlists: []\n"),
                       "config.yml:1: tls.key: missing")
        XCTAssertEqual(error("""
            listen: ["127.0.0.1:8853"]
            tls: { certificate: a.crt, key: a.key }
            listen_tls: ["127.0.0.1:8853"]
            upstreams: ["192.0.2.1"]
            lists: []
            """), "config.yml:3: listen_tls: 127.0.0.1:8853 is also in listen; an address serves one protocol")
        XCTAssertEqual(error("""
            upstreams: [{ address: "192.0.2.1", tls: { name: "192.0.2.1" } }]
            lists: []
            """), "config.yml:1: upstreams[0].tls.name: \"192.0.2.1\" is not a host name (leave name out to check the address)")
        XCTAssertEqual(error("""
            upstreams: [{ address: "192.0.2.1", tcp: false, tls: { name: a.example } }]
            lists: []
            """), "config.yml:1: upstreams[0].tcp: false with tls: DNS over TLS runs over TCP")
        XCTAssertEqual(error("""
            tls: { certificate: a.crt, key: a.key }
            listen_tls: ["127.0.0.1:8853"]
            upstreams: [{ address: "127.0.0.1:8853", tls: { name: a.example } }]
            lists: []
            """).contains("is this resolver's own listen address"), true)
    }

    // MARK: outgoing

    /// `outgoing` takes IP literals of both families, in order; absent, the wildcard (none).
    func testOutgoingAddresses() throws {
        let both = try parse("""
            upstreams: ["192.0.2.1", "[2001:db8::53]:53"]
            outgoing: ["192.0.2.10", "2001:db8::10", "192.0.2.11"]
            lists: []
            """)
        XCTAssertEqual(both.outgoing, ["192.0.2.10", "2001:db8::10", "192.0.2.11"])
        XCTAssertEqual(both.outgoing(.ipv4), ["192.0.2.10", "192.0.2.11"])
        XCTAssertEqual(both.outgoing(.ipv6), ["2001:db8::10"])
        XCTAssertEqual(try parse("upstreams: [\"192.0.2.1\"]\nlists: []").outgoing, [])
        XCTAssertEqual(try parse("upstreams: [\"192.0.2.1\"]\noutgoing: []\nlists: []").outgoing, [])
    }

    /// A port, a host name or a repeat is an error naming the entry; an upstream of a family
    /// `outgoing` has no address of is an error naming the upstream.
    func testOutgoingErrors() {
        let base = "upstreams: [\"192.0.2.1\", \"[2001:db8::53]:53\"]\nlists: []\n"
        let port = error(base + "outgoing: [\"192.0.2.10:53\", \"2001:db8::10\"]")
        XCTAssertTrue(port.contains("outgoing[0]") && port.contains("not an IPv4 or IPv6 address"), port)
        let name = error(base + "outgoing: [\"2001:db8::10\", \"eth0\"]")
        XCTAssertTrue(name.contains("outgoing[1]") && name.contains("\"eth0\""), name)
        let twice = error(base + "outgoing: [\"192.0.2.10\", \"2001:db8::10\", \"192.0.2.10\"]")
        XCTAssertTrue(twice.contains("outgoing[2]") && twice.contains("named twice"), twice)
        let noIPv6 = error(base + "outgoing: [\"192.0.2.10\"]")
        XCTAssertTrue(noIPv6.contains("[2001:db8::53]:53") && noIPv6.contains("names no IPv6 address"), noIPv6)
        let noIPv4 = error(base + "outgoing: [\"2001:db8::10\"]")
        XCTAssertTrue(noIPv4.contains("192.0.2.1:53") && noIPv4.contains("names no IPv4 address"), noIPv4)
        let notList = error(base + "outgoing: 192.0.2.10")
        XCTAssertTrue(notList.contains("outgoing"), notList)
    }

    func testZoneTransferSection() throws {
        let settings = try parse("""
            upstreams: ["127.0.0.1:5300"]
            lists:
              - name: trustpositif
                format: rpz
                path: lists/trustpositif.rpz
                transfer:
                  primaries: ["192.0.2.53:53", "[2001:db8::53]:5300", "192.0.2.54"]
                  zone: RPZ.TrustPositif.example
                  tsig: { name: fleet-key, algorithm: HMAC-SHA256, secret: "c2VjcmV0" }
                  refresh_s: 300
            """)
        let transfer = try XCTUnwrap(settings.lists[0].transfer)
        XCTAssertEqual(transfer.primaries.map(\.description), ["192.0.2.53:53", "[2001:db8::53]:5300", "192.0.2.54:53"])
        XCTAssertEqual(transfer.zone, "rpz.trustpositif.example.")
        XCTAssertEqual(transfer.tsig, .init(name: "fleet-key.", algorithm: "hmac-sha256.", secret: "c2VjcmV0"))
        XCTAssertEqual(transfer.refreshSeconds, 300)
        // The zone is the origin of the copy's relative names unless the list names one.
        XCTAssertEqual(settings.lists[0].origin, "rpz.trustpositif.example.")
        XCTAssertNil(try parse("upstreams: [\"127.0.0.1:5300\"]\nlists: [{ name: a, path: a.txt }]").lists[0].transfer)
    }

    func testZoneTransferMistakesNameTheKey() {
        func list(_ transfer: String, format: String = "rpz") -> String {
            "upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, format: \(format), path: z.rpz, transfer: \(transfer) }"
        }
        let zone = "zone: rpz.example"
        let cases: [(String, String)] = [
            (list("{ primaries: [\"127.0.0.1\"], \(zone) }", format: "domains"), "only an RPZ zone"),
            (list("{ \(zone) }"), "lists[0].transfer.primaries: missing"),
            (list("{ primaries: [], \(zone) }"), "lists[0].transfer.primaries: empty"),
            (list("{ primaries: [\"primary.example\"], \(zone) }"), "lists[0].transfer.primaries[0]"),
            (list("{ primaries: [\"127.0.0.1\", \"127.0.0.1:53\"], \(zone) }"), "named twice"),
            (list("{ primaries: [\"127.0.0.1\"] }"), "lists[0].transfer.zone: missing"),
            (list("{ primaries: [\"127.0.0.1\"], zone: \".\" }"), "lists[0].transfer.zone: \".\" is not a zone name"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), refresh_s: 0 }"), "lists[0].transfer.refresh_s"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), tsig: { name: k } }"), "lists[0].transfer.tsig.secret: missing"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), tsig: { name: k, secret: \"not base64!\" } }"), "not a base64 secret"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), tsig: { name: k, algorithm: hmac-sha3, secret: \"c2VjcmV0\" } }"),
             "lists[0].transfer.tsig.algorithm"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), tsig: { name: k, secret: \"c2VjcmV0\", secret_file: k.key } }"),
             "not both"),
            (list("{ primaries: [\"127.0.0.1\"], \(zone), notify: yes }"), "notify"),
            ("upstreams: [\"127.0.0.1:5300\"]\nlists:\n  - { name: z, format: rpz, transfer: { primaries: [\"127.0.0.1\"], \(zone) } }",
             "a transferred zone needs a file for its last good copy"),
        ]
        for (yaml, expected) in cases {
            let message = error(yaml)
            XCTAssertTrue(message.contains(expected), "\(yaml)\n→ \(message)")
        }
    }

    func testTSIGSecretFromABINDKeyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tsig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "key \"fleet-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n"
            .write(to: folder.appendingPathComponent("fleet.key"), atomically: true, encoding: .utf8)
        let yaml = """
            upstreams: ["127.0.0.1:5300"]
            lists:
              - { name: z, format: rpz, path: z.rpz, transfer: { primaries: ["127.0.0.1"], zone: rpz.example,
                  tsig: { name: fleet-key, secret_file: fleet.key } } }
            """
        let settings = try loader.parse(yaml: yaml, path: folder.appendingPathComponent("c.yml").path)
        XCTAssertEqual(settings.lists[0].transfer?.tsig?.secret, "c2VjcmV0")
    }
}
