import NIOCore
import ResolverConfig

/// What the policy says to do with one query: forward it, answer it at once, say nothing, or
/// first resolve a policy CNAME's target. Pure (no sockets, no counters), so `run` and `explain`
/// give the same answer for a query.
enum Verdict {
    case forward
    case drop
    case answer(ByteBuffer)
    case follow(Follow)

    /// Decides `query` (over `transport`) against `snapshot`, given the deciding entry `match`.
    /// The answer is not yet fitted to the client's size (`FitStage` does that for every answer).
    /// `opt` replaces the list's own OPT record (an answer the response policy decided names what
    /// matched in its EDE text).
    static func decide(_ query: Query, match: PolicyMatch?, snapshot: PolicySnapshot, transport: Transport,
                       allocator: ByteBufferAllocator, opt: OPTTemplate? = nil) -> Verdict {
        let policy = snapshot.policy
        guard let match, policy.lists[match.listIndex].settings.action == .block else { return .forward }
        let answers = snapshot.parts.answers[match.listIndex]
        let kind: ListAnswer.Kind
        switch policy.lists[match.listIndex].parsed.rules[match.ruleIndex].action {
        case .list:
            switch answers.response {
            case .sinkhole:
                if let landing = answers.resolvedLanding, query.type != RecordType.cname, query.type != RecordType.any {
                    let line = LocalAnswer.PolicyCNAME.line(owner: Array(query.name), ttl: landing.ttl, target: landing.target)
                    return .follow(Follow(decider: Decider(match), base: nil, keep: 0, cname: line, target: landing.target))
                }
                kind = .sinkhole
            case .nxdomain: kind = .nxdomain
            case .nodata: kind = .nodata
            case .refused: kind = .refused
            case .drop: return .drop
            }
        case .nxdomain: kind = .nxdomain
        case .nodata: kind = .nodata
        case .drop: return .drop
        case .localData:
            guard let local = answers.localData[match.ruleIndex] else { kind = .nodata; break }
            if let cname = local.policyCNAME(for: query.type) {
                return policyCNAME(cname, query, match: match, snapshot: snapshot, allocator: allocator)
            }
            kind = .local(local)
        case .passthru: return .forward
        case .tcpOnly:
            if !transport.isDatagram { return .forward }
            return .answer(MessageWriter.truncated(query, opt: snapshot.parts.common.plainOPT, allocator: allocator))
        }
        var buffer = allocator.buffer(capacity: DNSHeader.size + query.name.count + 4 + 64 + 16 + 64)
        answers.write(query, kind, suffixOffset: match.suffixOffset, opt: opt, into: &buffer)
        return .answer(buffer)
    }

    /// A local-data CNAME for the question name: followed to its target (the address records
    /// come from the cache or the upstream), except for CNAME and ANY queries, which get the
    /// CNAME itself (with `*` expanded). Without a wildcard, the CNAME alone is the rule's own
    /// template answer.
    private static func policyCNAME(_ cname: LocalAnswer.PolicyCNAME, _ query: Query, match: PolicyMatch,
                                    snapshot: PolicySnapshot, allocator: ByteBufferAllocator) -> Verdict {
        let answers = snapshot.parts.answers[match.listIndex]
        let owner = query.name.map(DomainName.lowercase)
        guard let target = cname.target(for: owner) else {
            // `*.` expanded past 255 bytes: no such name.
            var buffer = allocator.buffer(capacity: DNSHeader.size + query.name.count + 4 + 64 + 64)
            answers.write(query, .nxdomain, suffixOffset: 0, into: &buffer)
            return .answer(buffer)
        }
        let line = LocalAnswer.PolicyCNAME.line(owner: Array(query.name), ttl: cname.ttl, target: target)
        let decider = Decider(match)
        if query.type != RecordType.cname && query.type != RecordType.any {
            return .follow(Follow(decider: decider, base: nil, keep: 0, cname: line, target: target))
        }
        var parts = ReplyRewrite.Parts(question: Question(query), flags: query.replyFlags, rcode: DNSHeader.rcodeNOERROR)
        parts.records = [line]
        switch ResponsePolicyStage.answer(parts, Asked(query), decider: decider, snapshot: snapshot, allocator: allocator) {
        case .answer(let buffer, _, _): return .answer(buffer)
        case .silent, .next: return .drop
        }
    }
}
