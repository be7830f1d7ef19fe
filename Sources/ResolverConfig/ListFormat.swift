/// How a list file is written.
public enum ListFormat: String, Sendable, CaseIterable {
    /// One name per line, `#` comments and blank lines: the ministry's published format.
    case domains
    /// `/etc/hosts` style: `0.0.0.0 name [name…]`, `#` comments; the address is ignored.
    case hosts
    /// An RPZ zone file (BIND, Unbound, PowerDNS), read with ldns's zone reader.
    case rpz
    /// One IP address or prefix per line, `#` comments: matched against the answer's addresses.
    case ips

    /// The reader of each format: adding a format is a case above, its reader, and a line here.
    public var readerType: any ListReader.Type {
        switch self {
        case .domains: return DomainsReader.self
        case .hosts: return HostsReader.self
        case .rpz: return RPZReader.self
        case .ips: return IPsReader.self
        }
    }
}

/// What a match on a list does to the query.
public enum ListAction: String, Sendable, CaseIterable {
    /// Answer with the list's response instead of forwarding (for RPZ: the record's action).
    case block
    /// Forward as usual, overriding any block entry for the same or a less specific name.
    case allow
    /// Answer as if unlisted, but count and log every hit (a platform watched before a block).
    case monitor
}

/// How a block list answers a blocked name.
public enum BlockResponse: String, Sendable, CaseIterable {
    /// A/AAAA with the sinkhole address (or a CNAME to the landing host), NODATA for other types.
    case sinkhole
    case nxdomain
    case nodata
    case refused
    /// No answer at all.
    case drop
}
