import Foundation
import Yams

/// Reads the YAML config into `ResolverSettings`, rejecting anything it does not understand with
/// the key and line involved. Unknown keys are errors, not warnings: a misspelt `upstreams`
/// silently ignored would send every query to the wrong place.
///
/// The sections are read by the extensions in `ConfigLoader+Upstreams.swift`,
/// `ConfigLoader+Serving.swift`, `ConfigLoader+Operations.swift` and `ConfigLoader+Lists.swift`.
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

    /// The keys the top level may hold.
    static let topLevelKeys: Set<String> = [
        "listen", "upstreams", "timeout_ms", "sinkhole", "lists", "threads", "tcp", "upstream_strategy",
        "query_timeout_ms", "edns_udp_size", "cache", "access", "rate_limit", "metrics", "query_log", "user", "group",
        "precedence", "max_bad_lines", "outgoing", "tls", "listen_tls", "listen_https",
    ]

    /// Loads and validates the config file at `path`.
    /// A config is a page or two of YAML; anything this large is the wrong file.
    static let maxConfigBytes = 16 << 20

    public func load(path: String) throws(ConfigError) -> ResolverSettings {
        let absolute = Self.absolutePath(path, relativeTo: FileManager.default.currentDirectoryPath)
        let file: ListFile
        do {
            file = try ListFile.read(path: absolute, displayName: path, limit: Self.maxConfigBytes)
        } catch {
            throw ConfigError(file: path, line: nil, key: nil, message: "cannot read the config file: \(error.reason)")
        }
        guard let text = String(validating: file.bytes, as: UTF8.self) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "the config file is not UTF-8 text")
        }
        return try parse(yaml: text, path: absolute, displayName: path)
    }

    /// Validates config text; `path` locates relative list paths, `displayName` names the file in errors.
    public func parse(yaml: String, path: String, displayName: String? = nil) throws(ConfigError) -> ResolverSettings {
        let reader = YAMLReader(file: displayName ?? path)
        let root = try Self.document(yaml, reader)
        let folder = (path as NSString).deletingLastPathComponent
        let top = try reader.mapping(root, key: nil, allowed: Self.topLevelKeys)
        // Section by section in a fixed order: with several mistakes, the one reported first is
        // always the same. Some checks need an earlier section (loops need `listen`).
        let listen = try Self.listenAddresses(top["listen"], reader)
        let encrypted = try Self.encryptedListeners(top, listen: listen, folder: folder, reader)
        let (upstreams, fromResolvConf) = try upstreamServers(top["upstreams"], folder: folder, reader)
        try rejectLoops(upstreams, fromResolvConf: fromResolvConf,
                        listen: listen + encrypted.tls + encrypted.https, top, reader)
        let outgoing = try outgoingAddresses(top["outgoing"], upstreams: upstreams, fromResolvConf: fromResolvConf,
                                             reader)
        let timeout = try top["timeout_ms"].map { node throws(ConfigError) in
            try reader.integer(node, key: "timeout_ms", range: 10...60_000)
        } ?? 1500
        let threads = try top["threads"].map { node throws(ConfigError) in
            try reader.integer(node, key: "threads", range: 1...256)
        } ?? max(1, coreCount)
        let tcp = try Self.tcpLimits(top["tcp"], reader)
        let strategy = try top["upstream_strategy"].map { node throws(ConfigError) in
            try reader.choice(node, key: "upstream_strategy", ResolverSettings.UpstreamStrategy.self)
        } ?? .ordered
        let queryTimeout = try Self.queryTimeoutMilliseconds(top["query_timeout_ms"], timeout: timeout, reader)
        let ednsSize = try top["edns_udp_size"].map { node throws(ConfigError) in
            try reader.integer(node, key: "edns_udp_size", range: 512...4096)
        } ?? 1232
        let cache = try Self.cacheSettings(top["cache"], reader)
        let access = try Self.accessAllow(top["access"], reader)
        let rateLimit = try Self.rateLimitSettings(top["rate_limit"], reader)
        let metricsListen = try Self.metricsAddress(top["metrics"], reader)
        let queryLog = try Self.queryLogSettings(top["query_log"], folder: folder, reader)
        let account = try Self.processAccount(top, reader)
        let sinkhole = try top["sinkhole"].map { node throws(ConfigError) in
            try Self.sinkholeSettings(node, key: "sinkhole", base: ResolverSettings.Sinkhole(), reader)
        } ?? ResolverSettings.Sinkhole()
        let maxBadLines = try top["max_bad_lines"].map { node throws(ConfigError) in
            try Self.maxBadLines(node, key: "max_bad_lines", reader)
        }
        let lists = try Self.listSettings(top["lists"], root: root, folder: folder, sinkhole: sinkhole,
                                          maxBadLines: maxBadLines, reader)
        let precedence = try top["precedence"].map { node throws(ConfigError) in
            try reader.choice(node, key: "precedence", Precedence.self)
        } ?? .specific

        var settings = ResolverSettings(
            configPath: path, listen: listen, upstreams: upstreams, upstreamsFromResolvConf: fromResolvConf,
            timeoutMilliseconds: timeout, sinkhole: sinkhole, lists: lists, threads: threads,
            tcpIdleTimeoutMilliseconds: tcp.idle, tcpMaxConnections: tcp.maxConnections, upstreamStrategy: strategy,
            outgoing: outgoing, queryTimeoutMilliseconds: queryTimeout, ednsUDPSize: ednsSize, cache: cache, accessAllow: access,
            rateLimit: rateLimit, metricsListen: metricsListen, queryLogPath: queryLog.path,
            queryLogMode: queryLog.mode, user: account.user, group: account.group, precedence: precedence
        )
        settings.listenTLS = encrypted.tls
        settings.listenHTTPS = encrypted.https
        settings.tls = encrypted.files
        return settings
    }

    /// The root node of the config text; an empty file is an error, since `lists:` is required.
    private static func document(_ yaml: String, _ reader: YAMLReader) throws(ConfigError) -> Node {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw reader.error(nil, nil, "the config is empty; it needs at least `lists:`")
            }
            return node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw reader.syntaxError(error)
        } catch {
            throw reader.error(nil, nil, "not valid YAML: \(error)")
        }
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
