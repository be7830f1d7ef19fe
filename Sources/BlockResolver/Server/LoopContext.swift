import NIOCore

/// The state of one event loop: its answer cache, the forwards it is waiting for (so identical
/// misses share one upstream query), its rate-limit buckets and its TCP connections.
///
/// Concurrency model: confined to `eventLoop`. Every handler that holds a context runs on that
/// loop, and so does every future callback that touches it, so nothing here needs a lock. That is
/// why it is `@unchecked Sendable`: the compiler cannot see the confinement, the code keeps it.
final class LoopContext: @unchecked Sendable {
    let eventLoop: EventLoop
    let cache = AnswerCache()
    /// Forwards in flight by cache key; later identical misses wait on the same future.
    var pending: [AnswerCache.Key: EventLoopFuture<UpstreamPool.Answer>] = [:]
    let limiter = RateLimiter()
    let connections = TCPConnectionRegistry()

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }
}
