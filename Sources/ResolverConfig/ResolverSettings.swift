/// The validated configuration: what `run` serves and `check` reports on. Every path is absolute
/// (resolved against the config file's folder), every address parsed, every number in range.
public struct ResolverSettings: Sendable {
    public var configPath: String
    public var listen: [HostPort]
    /// `listen_tls`: DNS over TLS (RFC 7858) on these addresses; needs `tls`.
    public var listenTLS: [HostPort] = []
    /// `listen_https`: DNS over HTTPS (RFC 8484, HTTP/2 and HTTP/1.1, path /dns-query); needs `tls`.
    public var listenHTTPS: [HostPort] = []
    /// `tls`: the certificate chain and key of the encrypted listeners; re-read on SIGHUP.
    public var tls: TLSFiles? = nil
    public var upstreams: [Upstream]
    /// True when `upstreams` came from /etc/resolv.conf because the config named none.
    public var upstreamsFromResolvConf: Bool
    public var timeoutMilliseconds: Int
    public var sinkhole: Sinkhole
    public var lists: [ListSettings]
    /// Event loops (threads) serving queries; defaults to the number of cores.
    public var threads: Int
    public var tcpIdleTimeoutMilliseconds: Int
    /// TCP connections kept open at most (over the limit, the one idle longest is closed, else
    /// the oldest of the client network holding the most: `TCPConnectionRegistry`).
    public var tcpMaxConnections: Int = 1000
    public var upstreamStrategy: UpstreamStrategy = .ordered
    /// `outgoing`: the source addresses (IP literals) upstream sockets bind to; each socket takes
    /// one of its family at random. Empty: the wildcard, the kernel picks by route.
    public var outgoing: [String] = []
    /// Deadline for one client query, all upstream tries together.
    public var queryTimeoutMilliseconds: Int = 5000
    /// EDNS UDP size advertised to upstreams and the largest UDP answer sent to clients (RFC 6891,
    /// DNS Flag Day 2020: 1232).
    public var ednsUDPSize: Int = 1232
    public var cache = Cache()
    /// Clients allowed to query; others get REFUSED with EDE 18 (Prohibited).
    public var accessAllow: [CIDR] = CIDR.defaultAllowed
    public var rateLimit = RateLimit()
    /// Where `/metrics` (Prometheus), `/monitor` and `/health` are served; nil for nowhere.
    public var metricsListen: HostPort? = nil
    /// `query_log.path`: a file, or "-" for standard output.
    public var queryLogPath = "-"
    /// `query_log.mode`: off, blocked or all.
    public var queryLogMode = "off"
    /// Drop root to this user (and group) once the sockets are bound.
    public var user: String? = nil
    public var group: String? = nil
    /// Which list decides when entries of several lists match one query.
    public var precedence: Precedence = .specific

    /// The `outgoing` addresses of `family`.
    public func outgoing(_ family: HostPort.Family) -> [String] {
        outgoing.filter { HostPort.ipFamily($0) == family }
    }

    /// How the upstreams are chosen for each query.
    public enum UpstreamStrategy: String, Sendable, CaseIterable {
        /// The first that is up, then the next on failure.
        case ordered
        /// Each query starts at the next upstream in turn.
        case round_robin
        /// The lowest smoothed latency, with an occasional probe of the others.
        case fastest
    }

    /// One upstream resolver.
    public struct Upstream: Sendable, Equatable, CustomStringConvertible {
        public var address: HostPort
        /// Ask this upstream over TCP only.
        public var tcp: Bool
        /// Ask this upstream over TLS (RFC 7858) only, its certificate checked as this says.
        public var tls: UpstreamTLS?

        public init(address: HostPort, tcp: Bool = false, tls: UpstreamTLS? = nil) {
            self.address = address
            self.tcp = tcp
            self.tls = tls
        }

        public var description: String {
            if let tls { return "\(address) (tls \(tls.name ?? address.host))" }
            return tcp ? "\(address) (tcp)" : address.description
        }
    }

    /// How an upstream's TLS certificate is checked: against `name` (the address itself when
    /// nil) and issued by a certificate in `ca` (the system's trust store when nil).
    public struct UpstreamTLS: Sendable, Equatable {
        public var name: String?
        /// Absolute path of a PEM file of CA certificates.
        public var ca: String?

        public init(name: String? = nil, ca: String? = nil) {
            self.name = name
            self.ca = ca
        }
    }

