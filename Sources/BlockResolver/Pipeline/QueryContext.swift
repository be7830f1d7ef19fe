import NIOCore

/// One query's surroundings, handed from stage to stage: how and from whom it came, when, the
/// policy it is answered with, and its event loop's state.
struct QueryContext {
    let transport: Transport
    let client: SocketAddress?
    let started: NIODeadline
    let snapshot: PolicySnapshot
    let loop: LoopContext
    let allocator: ByteBufferAllocator

    /// The largest answer this client takes (`Query.sizeLimit` under the resolver's setting).
    @inline(__always)
    func sizeLimit(_ query: Query) -> Int {
        query.sizeLimit(transport, ednsUDPSize: snapshot.settings.ednsUDPSize)
    }
}
