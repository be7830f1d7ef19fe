import Foundation
import Yams

/// Reads the YAML config into `ResolverSettings`, rejecting anything it does not understand with
/// the key and line involved. Unknown keys are errors, not warnings: a misspelt `upstreams`
/// silently ignored would send every query to the wrong place.
public struct ConfigLoader: Sendable {
    /// Where nameservers come from when the config names no upstreams.
    public var resolvConfPath: String
    /// Cores on this machine, the default for `threads`.
    public var coreCount: Int

    public init(resolvConfPath: String = "/etc/resolv.conf",
                coreCount: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.resolvConfPath = resolvConfPath
        self.coreCount = coreCount
    }

    /// Loads and validates the config file at `path`.
    public func load(path: String) throws(ConfigError) -> ResolverSettings {
        let absolute = Self.absolutePath(path, relativeTo: FileManager.default.currentDirectoryPath)
        let text: String
        do {
            text = try String(contentsOfFile: absolute, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: nil, key: nil, message: "cannot read the config file: \(Self.reason(error))")
        }
        return try parse(yaml: text, path: absolute, displayName: path)
    }

    /// Validates config text; `path` locates relative list paths, `displayName` names the file in errors.
    public func parse(yaml: String, path: String, displayName: String? = nil) throws(ConfigError) -> ResolverSettings {
        let reader = YAMLReader(file: displayName ?? path)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw reader.error(nil, nil, "the config is empty; it needs at least `lists:`")
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw reader.syntaxError(error)
        } catch {
            throw reader.error(nil, nil, "not valid YAML: \(error)")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let keys: Set<String> = ["listen", "upstreams", "timeout_ms", "sinkhole", "lists", "threads", "tcp",
                                 "upstream_strategy", "query_timeout_ms", "edns_udp_size", "cache", "access", "rate_limit",
                                 "metrics", "query_log", "user", "group"]
        let top = try reader.mapping(root, key: nil, allowed: keys)

        var listen = [HostPort(host: "127.0.0.1", port: 53, family: .ipv4)]
        if let node = top["listen"] {
            listen = try reader.list(node, key: "listen").enumerated().map { (index, item) throws(ConfigError) in
                try reader.address(item, key: "listen[\(index)]")
            }
            if listen.isEmpty { throw reader.error(node, "listen", "needs at least one address") }
        }

        var upstreams: [ResolverSettings.Upstream] = []
        var fromResolvConf = false
        if let node = top["upstreams"] {
            upstreams = try reader.list(node, key: "upstreams").enumerated().map { (index, item) throws(ConfigError) in
                try reader.upstream(item, key: "upstreams[\(index)]")
            }
        }
        if upstreams.isEmpty {
            upstreams = Self.nameservers(resolvConf: (try? String(contentsOfFile: resolvConfPath, encoding: .utf8)) ?? "")
                .map { ResolverSettings.Upstream(address: $0) }
            fromResolvConf = true
            if upstreams.isEmpty {
                throw reader.error(top["upstreams"], "upstreams",
                                   "none named and \(resolvConfPath) lists no nameserver; name at least one")
            }
        }

        // A resolver that forwards to itself loops every query until it times out.
        if let looping = upstreams.first(where: { upstream in
            listen.contains { $0.port == upstream.address.port && ($0.host == upstream.address.host
                || ($0.host == "0.0.0.0" && upstream.address.family == .ipv4) || ($0.host == "::" && upstream.address.family == .ipv6)) }
        }) {
            let source = fromResolvConf ? " (taken from \(resolvConfPath) because the config names no upstreams)" : ""
            throw reader.error(top["upstreams"] ?? top["listen"], "upstreams",
                               "\(looping.address) is this resolver's own listen address\(source): queries would loop; name the real upstream resolvers")
        }

        let timeout = try top["timeout_ms"].map { node throws(ConfigError) in
            try reader.integer(node, key: "timeout_ms", range: 10...60_000)
        } ?? 1500
        let threads = try top["threads"].map { node throws(ConfigError) in
            try reader.integer(node, key: "threads", range: 1...256)
        } ?? max(1, coreCount)

        var idle = 10_000
        var maxConnections = 1000
        if let node = top["tcp"] {
            let tcp = try reader.mapping(node, key: "tcp", allowed: ["idle_timeout_ms", "max_connections"])
            if let value = tcp["idle_timeout_ms"] {
                idle = try reader.integer(value, key: "tcp.idle_timeout_ms", range: 100...3_600_000)
            }
            if let value = tcp["max_connections"] {
                maxConnections = try reader.integer(value, key: "tcp.max_connections", range: 1...1_000_000)
            }
        }
        let strategy = try top["upstream_strategy"].map { node throws(ConfigError) in
            try reader.choice(node, key: "upstream_strategy", ResolverSettings.UpstreamStrategy.self)
        } ?? .ordered
        let queryTimeout = try top["query_timeout_ms"].map { node throws(ConfigError) in
            try reader.integer(node, key: "query_timeout_ms", range: 10...120_000)
        } ?? max(5000, timeout)
        if queryTimeout < timeout {
            throw reader.error(top["query_timeout_ms"], "query_timeout_ms",
                               "\(queryTimeout) is shorter than timeout_ms (\(timeout)); no upstream try could finish")
        }
        let ednsSize = try top["edns_udp_size"].map { node throws(ConfigError) in
            try reader.integer(node, key: "edns_udp_size", range: 512...4096)
        } ?? 1232
        var cache = ResolverSettings.Cache()
        if let node = top["cache"] { cache = try reader.cache(node) }
        var access = CIDR.defaultAllowed
        if let node = top["access"] {
            let map = try reader.mapping(node, key: "access", allowed: ["allow"])
            if let allow = map["allow"] {
                access = try reader.list(allow, key: "access.allow").enumerated().map { (index, item) throws(ConfigError) in
                    let text = try reader.string(item, key: "access.allow[\(index)]")
                    guard let block = CIDR.parse(text) else {
                        throw reader.error(item, "access.allow[\(index)]", "\"\(text)\" is not an address block such as 10.0.0.0/8")
                    }
                    return block
                }
            }
        }
        var rateLimit = ResolverSettings.RateLimit()
        if let node = top["rate_limit"] { rateLimit = try reader.rateLimit(node) }
        var metricsListen: HostPort? = nil
        if let node = top["metrics"] {
            let map = try reader.mapping(node, key: "metrics", allowed: ["listen"])
            if let listen = map["listen"] { metricsListen = try reader.address(listen, key: "metrics.listen") }
        }
        var queryLogPath = "-"
        var queryLogMode = "off"
        if let node = top["query_log"] {
            let map = try reader.mapping(node, key: "query_log", allowed: ["path", "mode"])
            if let value = map["path"] {
                let text = try reader.string(value, key: "query_log.path")
                if text.isEmpty { throw reader.error(value, "query_log.path", "empty; use a file or \"-\" for standard output") }
                queryLogPath = text == "-" ? "-" : Self.absolutePath(text, relativeTo: folder)
            }
            if let value = map["mode"] {
                queryLogMode = try reader.string(value, key: "query_log.mode")
                guard ["off", "blocked", "all"].contains(queryLogMode) else {
                    throw reader.error(value, "query_log.mode", "\"\(queryLogMode)\" is not one of off, blocked, all")
                }
            } else {
                queryLogMode = "all"
            }
        }
        let user = try top["user"].map { node throws(ConfigError) in try reader.string(node, key: "user") }
        let group = try top["group"].map { node throws(ConfigError) in try reader.string(node, key: "group") }
        if let user, getpwnam(user) == nil {
            throw reader.error(top["user"], "user", "no user named \"\(user)\" on this machine")
        }
        if let group, getgrnam(group) == nil {
            throw reader.error(top["group"], "group", "no group named \"\(group)\" on this machine")
        }
        if group != nil && user == nil {
            throw reader.error(top["group"], "group", "needs `user:` as well; the process drops to both together")
        }

        var sinkhole = ResolverSettings.Sinkhole()
        if let node = top["sinkhole"] {
            sinkhole = try reader.sinkhole(node, key: "sinkhole", base: sinkhole)
        }

        guard let listsNode = top["lists"] else {
            throw reader.error(root, "lists", "missing; name at least one list (an empty list `[]` is allowed)")
        }
        var lists: [ListSettings] = []
        var names: Set<String> = []
        for (index, item) in try reader.list(listsNode, key: "lists").enumerated() {
            let key = "lists[\(index)]"
            let list = try reader.listSettings(item, key: key, folder: folder, sinkhole: sinkhole)
            if !names.insert(list.name).inserted {
                throw reader.error(item, key + ".name", "\"\(list.name)\" is used by an earlier list; names must be unique")
            }
            lists.append(list)
        }

        return ResolverSettings(
            configPath: path, listen: listen, upstreams: upstreams, upstreamsFromResolvConf: fromResolvConf,
            timeoutMilliseconds: timeout, sinkhole: sinkhole, lists: lists, threads: threads,
            tcpIdleTimeoutMilliseconds: idle, tcpMaxConnections: maxConnections, upstreamStrategy: strategy,
            queryTimeoutMilliseconds: queryTimeout, ednsUDPSize: ednsSize, cache: cache, accessAllow: access,
            rateLimit: rateLimit, metricsListen: metricsListen, queryLogPath: queryLogPath, queryLogMode: queryLogMode,
            user: user, group: group
        )
    }

