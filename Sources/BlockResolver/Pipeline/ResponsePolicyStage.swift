import NIOCore
import ResolverConfig

/// The response policy: the names an answer's CNAME and DNAME chain leads to, and its addresses,
/// judged against the snapshot of the moment, for answers from the upstream and from the cache
/// alike (so a reload applies at once to what is cached). Runs after `CacheStage` on a hit and
/// after `ForwardStage` on an upstream's reply.
///
/// - A match on a `domains`, `hosts` or `ips` list gives the client that list's answer for its
///   own question: it never learns the alias's target or address.
/// - A match on an RPZ list gives the RPZ answer: the chain up to the matching name, then the
///   rule's action for that name (NXDOMAIN, NODATA, local data, drop, tcp-only; passthru lets the
///   answer through). A local-data CNAME is followed (`Follow`).
/// - The first name of the chain with a match decides; names are judged before addresses.
/// - An allow entry that decided the question name lets its chain through: with `specific`
///   precedence nothing of the answer is judged; with `listed`, only lists before the allowing
///   one are (`QueryContext.responseLimit`).
///
/// Nearly free for answers it leaves alone: an answer without a CNAME, DNAME or address (or one
/// with addresses when no list has address triggers) is not looked at, and the chain was read
/// once when the reply came (`AnswerChain`), so a cached answer costs one table lookup per name.
enum ResponsePolicyStage {
    /// What a query does once its answer is known: finish, or first follow a policy CNAME.
    enum Continuation {
        case finish(StageResult)
        case follow(Follow)
    }

    /// nil when `image`, the answer to the query `asked`, goes to the client as it is.
    @inline(__always)
    static func judge(_ image: ReplyImage, _ asked: @autoclosure () -> Asked,
                      _ context: QueryContext) -> Continuation? {
        let chain = image.chain
        guard context.responseLimit > 0, !chain.isEmpty else { return nil }
        let snapshot = context.snapshot
        let policy = snapshot.policy
        guard !chain.links.isEmpty || policy.hasAnswerAddressTriggers else { return nil }
        let hit = context.withClientAddress(needed: policy.hasClientScopedLists) { client in
            match(chain, policy: policy, active: snapshot.active, client: client, before: context.responseLimit)
        }
        guard let hit else { return nil }
        return apply(hit.match, owner: hit.owner, matched: hit.matched, image, asked(), context)
    }

    /// The entry that decides for an answer's chain: `owner` is the chain position of the matched
    /// name or of the matched address's owner (0: the question name), `matched` the name (wire
    /// form) or address bytes. Pure: `explain --resolve` asks the same.
    static func match(_ chain: AnswerChain, policy: CompiledPolicy, active: [Bool], client: UnsafeRawBufferPointer?,
                      before limit: Int) -> (match: PolicyMatch, owner: Int, matched: [UInt8])? {
        var found: (match: PolicyMatch, owner: Int, matched: [UInt8])? = nil
        for (index, link) in chain.links.enumerated() {
            let match = link.name.withUnsafeBufferPointer { name in
                policy.decide(name, active: active, client: client, before: limit)
            }
            if let match {
                found = (match.found(as: .cname), index + 1, link.name)
                break
            }
        }
        guard policy.hasAnswerAddressTriggers else { return found }
        let bound = policy.precedence == .listed ? min(limit, found?.match.listIndex ?? .max) : (found == nil ? limit : 0)
        for address in chain.addresses where bound > 0 {
            guard let match = address.bytes.withUnsafeBytes({ bytes in
                policy.decideAddress(bytes, active: active, client: client, before: bound)
            }) else { continue }
            if found == nil || isBetter(match, address.bytes, than: found!, policy) {
                found = (match, address.owner, address.bytes)
            }
        }
        return found
    }

    /// Among address matches: the lower list under `listed`, else (and then) the longer prefix,
    /// then the smaller address (BIND's order); a name match of the same list stays first.
    private static func isBetter(_ match: PolicyMatch, _ address: [UInt8],
                                 than found: (match: PolicyMatch, owner: Int, matched: [UInt8]),
                                 _ policy: CompiledPolicy) -> Bool {
        let (other, _, otherAddress) = found
        if other.trigger != .ip { return policy.precedence == .listed && match.listIndex < other.listIndex }
        if policy.precedence == .listed && match.listIndex != other.listIndex { return match.listIndex < other.listIndex }
        if match.suffixOffset != other.suffixOffset { return match.suffixOffset > other.suffixOffset }
        return address.count == otherAddress.count && address.lexicographicallyPrecedes(otherAddress)
    }

