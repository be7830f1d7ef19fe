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
        /// A landing host: answer `CNAME landing-host` plus its A/AAAA (the sinkhole addresses).
        public var cname: String?

        public init(ipv4: String = "0.0.0.0", ipv6: String = "::", ttl: UInt32 = 300, cname: String? = nil) {
            self.ipv4 = ipv4
            self.ipv6 = ipv6
            self.ttl = ttl
            self.cname = cname
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
    /// How a blocked name is answered (RPZ records with an action of their own override it).
    public var response: BlockResponse
    /// The resolver's sinkhole with this list's overrides applied.
    public var sinkhole: ResolverSettings.Sinkhole
    /// Extended DNS Error code for blocked answers (RFC 8914), nil for none.
    public var ede: UInt16?
    /// The legal basis, appended to the EDE text after the category.
    public var reference: String?
    public var schedule: ListSchedule
    /// The zone name of an RPZ file that has no `$ORIGIN` and no absolute SOA owner.
    public var origin: String?

    public init(name: String, path: String, pathAsWritten: String, format: ListFormat, action: ListAction,
                category: String, configLine: Int, response: BlockResponse = .sinkhole,
                sinkhole: ResolverSettings.Sinkhole = .init(), ede: UInt16? = 16, reference: String? = nil,
                schedule: ListSchedule = .always, origin: String? = nil) {
        self.name = name
        self.path = path
        self.pathAsWritten = pathAsWritten
        self.format = format
        self.action = action
        self.category = category
        self.configLine = configLine
        self.response = response
        self.sinkhole = sinkhole
        self.ede = ede
        self.reference = reference
        self.schedule = schedule
        self.origin = origin
    }

    /// The EDE extra text: the category, then the reference when there is one.
    public var edeText: String {
        guard let reference, !reference.isEmpty else { return category }
        return "\(category); \(reference)"
    }
}
