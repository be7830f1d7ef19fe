import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: every forwarded query holds a socket while it waits.
enum FileLimit {
    /// Raises the soft limit to the hard limit and returns the soft limit now in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(1 << 30) ? 1 << 30 : Int(limit.rlim_cur)
    }

    static let floor = 256

    /// Why `limit` descriptors cannot start the server, or nil when they can: each event loop
    /// needs its own (epoll, its wake-up and timer descriptors, a UDP socket per listen address),
    /// and SwiftNIO stops the process, with no message an operator can act on, when a loop
    /// cannot get them. What the upstream pools cannot get they open later, so they count here
    /// only as the room a first query needs.
    static func tooLow(_ limit: Int, threads: Int, listeners: Int) -> String? {
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        // The floor: started with 36, the server was seen to serve, then spin on a core and ignore
        // SIGTERM once they ran out; no production resolver has so few.
        let needed = max(Self.floor, open + threads * (3 + listeners) + listeners + 16)
        guard limit < needed else { return nil }
        return "the open-file limit is \(limit); block-resolver needs at least \(needed) with \(threads) threads and "
            + "\(listeners) listen addresses (\(open) are open already), and far more to forward under load: raise it "
            + "(ulimit -n, or LimitNOFILE= in the systemd unit)"
    }

    #if canImport(Glibc)
    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif
}
