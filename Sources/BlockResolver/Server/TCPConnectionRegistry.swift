import NIOCore

/// The open TCP connections of one event loop, for `tcp.max_connections`: when a new connection
/// would exceed this loop's share, the connection idle longest (no query pending) is closed; when
/// none is idle, the new one is. Confined to its event loop, like `LoopContext`.
final class TCPConnectionRegistry: @unchecked Sendable {
    final class Record {
        let channel: Channel
        var lastActivity: NIODeadline
        var pending = 0

        init(channel: Channel, now: NIODeadline) {
            self.channel = channel
            lastActivity = now
        }
    }

    private var records: [ObjectIdentifier: Record] = [:]

    var count: Int { records.count }

    /// Registers `channel`; returns its record, or nil when it must be closed at once.
    func admit(_ channel: Channel, limit: Int, now: NIODeadline) -> Record? {
        if records.count >= limit {
            let idle = records.values.filter { $0.pending == 0 }.min { $0.lastActivity < $1.lastActivity }
            guard let idle else { return nil }
            records.removeValue(forKey: ObjectIdentifier(idle.channel))
            idle.channel.close(promise: nil)
        }
        let record = Record(channel: channel, now: now)
        records[ObjectIdentifier(channel)] = record
        return record
    }

    func remove(_ channel: Channel) {
        records.removeValue(forKey: ObjectIdentifier(channel))
    }
}
