/// A list's `transfer` section: where an RPZ zone comes from by zone transfer (AXFR, IXFR),
/// which primaries may announce a change with NOTIFY, and the TSIG key that signs it all.
///
/// The list's `path` is then the last good copy of the zone: written (to a temporary file, then
/// renamed) after every transfer that succeeded, and served at start before the primary is asked.
public struct ZoneTransferSettings: Sendable, Equatable {
    /// Tried in order for SOA checks and transfers; NOTIFY is accepted only from these addresses.
    public var primaries: [HostPort]
    /// The zone's name in presentation form, absolute (ends in '.').
    public var zone: String
    /// The zone's name in lower-case wire form, to compare with a NOTIFY's question.
    public var zoneWire: [UInt8]
    /// The key that signs SOA queries, transfers and NOTIFY (RFC 8945); nil for none.
    public var tsig: TSIGKey?
    /// Seconds between SOA checks without a NOTIFY; nil: the zone's own SOA refresh (and its
    /// retry after a failure).
    public var refreshSeconds: Int?

    public init(primaries: [HostPort], zone: String, zoneWire: [UInt8], tsig: TSIGKey? = nil, refreshSeconds: Int? = nil) {
        self.primaries = primaries
        self.zone = zone
        self.zoneWire = zoneWire
        self.tsig = tsig
        self.refreshSeconds = refreshSeconds
    }

    /// A TSIG key as BIND's `key` statement and `tsig-keygen` write it.
    public struct TSIGKey: Sendable, Equatable {
        /// The key's name, absolute (ends in '.').
        public var name: String
        /// The algorithm's name as ldns knows it (`hmac-sha256.`).
        public var algorithm: String
        /// The secret, base64 as written in the config or the secret file.
        public var secret: String

        public init(name: String, algorithm: String, secret: String) {
            self.name = name
            self.algorithm = algorithm
            self.secret = secret
        }

        /// The algorithms accepted in the config (those ldns signs and verifies).
        public static let algorithms = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]
    }

    /// The longest and shortest `refresh_s`: a day, and a second (NOTIFY makes faster checks unneeded).
    public static let refreshRange = 1...86_400
}
