import NIOCore
import ResolverConfig

/// A policy CNAME to resolve before answering (RPZ local data `CNAME garden.example.`, as BIND
/// and PowerDNS do it): the client gets the records before it (the chain of the upstream's
/// answer up to the matched name, when the match was in the chain), the policy CNAME, and then
/// the answer for the target from the cache or the upstream. What the target resolves to is not
/// judged again (RPZ draft, section 6: rules do not apply to what a rewrite produced).
struct Follow {
    let decider: Decider
    /// The answer whose first `keep` answer records come first.
    let base: ReplyImage?
    let keep: Int
    /// The policy CNAME, as a zone-file line.
    let cname: String
    /// Lower-case wire form.
    let target: [UInt8]

    /// The question asked of the cache and the upstream: the target, with the client's type.
    func question(_ asked: Asked) -> Question {
        Question(name: target, type: asked.question.type, class: asked.question.class)
    }

    /// The client's answer, given the target's (nil when it could not be had: the client then
    /// gets the policy CNAME alone).
    func answer(_ followed: ReplyImage?, _ asked: Asked, snapshot: PolicySnapshot,
                allocator: ByteBufferAllocator) -> StageResult {
        var parts = ReplyRewrite.Parts(question: asked.question, flags: asked.flags,
                                       rcode: followed?.rcode ?? DNSHeader.rcodeNOERROR)
        parts.base = base
        parts.keep = keep
        parts.records = [cname]
        parts.followed = followed
        return ResponsePolicyStage.answer(parts, asked, decider: decider, snapshot: snapshot, allocator: allocator)
    }
}
