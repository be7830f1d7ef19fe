import NIOCore
import ResolverConfig

/// What the policy says to do with one query: forward it, answer it at once, or say nothing.
/// Pure (no sockets, no counters), so `run` and `explain` give the same answer for a query.
enum Verdict {
    case forward
    case drop
    case answer(ByteBuffer)

    /// Decides `query` (over `transport`) against `snapshot`, given the deciding entry `match`.
    /// The answer is not yet fitted to the client's size (`FitStage` does that for every answer).
    static func decide(_ query: Query, match: PolicyMatch?, snapshot: PolicySnapshot, transport: Transport,
                       allocator: ByteBufferAllocator) -> Verdict {
        let policy = snapshot.policy
        guard let match, policy.lists[match.listIndex].settings.action == .block else { return .forward }
        let answers = snapshot.parts.answers[match.listIndex]
        let kind: ListAnswer.Kind
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
            return .answer(MessageWriter.truncated(query, opt: snapshot.parts.common.plainOPT, allocator: allocator))
        }
        var buffer = allocator.buffer(capacity: DNSHeader.size + query.name.count + 4 + 64 + 16 + 64)
        answers.write(query, kind, suffixOffset: match.suffixOffset, into: &buffer)
        return .answer(buffer)
    }
}
