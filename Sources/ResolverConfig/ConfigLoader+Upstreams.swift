import Foundation
import Yams

/// Where the resolver listens and where it forwards: `listen`, `upstreams` (or resolv.conf's
/// nameservers when the config names none), the check that the two do not meet, and the
/// query budget the upstream tries must fit in.
extension ConfigLoader {
    /// `nameserver` lines of a resolv.conf, port 53; scoped IPv6 addresses (`%eth0`) are skipped.
    public static func nameservers(resolvConf: String) -> [HostPort] {
        resolvConf.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return try? HostPort.parse(String(fields[1])).get()
        }.filter { $0.family == .ipv4 || !$0.host.contains("%") }
    }

    /// `listen`: the addresses to serve on; 127.0.0.1:53 when the key is absent.
    static func listenAddresses(_ node: Node?, _ reader: YAMLReader) throws(ConfigError) -> [HostPort] {
        guard let node else { return [HostPort(host: "127.0.0.1", port: 53, family: .ipv4)] }
        let listen = try reader.list(node, key: "listen").enumerated().map { (index, item) throws(ConfigError) in
            try reader.address(item, key: "listen[\(index)]")
        }
        if listen.isEmpty { throw reader.error(node, "listen", "needs at least one address") }
        return listen
    }

    /// `upstreams`, or the nameservers of `resolvConfPath` when the config names none (absent or
    /// empty); `fromResolvConf` says which, for the messages that must name the source.
    func upstreamServers(_ node: Node?, folder: String, _ reader: YAMLReader) throws(ConfigError)
        -> (upstreams: [ResolverSettings.Upstream], fromResolvConf: Bool) {
        if let node {
            let named = try reader.list(node, key: "upstreams").enumerated().map { (index, item) throws(ConfigError) in
                try Self.upstream(item, key: "upstreams[\(index)]", folder: folder, reader)
            }
            if !named.isEmpty { return (named, false) }
        }
        let resolvConf = (try? String(contentsOfFile: resolvConfPath, encoding: .utf8)) ?? ""
        let upstreams = Self.nameservers(resolvConf: resolvConf).map { ResolverSettings.Upstream(address: $0) }
        if upstreams.isEmpty {
            throw reader.error(node, "upstreams",
                               "none named and \(resolvConfPath) lists no nameserver; name at least one")
        }
        return (upstreams, true)
    }

    /// One `upstreams` entry: `"host:port"`, `{ address: "host:port", tcp: true }`, or
    /// `{ address: "host:port", tls: { name: NAME, ca: FILE } }` (DNS over TLS, port 853 when
    /// the address names none; `tls: {}` checks the address itself against the system's CAs).
    static func upstream(_ node: Node, key: String, folder: String, _ reader: YAMLReader) throws(ConfigError)
        -> ResolverSettings.Upstream {
        if case .mapping = node {
            let map = try reader.mapping(node, key: key, allowed: ["address", "tcp", "tls"])
            guard let address = map["address"] else { throw reader.error(node, key + ".address", "missing") }
            var upstream = ResolverSettings.Upstream(
                address: try reader.address(address, key: key + ".address", defaultPort: map["tls"] == nil ? 53 : 853))
            if let tcp = map["tcp"] { upstream.tcp = try reader.boolean(tcp, key: key + ".tcp") }
            if let tls = map["tls"] {
                upstream.tls = try upstreamTLS(tls, key: key + ".tls", folder: folder, reader)
                if map["tcp"] != nil && !upstream.tcp {
                    throw reader.error(map["tcp"], key + ".tcp", "false with tls: DNS over TLS runs over TCP")
                }
            }
            return upstream
        }
        return ResolverSettings.Upstream(address: try reader.address(node, key: key))
    }

    /// An upstream's `tls:` mapping: `name` (the name its certificate must hold) and `ca` (a PEM
    /// file, relative to the config's folder).
    static func upstreamTLS(_ node: Node, key: String, folder: String, _ reader: YAMLReader) throws(ConfigError)
        -> ResolverSettings.UpstreamTLS {
        if case .scalar = node, (try? reader.boolean(node, key: key)) == true { return ResolverSettings.UpstreamTLS() }
        let map = try reader.mapping(node, key: key, allowed: ["name", "ca"])
        var tls = ResolverSettings.UpstreamTLS()
        if let name = map["name"] {
            let text = try reader.string(name, key: key + ".name")
            if text.isEmpty || HostPort.ipFamily(text) != nil {
                throw reader.error(name, key + ".name", "\"\(text)\" is not a host name (leave name out to check the address)")
            }
            tls.name = text
        }
        if let ca = map["ca"] {
            tls.ca = absolutePath(try reader.string(ca, key: key + ".ca"), relativeTo: folder)
        }
        return tls
    }

    /// `listen_tls`, `listen_https` (port 853 and 443 when an address names none) and the `tls`
    /// certificate they need. An address may serve one protocol only: the TCP port of a `listen`
    /// address is taken by plain DNS.
    static func encryptedListeners(_ top: [String: Node], listen: [HostPort], folder: String,
                                   _ reader: YAMLReader) throws(ConfigError)
        -> (tls: [HostPort], https: [HostPort], files: ResolverSettings.TLSFiles?) {
        func addresses(_ key: String, port: Int) throws(ConfigError) -> [HostPort] {
            guard let node = top[key] else { return [] }
            return try reader.list(node, key: key).enumerated().map { (index, item) throws(ConfigError) in
                try reader.address(item, key: "\(key)[\(index)]", defaultPort: port)
            }
        }
        let tls = try addresses("listen_tls", port: 853)
        let https = try addresses("listen_https", port: 443)
        var seen: [HostPort: String] = [:]
        for address in listen { seen[address] = "listen" }
        for (key, list) in [("listen_tls", tls), ("listen_https", https)] {
            for address in list {
                if let other = seen[address] {
                    throw reader.error(top[key], key, "\(address) is also in \(other); an address serves one protocol")
                }
                seen[address] = key
            }
        }
        var files: ResolverSettings.TLSFiles? = nil
        if let node = top["tls"] {
            let map = try reader.mapping(node, key: "tls", allowed: ["certificate", "key"])
            guard let certificate = map["certificate"] else { throw reader.error(node, "tls.certificate", "missing") }
            guard let key = map["key"] else { throw reader.error(node, "tls.key", "missing") }
            files = ResolverSettings.TLSFiles(
                certificate: absolutePath(try reader.string(certificate, key: "tls.certificate"), relativeTo: folder),
                key: absolutePath(try reader.string(key, key: "tls.key"), relativeTo: folder))
        }
        if files == nil && !(tls.isEmpty && https.isEmpty) {
            let key = tls.isEmpty ? "listen_https" : "listen_tls"
            throw reader.error(top[key], key, "needs tls.certificate and tls.key (a PEM certificate chain and its key)")
        }
        return (tls, https, files)
    }

    /// Rejects an upstream that is one of the `listen` addresses (a wildcard listen address
    /// covers every upstream of its family): a resolver that forwards to itself loops every
    /// query until it times out.
    func rejectLoops(_ upstreams: [ResolverSettings.Upstream], fromResolvConf: Bool, listen: [HostPort],
                     _ top: [String: Node], _ reader: YAMLReader) throws(ConfigError) {
        let looping = upstreams.first { upstream in
            listen.contains { $0.port == upstream.address.port && ($0.host == upstream.address.host
                || ($0.host == "0.0.0.0" && upstream.address.family == .ipv4)
                || ($0.host == "::" && upstream.address.family == .ipv6)) }
        }
        guard let looping else { return }
        let source = fromResolvConf ? " (taken from \(resolvConfPath) because the config names no upstreams)" : ""
        throw reader.error(top["upstreams"] ?? top["listen"], "upstreams",
                           "\(looping.address) is this resolver's own listen address\(source): queries would loop; "
                           + "name the real upstream resolvers")
    }

    /// `outgoing`: the source addresses of upstream sockets (IP literals, no port; Unbound's
    /// `outgoing-interface`). When any is named, every upstream needs one of its own family: a
    /// socket of the other family would go out from the wildcard, which the list was meant to rule out.
    func outgoingAddresses(_ node: Node?, upstreams: [ResolverSettings.Upstream], fromResolvConf: Bool,
                           _ reader: YAMLReader) throws(ConfigError) -> [String] {
        guard let node else { return [] }
        var addresses: [String] = []
        for (index, item) in try reader.list(node, key: "outgoing").enumerated() {
            let key = "outgoing[\(index)]"
            let text = try reader.string(item, key: key)
            guard HostPort.ipFamily(text) != nil else {
                throw reader.error(item, key, "\"\(text)\" is not an IPv4 or IPv6 address (no port, no host name)")
            }
            if addresses.contains(text) { throw reader.error(item, key, "\(text) is named twice") }
            addresses.append(text)
        }
        guard !addresses.isEmpty else { return [] }
        let families = Set(addresses.compactMap(HostPort.ipFamily))
        if let stranded = upstreams.first(where: { !families.contains($0.address.family) }) {
            let family = stranded.address.family == .ipv4 ? "IPv4" : "IPv6"
            let source = fromResolvConf ? " (from \(resolvConfPath))" : ""
            throw reader.error(node, "outgoing", "upstream \(stranded.address)\(source) is \(family) and outgoing "
                               + "names no \(family) address to send to it from")
        }
        return addresses
    }

    /// `query_timeout_ms`: the budget of a whole query, by default 5 s or `timeout_ms` if longer;
    /// never shorter than one upstream try (`timeout_ms`), or no try could finish.
    static func queryTimeoutMilliseconds(_ node: Node?, timeout: Int, _ reader: YAMLReader) throws(ConfigError)
        -> Int {
        let queryTimeout = try node.map { node throws(ConfigError) in
            try reader.integer(node, key: "query_timeout_ms", range: 10...120_000)
        } ?? max(5000, timeout)
        if queryTimeout < timeout {
            throw reader.error(node, "query_timeout_ms",
                               "\(queryTimeout) is shorter than timeout_ms (\(timeout)); no upstream try could finish")
        }
        return queryTimeout
    }
}