    /// The answer `match` gives; `owner` is the chain position of the matched name or of the
    /// matched address's owner (0: the question name).
    private static func apply(_ match: PolicyMatch, owner: Int, matched: [UInt8], _ image: ReplyImage,
                              _ asked: Asked, _ context: QueryContext) -> Continuation? {
        let snapshot = context.snapshot
        let list = snapshot.policy.lists[match.listIndex]
        guard list.settings.action == .block else { return nil }  // an allow entry lets the answer through
        let decider = Decider(match, matched: matched)
        let type = asked.question.type
        let ownerName = image.chain.name(owner: owner, question: asked.question.name.map(DomainName.lowercase))
        var parts = ReplyRewrite.Parts(question: asked.question, flags: asked.flags, rcode: DNSHeader.rcodeNOERROR)
        parts.base = image
        parts.keep = image.chain.recordsThrough(owner: owner)
        let soa = soaLine(owner: ownerName, ttl: list.settings.sinkhole.ttl)
        let result: Continuation?
        switch list.parsed.rules[match.ruleIndex].action {
        case .passthru:
            return nil
        case .list:
            // The list's own answer for the client's question, as if the question name were listed.
            result = asked.withQuery { query -> Continuation? in
                let entry = PolicyMatch(listIndex: match.listIndex, ruleIndex: match.ruleIndex, suffixOffset: 0,
                                        trigger: match.trigger)
                switch Verdict.decide(query, match: entry, snapshot: snapshot, transport: context.transport,
                                      allocator: context.allocator, opt: opt(decider, snapshot)) {
                case .forward: return nil
                case .drop: return .finish(.silent(.dropped, by: decider))
                case .answer(let buffer): return .finish(.answer(buffer, .blocked, by: decider))
                case .follow(let follow): return .follow(follow)
                }
            }
        case .drop:
            result = .finish(.silent(.dropped, by: decider))
        case .tcpOnly:
            if !context.transport.isDatagram { return nil }
            result = asked.withQuery { query in
                .finish(.answer(MessageWriter.truncated(query, opt: snapshot.parts.common.plainOPT,
                                                        allocator: context.allocator), .truncated, by: decider))
            }
        case .nxdomain:
            parts.rcode = DNSHeader.rcodeNXDOMAIN
            parts.authority = [soa]
            result = .finish(answer(parts, asked, decider: decider, snapshot: snapshot, allocator: context.allocator))
        case .nodata:
            parts.authority = [soa]
            result = .finish(answer(parts, asked, decider: decider, snapshot: snapshot, allocator: context.allocator))
        case .localData:
            guard let local = snapshot.parts.answers[match.listIndex].localData[match.ruleIndex] else { return nil }
            if let cname = local.policyCNAME(for: type) {
                guard let target = cname.target(for: ownerName) else {
                    parts.rcode = DNSHeader.rcodeNXDOMAIN  // `*.` expanded past 255 bytes: no such name
                    parts.authority = [soa]
                    result = .finish(answer(parts, asked, decider: decider, snapshot: snapshot, allocator: context.allocator))
                    break
                }
                let line = LocalAnswer.PolicyCNAME.line(owner: ownerName, ttl: cname.ttl, target: target)
                if type == RecordType.cname || type == RecordType.any {
                    parts.records = [line]
                    result = .finish(answer(parts, asked, decider: decider, snapshot: snapshot, allocator: context.allocator))
                } else {
                    result = .follow(Follow(decider: decider, base: image, keep: parts.keep, cname: line, target: target))
                }
            } else {
                parts.records = local.lines(type, owner: ownerName)
                if parts.records.isEmpty { parts.authority = [soa] }
                result = .finish(answer(parts, asked, decider: decider, snapshot: snapshot, allocator: context.allocator))
            }
        }
        if result != nil { count(decider, context) }
        return result
    }

    /// The client's answer made of `parts`, with the deciding list's OPT (its Extended DNS
    /// Error); SERVFAIL if ldns cannot write it.
    static func answer(_ parts: ReplyRewrite.Parts, _ asked: Asked, decider: Decider, snapshot: PolicySnapshot,
                       allocator: ByteBufferAllocator) -> StageResult {
        let opt = asked.hasEDNS ? opt(decider, snapshot) : nil
        guard let image = ReplyRewrite.build(parts) else {
            var servfail = allocator.buffer(capacity: DNSHeader.size + asked.question.name.count + 4 + 64)
            asked.question.name.withUnsafeBufferPointer { name in
                MessageWriter.writeEmpty(id: asked.id, flags: asked.flags, rcode: DNSHeader.rcodeSERVFAIL, name: name,
                                         type: asked.question.type, class: asked.question.class, opt: opt,
                                         dnssecOK: asked.dnssecOK, into: &servfail)
            }
            return .answer(servfail, .servfail, by: decider)
        }
        let buffer = asked.question.name.withUnsafeBufferPointer { name in
            image.answer(id: asked.id, question: name, opt: opt, dnssecOK: asked.dnssecOK, allocator: allocator)
        }
        return .answer(buffer, .blocked, by: decider)
    }

    /// The deciding list's OPT record, its EDE text naming what matched in the answer.
    static func opt(_ decider: Decider, _ snapshot: PolicySnapshot) -> OPTTemplate {
        let answers = snapshot.parts.answers[decider.list]
        guard decider.trigger == .cname || decider.trigger == .ip else { return answers.opt }
        let what = decider.matchedText(question: [0], clientText: "")
        return answers.opt(naming: "list \(snapshot.policy.lists[decider.list].settings.name) matched \(decider.trigger.rawValue) \(what)")
    }

    /// Counts a block decided by the answer.
    static func count(_ decider: Decider, _ context: QueryContext) {
        let policy = context.snapshot.policy
        context.loop.metrics.blocked(listIndex: decider.list, trigger: decider.trigger,
                                     generation: context.snapshot.generation, list: policy.lists[decider.list].settings)
    }

    /// The SOA of a negative answer the policy writes for `owner` (the same record a list's own
    /// NXDOMAIN carries: negative answers are cached for the sinkhole TTL, RFC 2308).
    static func soaLine(owner: [UInt8], ttl: UInt32) -> String {
        ListAnswer.soaLine(owner: DomainName.presentation(ofWire: owner), ttl: ttl)
    }
}
