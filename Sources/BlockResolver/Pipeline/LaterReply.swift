import NIOCore

/// A reply that comes later (a forwarded query), without a promise and future per query: the
/// listener says where it goes with `whenReady` right after `respond` returns. Confined to the
/// listener's loop.
final class LaterReply: @unchecked Sendable {
    private var sink: ((ByteBuffer?) -> Void)?
    private var done = false
    private var value: ByteBuffer?

    /// Calls `body` with the reply (nil: nothing to send) once it exists.
    func whenReady(_ body: @escaping (ByteBuffer?) -> Void) {
        if done { body(value); value = nil } else { sink = body }
    }

    func complete(_ reply: ByteBuffer?) {
        guard !done else { return }
        done = true
        if let sink {
            self.sink = nil
            sink(reply)
        } else {
            value = reply
        }
    }
}