    /// `nameserver` lines of a resolv.conf, port 53; scoped IPv6 addresses (`%eth0`) are skipped.
    public static func nameservers(resolvConf: String) -> [HostPort] {
        resolvConf.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return try? HostPort.parse(String(fields[1])).get()
        }.filter { $0.family == .ipv4 || !$0.host.contains("%") }
    }

    static func absolutePath(_ path: String, relativeTo folder: String) -> String {
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        return ((folder as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }

    static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case NSFileReadNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError: return "permission denied"
            case NSFileReadInapplicableStringEncodingError: return "not UTF-8 text"
            default: break
            }
        }
        return nsError.localizedDescription
    }
}

/// Walks a composed YAML node tree, turning every mismatch into a `ConfigError` with a line.
struct YAMLReader {
    let file: String

    func error(_ node: Node?, _ key: String?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line, key: key, message: message)
    }

    func syntaxError(_ error: YamlError) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: nil, message: "YAML syntax: \(problem)")
        default:
            return ConfigError(file: file, line: nil, key: nil, message: "YAML: \(error)")
        }
    }

    /// A mapping's entries by key; a key not in `allowed` is an error naming it.
    func mapping(_ node: Node, key: String?, allowed: Set<String>) throws(ConfigError) -> [String: Node] {
        guard case .mapping(let mapping) = node else {
            throw error(node, key, "expected a mapping (`key: value` lines), got \(describe(node))")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else { throw error(keyNode, key, "keys must be plain words") }
            let name = scalar.string
            let path = key.map { "\($0).\(name)" } ?? name
            guard allowed.contains(name) else {
                throw error(keyNode, path, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            if result[name] != nil { throw error(keyNode, path, "given twice") }
            result[name] = value
        }
        return result
    }

    func list(_ node: Node, key: String) throws(ConfigError) -> [Node] {
        if node.null != nil { return [] }  // `key:` with nothing after it
        guard case .sequence(let sequence) = node else {
            throw error(node, key, "expected a list (`[a, b]` or `- a` lines), got \(describe(node))")
        }
        return Array(sequence)
    }

    func string(_ node: Node, key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else {
            throw error(node, key, "expected a single value, got \(describe(node))")
        }
        return scalar.string
    }

    func integer(_ node: Node, key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let text = try string(node, key: key)
        guard let value = Int(text) else { throw error(node, key, "expected a whole number, got \"\(text)\"") }
        guard range.contains(value) else {
            throw error(node, key, "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
        }
        return value
    }

    func address(_ node: Node, key: String) throws(ConfigError) -> HostPort {
        let text = try string(node, key: key)
        switch HostPort.parse(text) {
        case .success(let value): return value
        case .failure(let failure): throw error(node, key, failure.message)
        }
    }

    /// `"host:port"`, or `{ address: "host:port", tcp: true }`.
    func upstream(_ node: Node, key: String) throws(ConfigError) -> ResolverSettings.Upstream {
        if case .mapping = node {
            let map = try mapping(node, key: key, allowed: ["address", "tcp"])
            guard let address = map["address"] else { throw error(node, key + ".address", "missing") }
            var upstream = ResolverSettings.Upstream(address: try self.address(address, key: key + ".address"))
            if let tcp = map["tcp"] { upstream.tcp = try boolean(tcp, key: key + ".tcp") }
            return upstream
        }
        return ResolverSettings.Upstream(address: try address(node, key: key))
    }

    func boolean(_ node: Node, key: String) throws(ConfigError) -> Bool {
        let text = try string(node, key: key)
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, key, "expected true or false, got \"\(text)\"")
        }
    }

    func cache(_ node: Node) throws(ConfigError) -> ResolverSettings.Cache {
        var cache = ResolverSettings.Cache()
        let map = try mapping(node, key: "cache", allowed: ["max_entries", "min_ttl", "max_ttl", "servfail_ttl",
                                                              "serve_stale", "max_stale"])
        if let value = map["max_entries"] { cache.maxEntries = try integer(value, key: "cache.max_entries", range: 0...100_000_000) }
        if let value = map["min_ttl"] { cache.minTTL = UInt32(try integer(value, key: "cache.min_ttl", range: 0...86_400)) }
        if let value = map["max_ttl"] { cache.maxTTL = UInt32(try integer(value, key: "cache.max_ttl", range: 1...604_800)) }
        if let value = map["servfail_ttl"] { cache.servfailTTL = UInt32(try integer(value, key: "cache.servfail_ttl", range: 0...30)) }
        if let value = map["serve_stale"] { cache.serveStale = try boolean(value, key: "cache.serve_stale") }
        if let value = map["max_stale"] { cache.maxStaleSeconds = UInt32(try integer(value, key: "cache.max_stale", range: 1...604_800)) }
        if cache.minTTL > cache.maxTTL {
            throw error(map["min_ttl"], "cache.min_ttl", "\(cache.minTTL) is above cache.max_ttl (\(cache.maxTTL))")
        }
        return cache
    }

    func rateLimit(_ node: Node) throws(ConfigError) -> ResolverSettings.RateLimit {
        var limit = ResolverSettings.RateLimit()
        let map = try mapping(node, key: "rate_limit", allowed: ["per_client_qps", "burst", "action"])
        if let value = map["per_client_qps"] {
            limit.perClientQPS = try integer(value, key: "rate_limit.per_client_qps", range: 0...10_000_000)
        }
        limit.burst = try map["burst"].map { node throws(ConfigError) in
            try integer(node, key: "rate_limit.burst", range: 1...10_000_000)
        } ?? max(1, limit.perClientQPS * 2)
        if let value = map["action"] {
            limit.action = try choice(value, key: "rate_limit.action", ResolverSettings.RateLimit.Action.self)
        }
        return limit
    }

    func ip(_ node: Node, key: String, family: HostPort.Family) throws(ConfigError) -> String {
        let text = try string(node, key: key)
        guard HostPort.ipFamily(text) == family else {
            throw error(node, key, "\"\(text)\" is not an \(family == .ipv4 ? "IPv4" : "IPv6") address")
        }
        return text
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, key: String, _: T.Type) throws(ConfigError) -> T
    where T.RawValue == String {
        let text = try string(node, key: key)
        guard let value = T(rawValue: text) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw error(node, key, "\"\(text)\" is not one of \(options)")
        }
        return value
    }

    func sinkhole(_ node: Node, key: String, base: ResolverSettings.Sinkhole) throws(ConfigError)
        -> ResolverSettings.Sinkhole {
        var sinkhole = base
        let map = try mapping(node, key: key, allowed: ["ipv4", "ipv6", "ttl", "cname"])
        if let value = map["ipv4"] { sinkhole.ipv4 = try ip(value, key: key + ".ipv4", family: .ipv4) }
        if let value = map["ipv6"] { sinkhole.ipv6 = try ip(value, key: key + ".ipv6", family: .ipv6) }
        if let value = map["ttl"] { sinkhole.ttl = UInt32(try integer(value, key: key + ".ttl", range: 0...604_800)) }
        if let value = map["cname"] {
            let text = try string(value, key: key + ".cname")
            if case .failure(let problem) = DomainName.wireForm(text) {
                throw error(value, key + ".cname", "\"\(text)\" is not a host name: \(problem)")
            }
            sinkhole.cname = text.hasSuffix(".") ? text : text + "."
        }
        return sinkhole
    }

    func timestamp(_ node: Node, key: String) throws(ConfigError) -> Double {
        let text = try string(node, key: key)
        guard let value = ListSchedule.parse(text) else {
            throw error(node, key, "\"\(text)\" is not an RFC 3339 timestamp such as 2022-07-30T00:00:00+07:00")
        }
        return value
    }

    func listSettings(_ node: Node, key: String, folder: String, sinkhole base: ResolverSettings.Sinkhole)
        throws(ConfigError) -> ListSettings {
        let map = try mapping(node, key: key, allowed: [
            "name", "path", "format", "action", "category", "response", "sinkhole", "ede", "reference",
            "active_from", "active_until", "origin",
        ])
        guard let nameNode = map["name"] else { throw error(node, key + ".name", "missing; every list needs a name") }
        let name = try string(nameNode, key: key + ".name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw error(nameNode, key + ".name", "\"\(name)\" must be letters, digits, '-', '_' or '.'")
        }
        guard let pathNode = map["path"] else { throw error(node, key + ".path", "missing; every list needs a file") }
        let path = try string(pathNode, key: key + ".path")
        if path.isEmpty { throw error(pathNode, key + ".path", "empty") }
        let format = try map["format"].map { node throws(ConfigError) in
            try choice(node, key: key + ".format", ListFormat.self)
        } ?? .domains
        let action = try map["action"].map { node throws(ConfigError) in
            try choice(node, key: key + ".action", ListAction.self)
        } ?? .block
        let category = try map["category"].map { node throws(ConfigError) in
            try string(node, key: key + ".category")
        } ?? name
        let response = try map["response"].map { node throws(ConfigError) in
            try choice(node, key: key + ".response", BlockResponse.self)
        } ?? .sinkhole
        if map["response"] != nil && action != .block {
            throw error(map["response"], key + ".response", "only a block list answers with a response; this list is \(action.rawValue)")
        }
        let sinkhole = try map["sinkhole"].map { node throws(ConfigError) in
            try self.sinkhole(node, key: key + ".sinkhole", base: base)
        } ?? base
        var ede: UInt16? = 16
        if let node = map["ede"] {
            let text = try string(node, key: key + ".ede")
            switch text {
            case "none": ede = nil
            case "15", "16", "17": ede = UInt16(text)
            default: throw error(node, key + ".ede", "\"\(text)\" is not one of 15 (Blocked), 16 (Censored), 17 (Filtered), none")
            }
        }
        let reference = try map["reference"].map { node throws(ConfigError) in try string(node, key: key + ".reference") }
        var schedule = ListSchedule.always
        if let node = map["active_from"] { schedule.from = try timestamp(node, key: key + ".active_from") }
        if let node = map["active_until"] { schedule.until = try timestamp(node, key: key + ".active_until") }
        if let from = schedule.from, let until = schedule.until, until <= from {
            throw error(map["active_until"], key + ".active_until", "is not after active_from; the list would never be in force")
        }
        let origin = try map["origin"].map { node throws(ConfigError) in try string(node, key: key + ".origin") }
        if let origin {
            if format != .rpz { throw error(map["origin"], key + ".origin", "only an RPZ zone (format: rpz) has an origin") }
            if case .failure(let problem) = DomainName.wireForm(origin) {
                throw error(map["origin"], key + ".origin", "\"\(origin)\" is not a zone name: \(problem)")
            }
        }
        return ListSettings(
            name: name, path: ConfigLoader.absolutePath(path, relativeTo: folder), pathAsWritten: path,
            format: format, action: action, category: category, configLine: node.mark?.line ?? 0,
            response: response, sinkhole: sinkhole, ede: ede, reference: reference, schedule: schedule, origin: origin
        )
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
