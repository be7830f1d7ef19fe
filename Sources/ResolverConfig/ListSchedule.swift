import Foundation

/// When a list is in force: from `from` (inclusive) until `until` (exclusive), as seconds since
/// 1970 so that nothing here reads a clock; callers pass the time, tests choose it.
public struct ListSchedule: Sendable, Equatable {
    public var from: Double?
    public var until: Double?

    public init(from: Double? = nil, until: Double? = nil) {
        self.from = from
        self.until = until
    }

    public static let always = ListSchedule()

    public func isActive(at date: Double) -> Bool {
        if let from, date < from { return false }
        if let until, date >= until { return false }
        return true
    }

    /// The first boundary strictly after `date`.
    public func nextChange(after date: Double) -> Double? {
        [from, until].compactMap { $0 }.filter { $0 > date }.min()
    }

    /// "active", "not yet active (from …)" or "expired (until …)", for `explain` and logs.
    public func describe(at date: Double) -> String {
        let window = [from.map { "from \(Self.format($0))" }, until.map { "until \(Self.format($0))" }]
            .compactMap { $0 }.joined(separator: " ")
        if let from, date < from { return "not yet active (\(window))" }
        if let until, date >= until { return "expired (\(window))" }
        return window.isEmpty ? "active (no schedule)" : "active (\(window))"
    }

    /// RFC 3339 in UTC.
    public static func format(_ date: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: date))
    }

    /// Parses an RFC 3339 timestamp (`2022-07-30T00:00:00+07:00`, `…Z`, optional fractions).
    public static func parse(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
