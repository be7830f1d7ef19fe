/// What happened to one query: the `outcome` label of `dns_queries_total` and the query log.
enum QueryOutcome: String, CaseIterable, Sendable {
    /// Answered from a block list (sinkhole, NXDOMAIN, NODATA, REFUSED or RPZ local data).
    case blocked
    /// Forwarded and the upstream's answer relayed (the name was allowed or unlisted).
    case forwarded
    /// Answered from the cache.
    case cached
    /// Answered from an expired cache entry because no upstream answered (RFC 8767).
    case stale
    /// The client is outside `access.allow`: REFUSED with EDE 18.
    case refused
    /// Over the client network's rate limit: truncated or dropped.
    case ratelimited
    /// No upstream answered (or too many forwards in flight): SERVFAIL.
    case servfail
    /// A query without exactly one readable question.
    case formerr
    /// An opcode other than QUERY.
    case notimp
    /// Not answered: too short, a response, an RPZ drop or a `response: drop` list.
    case dropped
    /// ANY answered per RFC 8482.
    case any
    /// A UDP answer too large for the client: TC set, the client retries over TCP.
    case truncated
    /// An EDNS version this resolver does not speak: BADVERS (RFC 6891 6.1.3).
    case badvers

    /// Position in `allCases`, for per-outcome arrays.
    var index: Int {
        switch self {
        case .blocked: return 0
        case .forwarded: return 1
        case .cached: return 2
        case .stale: return 3
        case .refused: return 4
        case .ratelimited: return 5
        case .servfail: return 6
        case .formerr: return 7
        case .notimp: return 8
        case .dropped: return 9
        case .any: return 10
        case .truncated: return 11
        case .badvers: return 12
        }
    }
}
