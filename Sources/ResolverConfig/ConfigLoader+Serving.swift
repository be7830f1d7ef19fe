import Yams

/// How queries are served: `tcp` connection limits, the answer `cache`, which clients may ask
/// (`access`) and how often (`rate_limit`). Each section's defaults are those of
/// `ResolverSettings`, used when the section or one of its keys is absent.
extension ConfigLoader {
    /// `tcp`: idle timeout and connection limit.
    static func tcpLimits(_ node: Node?, _ reader: YAMLReader) throws(ConfigError)
        -> (idle: Int, maxConnections: Int) {
        var idle = 10_000
        var maxConnections = 1000
        guard let node else { return (idle, maxConnections) }
        let tcp = try reader.mapping(node, key: "tcp", allowed: ["idle_timeout_ms", "max_connections"])
        if let value = tcp["idle_timeout_ms"] {
            idle = try reader.integer(value, key: "tcp.idle_timeout_ms", range: 100...3_600_000)
        }
        if let value = tcp["max_connections"] {
            maxConnections = try reader.integer(value, key: "tcp.max_connections", range: 1...1_000_000)
        }
        return (idle, maxConnections)
    }

    /// `cache`: size, TTL bounds and serving stale answers.
    static func cacheSettings(_ node: Node?, _ reader: YAMLReader) throws(ConfigError) -> ResolverSettings.Cache {
        var cache = ResolverSettings.Cache()
        guard let node else { return cache }
        let map = try reader.mapping(node, key: "cache", allowed: ["max_entries", "min_ttl", "max_ttl", "servfail_ttl",
                                                                     "serve_stale", "max_stale"])
        if let value = map["max_entries"] {
            cache.maxEntries = try reader.integer(value, key: "cache.max_entries", range: 0...100_000_000)
        }
        if let value = map["min_ttl"] {
            cache.minTTL = UInt32(try reader.integer(value, key: "cache.min_ttl", range: 0...86_400))
        }
        if let value = map["max_ttl"] {
            cache.maxTTL = UInt32(try reader.integer(value, key: "cache.max_ttl", range: 1...604_800))
        }
        if let value = map["servfail_ttl"] {
            cache.servfailTTL = UInt32(try reader.integer(value, key: "cache.servfail_ttl", range: 0...30))
        }
        if let value = map["serve_stale"] { cache.serveStale = try reader.boolean(value, key: "cache.serve_stale") }
        if let value = map["max_stale"] {
            cache.maxStaleSeconds = UInt32(try reader.integer(value, key: "cache.max_stale", range: 1...604_800))
        }
        if cache.minTTL > cache.maxTTL {
            throw reader.error(map["min_ttl"], "cache.min_ttl",
                               "\(cache.minTTL) is above cache.max_ttl (\(cache.maxTTL))")
        }
        return cache
    }

    /// `access.allow`: the address blocks whose clients get answers.
    static func accessAllow(_ node: Node?, _ reader: YAMLReader) throws(ConfigError) -> [CIDR] {
        guard let node else { return CIDR.defaultAllowed }
        let map = try reader.mapping(node, key: "access", allowed: ["allow"])
        guard let allow = map["allow"] else { return CIDR.defaultAllowed }
        return try addressBlocks(allow, key: "access.allow", reader)
    }

    /// A list of address blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address for one host).
    static func addressBlocks(_ node: Node, key: String, _ reader: YAMLReader) throws(ConfigError) -> [CIDR] {
        try reader.list(node, key: key).enumerated().map { (index, item) throws(ConfigError) in
            let text = try reader.string(item, key: "\(key)[\(index)]")
            guard let block = CIDR.parse(text) else {
                throw reader.error(item, "\(key)[\(index)]", "\"\(text)\" is not an address block such as 10.0.0.0/8")
            }
            return block
        }
    }

    /// `rate_limit`: queries a second per client, the burst (twice the rate by default) and
    /// what happens to a query over the limit.
    static func rateLimitSettings(_ node: Node?, _ reader: YAMLReader) throws(ConfigError)
        -> ResolverSettings.RateLimit {
        var limit = ResolverSettings.RateLimit()
        guard let node else { return limit }
        let map = try reader.mapping(node, key: "rate_limit", allowed: ["per_client_qps", "burst", "action"])
        if let value = map["per_client_qps"] {
            limit.perClientQPS = try reader.integer(value, key: "rate_limit.per_client_qps", range: 0...10_000_000)
        }
        limit.burst = try map["burst"].map { node throws(ConfigError) in
            try reader.integer(node, key: "rate_limit.burst", range: 1...10_000_000)
        } ?? max(1, limit.perClientQPS * 2)
        if let value = map["action"] {
            limit.action = try reader.choice(value, key: "rate_limit.action", ResolverSettings.RateLimit.Action.self)
        }
        return limit
    }
}
