import NIOCore
import ResolverConfig

/// What the policy says to do with one query: forward it, answer it at once, or say nothing.
/// Pure (no sockets, no counters), so `run` and `explain` give the same answer for a query.
enum Verdict {
    case forward
    case drop
    case answer(ByteBuffer)

    /// Decides `query` (over `transport`) against `snapshot`, given the deciding entry `match`.
    static func decide(_ query: Query, match: PolicyMatch?, snapshot: PolicySnapshot, transport: QueryResolver.Transport,
                       allocator: ByteBufferAllocator) -> Verdict {
        let policy = snapshot.policy
        guard let match, policy.lists[match.listIndex].settings.action == .block else { return .forward }
        let answers = snapshot.parts.answers[match.listIndex]
        let kind: AnswerWriter.Blocked
        switch policy.lists[match.listIndex].parsed.rules[match.ruleIndex].action {
        case .list:
            switch answers.response {
            case .sinkhole: kind = .sinkhole
            case .nxdomain: kind = .nxdomain
            case .nodata: kind = .nodata
            case .refused: kind = .refused
            case .drop: return .drop
            }
        case .nxdomain: kind = .nxdomain
        case .nodata: kind = .nodata
        case .drop: return .drop
        case .localData: kind = answers.localData[match.ruleIndex].map { .local($0) } ?? .nodata
        case .passthru: return .forward
        case .tcpOnly:
            if transport == .tcp { return .forward }
            return .answer(truncated(query, snapshot: snapshot, allocator: allocator))
        }
        var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 64 + 16 + 64)
        AnswerWriter.writeBlocked(query, kind, suffixOffset: match.suffixOffset, answer: answers, into: &buffer)
        if transport == .udp && buffer.readableBytes > query.maxUDPSize {
            // A long name, SOA and category text can exceed a 512-byte client: send TC so it asks over TCP.
            return .answer(truncated(query, snapshot: snapshot, allocator: allocator))
        }
        return .answer(buffer)
    }

    /// An empty reply with TC set: the client asks again over TCP.
    static func truncated(_ query: Query, snapshot: PolicySnapshot, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 12 + query.name.count + 4 + 11)
        AnswerWriter.writeEmpty(query, flags: AnswerWriter.replyFlags(query) | AnswerWriter.flagTC, rcode: 0,
                                opt: query.edns == nil ? nil : snapshot.parts.common.plainOPT, into: &buffer)
        return buffer
    }
}
