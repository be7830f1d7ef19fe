/// The validated configuration: what `run` serves and `check` reports on. Every path is absolute
/// (resolved against the config file's folder), every address parsed, every number in range.
public struct ResolverSettings: Sendable {
    public var configPath: String
    public var listen: [HostPort]
    public var upstreams: [HostPort]
    /// True when `upstreams` came from /etc/resolv.conf because the config named none.
    public var upstreamsFromResolvConf: Bool
    public var timeoutMilliseconds: Int
    public var sinkhole: Sinkhole
    public var lists: [ListSettings]
    /// Event loops (threads) serving queries; defaults to the number of cores.
    public var threads: Int
    public var tcpIdleTimeoutMilliseconds: Int

    /// The records a blocked name is answered with.
    public struct Sinkhole: Sendable, Equatable {
        public var ipv4: String
        public var ipv6: String
        public var ttl: UInt32

        public init(ipv4: String = "0.0.0.0", ipv6: String = "::", ttl: UInt32 = 300) {
            self.ipv4 = ipv4
            self.ipv6 = ipv6
            self.ttl = ttl
        }
    }
}

/// One entry of `lists:` in the config.
public struct ListSettings: Sendable, Equatable {
    public var name: String
    /// Absolute path of the list file.
    public var path: String
    /// The path as written in the config, for messages.
    public var pathAsWritten: String
    public var format: ListFormat
    public var action: ListAction
    /// Why names on this list are blocked; sent as the Extended DNS Error's extra text.
    public var category: String
    /// Line of the list's entry in the config file.
    public var configLine: Int

    public init(name: String, path: String, pathAsWritten: String, format: ListFormat, action: ListAction,
                category: String, configLine: Int) {
        self.name = name
        self.path = path
        self.pathAsWritten = pathAsWritten
        self.format = format
        self.action = action
        self.category = category
        self.configLine = configLine
    }
}
