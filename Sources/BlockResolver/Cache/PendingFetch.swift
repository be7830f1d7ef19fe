import NIOCore

/// The clients waiting on one upstream query: identical misses, from any event loop, share it.
/// Each waiter is called back on its own loop. Touched only under its cache shard's lock.
final class PendingFetch: @unchecked Sendable {
    typealias Deliver = @Sendable (Result<ReplyParser.Reply, Error>) -> Void

    struct Waiter {
        let eventLoop: EventLoop
        let deliver: Deliver
    }

    private(set) var waiters: [Waiter] = []

    init(first: Waiter) {
        waiters = [first]
    }

    func add(_ waiter: Waiter) {
        waiters.append(waiter)
    }

    /// Hands `result` to every waiter, on its loop (at once when that is the calling loop).
    static func deliver(_ result: Result<ReplyParser.Reply, Error>, to waiters: [Waiter]) {
        for waiter in waiters {
            if waiter.eventLoop.inEventLoop {
                waiter.deliver(result)
            } else {
                let deliver = waiter.deliver
                waiter.eventLoop.execute { deliver(result) }
            }
        }
    }
}
