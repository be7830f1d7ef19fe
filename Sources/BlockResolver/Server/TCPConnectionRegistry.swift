import NIOCore

/// The open TCP connections of one event loop, for `tcp.max_connections`. When a new connection
/// would exceed this loop's share, one connection makes room for it:
///
/// 1. the connection idle longest (no query pending), else
/// 2. the oldest connection of the client network (/24 or /56, as for rate limits) that holds
///    the most connections.
///
/// So connections that each hold a query for a slow upstream can lock out nobody: whoever holds
/// the most gives up its oldest first, and a network that fills the table only ever evicts its
/// own connections. Confined to its event loop, like `LoopContext`.
final class TCPConnectionRegistry: @unchecked Sendable {
    final class Record {
        let channel: Channel
        let opened: NIODeadline
        var lastActivity: NIODeadline
        var pending = 0
        /// The client's network (`RateLimiter.networkKey`); 0 when the address is unknown.
        let network: UInt64

        init(channel: Channel, now: NIODeadline) {
            self.channel = channel
            opened = now
            lastActivity = now
            network = RateLimiter.networkKey(channel.remoteAddress) ?? 0
        }
    }

    private var records: [ObjectIdentifier: Record] = [:]
    /// Open connections per client network.
    private var perNetwork: [UInt64: Int] = [:]

    var count: Int { records.count }

    /// Registers `channel`; returns its record, or nil when it must be closed at once (only with
    /// a limit of 0).
    func admit(_ channel: Channel, limit: Int, now: NIODeadline) -> Record? {
        let record = Record(channel: channel, now: now)
        if records.count >= limit {
            guard let victim = victim(for: record) else { return nil }
            remove(victim.channel)
            victim.channel.close(promise: nil)
        }
        records[ObjectIdentifier(channel)] = record
        perNetwork[record.network, default: 0] += 1
        return record
    }

    /// The connection that gives way to `newcomer`: the one idle longest, else the oldest of the
    /// network holding the most connections (counting the newcomer's own).
    private func victim(for newcomer: Record) -> Record? {
        if let idle = records.values.filter({ $0.pending == 0 }).min(by: { $0.lastActivity < $1.lastActivity }) {
            return idle
        }
        let counts = perNetwork.merging([newcomer.network: 1], uniquingKeysWith: +)
        guard let busiest = counts.max(by: { $0.value < $1.value })?.key else { return nil }
        return records.values.filter { $0.network == busiest }.min { $0.opened < $1.opened }
            ?? records.values.min { $0.opened < $1.opened }
    }

    func remove(_ channel: Channel) {
        guard let record = records.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        let left = (perNetwork[record.network] ?? 1) - 1
        perNetwork[record.network] = left > 0 ? left : nil
    }
}
