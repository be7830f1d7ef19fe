/// How a list file is written.
public enum ListFormat: String, Sendable, CaseIterable {
    /// One name per line, `#` comments and blank lines: the ministry's published format.
    case domains
    /// `/etc/hosts` style: `0.0.0.0 name [name…]`, `#` comments; the address is ignored.
    case hosts
}

/// What a match on a list does to the query.
public enum ListAction: String, Sendable, CaseIterable {
    /// Answer with the sinkhole (the list's response) instead of forwarding.
    case block
    /// Forward as usual, overriding any block entry for the same or a less specific name.
    case allow
}
