/// A list's `fetch` section: where a list of any format is downloaded from over HTTPS, how often
/// it is asked for, and the limits of one download.
///
/// The list's `path` is then the last good copy: served at start before anything is downloaded,
/// and replaced (a temporary file next to it, then a rename) only by a download that was read to
/// its end and is fit to serve (`PolicyLoader.fault`). The validators of the response it came from
/// (ETag, Last-Modified) are kept next to it in `path.meta`, so that a restart still asks with
/// If-None-Match / If-Modified-Since and an unchanged list costs a 304.
public struct ListFetchSettings: Sendable, Equatable {
    /// The address as written: `https://`, or `http://` to a loopback host only (`allowsPlain`).
    public var url: String
    /// Seconds between two downloads that succeeded (a 304 counts).
    public var refreshSeconds: Int
    /// Seconds one download may take in all: connection, TLS, redirects and the whole body.
    public var timeoutSeconds: Int
    /// The most bytes a download may bring (after gzip is decoded); a larger one is cut off.
    public var maxBytes: Int
    /// Absolute path of a PEM file of CA certificates to trust instead of the system's store.
    public var caPath: String?
    /// Extra request headers (an `Authorization` token), from `headers` and `headers_file`.
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(url: String, refreshSeconds: Int = Self.defaultRefreshSeconds,
                timeoutSeconds: Int = Self.defaultTimeoutSeconds, maxBytes: Int = Self.defaultMaxBytes,
                caPath: String? = nil, headers: [Header] = []) {
        self.url = url
        self.refreshSeconds = refreshSeconds
        self.timeoutSeconds = timeoutSeconds
        self.maxBytes = maxBytes
        self.caPath = caPath
        self.headers = headers
    }

    public static let defaultRefreshSeconds = 3600
    public static let defaultTimeoutSeconds = 120
    public static let defaultMaxBytes = 1 << 30
    /// A minute at the least: a list server is not to be polled like a DNS primary (there is no
    /// NOTIFY to make a short interval pay), and SIGHUP asks at once when an operator wants to.
    public static let refreshRange = 60...604_800
    public static let timeoutRange = 1...3600
    public static let maxBytesRange = 1...(1 << 40)

    /// The hosts a plain `http://` address may name: this machine only (a local mirror or
    /// proxy), where nobody on the path can change the list on its way. Anywhere else a list
    /// over plain HTTP could be rewritten in transit to unblock names.
    public static func isLoopback(host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }
}