    /// The server certificate of `listen_tls` and `listen_https` (`tls:`), absolute paths.
    public struct TLSFiles: Sendable, Equatable {
        /// A PEM file: the server certificate first, then the intermediates.
        public var certificate: String
        /// A PEM file with the private key of the certificate.
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// The answer cache (`cache:`).
    public struct Cache: Sendable, Equatable {
        /// Entries per event loop; 0 turns the cache off.
        public var maxEntries = 100_000
        public var minTTL: UInt32 = 0
        public var maxTTL: UInt32 = 86_400
        /// How long an upstream's SERVFAIL is remembered.
        public var servfailTTL: UInt32 = 5
        /// RFC 8767: when every upstream fails, answer from an expired entry with TTL 30.
        public var serveStale = false
        /// How long after expiry an entry may still be served stale.
        public var maxStaleSeconds: UInt32 = 86_400

        public init() {}
    }

    /// Per-client query limits (`rate_limit:`): clients are grouped per /24 (IPv4) or /56 (IPv6).
    public struct RateLimit: Sendable, Equatable {
        /// Queries a second each client network may send over UDP; 0 turns limiting off.
        public var perClientQPS = 0
        public var burst = 0
        /// What a UDP query over the limit gets.
        public var action: Action = .truncate

        public enum Action: String, Sendable, CaseIterable {
            /// An empty answer with TC set: a real client retries over TCP, a spoofer cannot.
            case truncate
            case drop
        }

        public init() {}
    }

    /// The records a blocked name is answered with.
    public struct Sinkhole: Sendable, Equatable {
        public var ipv4: String
        public var ipv6: String
        public var ttl: UInt32
        /// A landing host: answer `CNAME landing-host` plus its A/AAAA.
        public var cname: String?
        /// Whether the landing host's address is asked of the upstreams (as RPZ policy CNAMEs are
        /// followed): when the `sinkhole` section naming `cname` gives no `ipv4`/`ipv6` of its
        /// own. When it does, those addresses are the landing host's, answered without asking.
        public var resolvesCNAME: Bool

        public init(ipv4: String = "0.0.0.0", ipv6: String = "::", ttl: UInt32 = 300, cname: String? = nil,
                    resolvesCNAME: Bool = false) {
            self.ipv4 = ipv4
            self.ipv6 = ipv6
            self.ttl = ttl
            self.cname = cname
            self.resolvesCNAME = resolvesCNAME
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
    /// The client networks this list applies to; nil for every client.
    public var clients: [CIDR]?
    /// Skipped lines a file may have and still be served (`max_bad_lines`); a reload keeps the
    /// previous entries of a file with more (see `PolicyLoader.fault`). nil: the default rule,
    /// `badLineLimit`.
    public var maxBadLines: Int?
    /// Where the zone comes from by zone transfer; nil for a file alone. `path` is then the
    /// transfer's last good copy.
    public var transfer: ZoneTransferSettings?
    /// Where the list is downloaded from over HTTPS; nil for a file alone. `path` is then the
    /// last good download. Never together with `transfer`.
    public var fetch: ListFetchSettings?

    /// The least number of skipped lines the default rule allows. A national list of millions of
    /// lines carries some junk (URLs, IP addresses, typos: 0.3% of the lines in the lists
    /// `scripts/gen-list` imitates, 30,000 in 10 million), so without `max_bad_lines` a file may
    /// have 1% of its entries in skipped lines, and at least this many; a file with more is a
    /// broken export or the wrong file. A small broken file (an error page: a few lines, one of
    /// which may look like a name) is caught by the other rule, more skipped lines than entries.
    public static let defaultMaxBadLines = 1000

    /// The skipped lines a file of `entries` entries may have: `max_bad_lines`, or 1% of the
    /// entries and at least `defaultMaxBadLines`.
    public func badLineLimit(entries: Int) -> Int {
        maxBadLines ?? max(Self.defaultMaxBadLines, entries / 100)
    }

    public init(name: String, path: String, pathAsWritten: String, format: ListFormat, action: ListAction,
                category: String, configLine: Int, response: BlockResponse = .sinkhole,
                sinkhole: ResolverSettings.Sinkhole = .init(), ede: UInt16? = 16, reference: String? = nil,
                schedule: ListSchedule = .always, origin: String? = nil, clients: [CIDR]? = nil,
                maxBadLines: Int? = nil, transfer: ZoneTransferSettings? = nil, fetch: ListFetchSettings? = nil) {
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
        self.clients = clients
        self.maxBadLines = maxBadLines
        self.transfer = transfer
        self.fetch = fetch
    }

    /// The EDE extra text: the category, then the reference when there is one.
    public var edeText: String {
        guard let reference, !reference.isEmpty else { return category }
        return "\(category); \(reference)"
    }
}

/// Which list decides when entries of several lists match one query (`precedence:`).
public enum Precedence: String, Sendable, CaseIterable {
    /// The most specific entry decides, whichever list holds it; for the same name, an allow
    /// entry wins, then the list named first.
    case specific
    /// The first list in config order with any match decides, as BIND and PowerDNS order their
    /// policy zones; within one list the exact name beats a wildcard, a longer wildcard a shorter
    /// one.
    case listed
}
