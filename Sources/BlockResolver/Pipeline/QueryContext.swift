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
    /// Which lists may judge the answer (`ResponsePolicyStage`): those before this index in the
    /// config. Set by `QueryPolicyStage`: 0 when an allow entry decided the question name under
    /// `specific` precedence, the allowing list's index under `listed`, else every list.
    var responseLimit = Int.max

    /// The largest answer this client takes (`Query.sizeLimit` under the resolver's setting).
    @inline(__always)
    func sizeLimit(_ query: Query) -> Int {
        query.sizeLimit(transport, ednsUDPSize: snapshot.settings.ednsUDPSize)
    }

    /// `body` with the client's address bytes (4 or 16) when `needed`, else (or when the client
    /// is not an IP address) with nil: most policies never look at it.
    @inline(__always)
    func withClientAddress<R>(needed: Bool, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard needed else { return body(nil) }
        return Self.withAddress(of: client, body)
    }

    /// `body` with the address bytes of `address` (nil when it is not an IP address).
    static func withAddress<R>(of address: SocketAddress?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch address {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            return withUnsafeBytes(of: &raw) { body($0) }
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            return withUnsafeBytes(of: &raw) { body($0) }
        default:
            return body(nil)
        }
    }
}
