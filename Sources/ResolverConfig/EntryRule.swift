/// What one list entry matches and does. Domain and hosts lists have one rule for every entry
/// (the name and everything below it, the list's action); an RPZ zone has a rule per trigger
/// kind and action, shared by every entry that is alike.
public struct EntryRule: Hashable, Sendable {
    public enum Scope: UInt8, Sendable {
        /// The name and every name below it (domain and hosts lists).
        case nameAndBelow
        /// The name only (an RPZ `name` trigger).
        case nameOnly
        /// Names below it only (an RPZ `*.name` trigger).
        case belowOnly

        /// Whether a match `labelsBelow` labels above the query name applies (0: the name itself).
        @inline(__always)
        public func applies(atSuffixOffset offset: Int) -> Bool {
            switch self {
            case .nameAndBelow: return true
            case .nameOnly: return offset == 0
            case .belowOnly: return offset > 0
            }
        }
    }

    public enum Action: Hashable, Sendable {
        /// The list's `action` and `response` (domain and hosts lists).
        case list
        /// RPZ `CNAME .`
        case nxdomain
        /// RPZ `CNAME *.`
        case nodata
        /// RPZ `CNAME rpz-passthru.`: allow.
        case passthru
        /// RPZ `CNAME rpz-drop.`
        case drop
        /// RPZ `CNAME rpz-tcp-only.`: truncated over UDP, resolved over TCP.
        case tcpOnly
        /// RPZ local data: answer with these records, owner rewritten to the query name.
        case localData([LocalRecord])
    }

    public let scope: Scope
    public let action: Action

    public init(scope: Scope, action: Action) {
        self.scope = scope
        self.action = action
    }

    /// The rule of every domain and hosts list entry.
    public static let wholeSubtree = EntryRule(scope: .nameAndBelow, action: .list)

    /// A short word for reports (`check`, `explain`).
    public var actionName: String {
        switch action {
        case .list: return "list action"
        case .nxdomain: return "nxdomain"
        case .nodata: return "nodata"
        case .passthru: return "passthru"
        case .drop: return "drop"
        case .tcpOnly: return "tcp-only"
        case .localData: return "local-data"
        }
    }

    public var scopeDescription: String {
        switch scope {
        case .nameAndBelow: return "the name and every name below it"
        case .nameOnly: return "the name only"
        case .belowOnly: return "names below it only"
        }
    }
}

/// One record of RPZ local data: its type and its wire form with owner `.` (one zero byte), from
/// which the answer template is made by replacing the owner with a pointer to the question.
public struct LocalRecord: Hashable, Sendable {
    public let type: UInt16
    public let wireWithRootOwner: [UInt8]
    /// Zone-file text of the record's type and data, for `explain`.
    public let text: String

    public init(type: UInt16, wireWithRootOwner: [UInt8], text: String) {
        self.type = type
        self.wireWithRootOwner = wireWithRootOwner
        self.text = text
    }
}
