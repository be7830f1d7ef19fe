import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay in front of a real primary that can cut what the primary sends after a number of
/// bytes: a zone transfer whose stream ends in the middle, as a dropped connection does. The
/// relay runs in the test process, on threads of its own; the resolver under test sees a primary
/// that hangs up.
final class CuttingProxy: @unchecked Sendable {
    let port: Int
    private let target: Int
    private let listener: Int32
    private let lock = NSLock()
    private var cutAfter = Int.max
    private var stopped = false
    /// Connections whose reply was cut.
    private(set) var cuts = 0

    init(targetPort: Int) throws {
        target = targetPort
        port = try TestTools.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = RawDNS.withLoopback(port: port) { bind(listener, $0, $1) == 0 }
        guard bound, listen(listener, 16) == 0 else { throw TestTools.Missing(description: "cannot bind the proxy") }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// From now on, each connection's reply stream is cut after `bytes` (nil: relayed whole).
    func cut(after bytes: Int?) {
        lock.withLock { cutAfter = bytes ?? .max }
    }

    var cutCount: Int { lock.withLock { cuts } }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            if lock.withLock({ stopped }) { close(client); return }
            let limit = lock.withLock { cutAfter }
            let thread = Thread { [self] in relay(client, limit: limit) }
            thread.start()
        }
    }

    private func relay(_ client: Int32, limit: Int) {
        defer { close(client) }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        RawDNS.setTimeout(upstream, milliseconds: 5000)
        RawDNS.setTimeout(client, milliseconds: 5000)
        guard RawDNS.withLoopback(port: target, { connect(upstream, $0, $1) == 0 }) else { return }
        // The query: one framed message from the resolver.
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let got = recv(client, &buffer, buffer.count, 0)
        if got <= 0 { return }
        _ = send(upstream, buffer, got, Int32(MSG_NOSIGNAL))
        var relayed = 0
        while true {
            let read = recv(upstream, &buffer, buffer.count, 0)
            if read <= 0 { return }
            let allowed = min(read, limit - relayed)
            if allowed > 0 { _ = send(client, buffer, allowed, Int32(MSG_NOSIGNAL)) }
            relayed += allowed
            if relayed >= limit {
                lock.withLock { cuts += 1 }
                return
            }
        }
    }
}
