import Logging
import ResolverConfig

/// Stage 3: the question name (lower-cased once, here) against the policy snapshot. A block
/// ends the query with its list's answer; monitor lists are counted and logged and never
/// decide; anything else goes on, with the cache key made from the same lower-cased name.
final class QueryPolicyStage: Sendable {
    /// Hits on monitor-mode lists.
    let monitor = MonitorCounter()
    let logger: Logger

    enum Decision {
        case done(StageResult)
        /// A policy CNAME to resolve first.
        case follow(Follow)
        /// Not decided here: go on with this cache key, and let lists before `responseLimit`
        /// judge the answer.
        case pass(CacheKey, responseLimit: Int)
    }

    init(logger: Logger) {
        self.logger = logger
    }

    @inline(__always)
    func decide(_ query: Query, _ context: QueryContext) -> Decision {
        let snapshot = context.snapshot
        let policy = snapshot.policy
        var key: CacheKey? = nil
        let match: PolicyMatch? = query.withLowercasedName { name in
            if policy.hasMonitorLists { recordMonitorHits(name, context) }
            let match = context.withClientAddress(needed: policy.needsClientAddress) { client in
                policy.decideQuery(name, active: snapshot.active, client: client)
            }
            if match == nil || policy.lists[match!.listIndex].settings.action != .block {
                key = CacheKey(name: Array(name), type: query.type, class: query.class, dnssecOK: query.dnssecOK)
            }
            return match
        }
        switch Verdict.decide(query, match: match, snapshot: snapshot, transport: context.transport,
                              allocator: context.allocator) {
        case .drop:
            return .done(.silent(.dropped, by: match.map { Decider($0) }))
        case .answer(let buffer):
            guard let match else { return .done(.answer(buffer, .blocked, by: nil)) }
            context.loop.metrics.blocked(listIndex: match.listIndex, trigger: match.trigger,
                                         generation: snapshot.generation, list: policy.lists[match.listIndex].settings)
            // An RPZ tcp-only rule answers UDP with TC: recorded as truncated, like any such answer.
            return .done(.answer(buffer, DNSHeader.isTruncated(buffer) ? .truncated : .blocked, by: Decider(match)))
        case .follow(let follow):
            ResponsePolicyStage.count(follow.decider, context)
            return .follow(follow)
        case .forward:
            // A block list's entry that forwards (RPZ passthru, tcp-only over TCP) made no key.
            let passed = key ?? query.withLowercasedName { name in
                CacheKey(name: Array(name), type: query.type, class: query.class, dnssecOK: query.dnssecOK)
            }
            return .pass(passed, responseLimit: Self.responseLimit(after: match, policy))
        }
    }

    /// Which lists may judge the answer once `match` (an allow entry, a passthru, or nothing)
    /// let the question name through: an allow entry lets its chain through, entirely under
    /// `specific` precedence, and past its own list under `listed` (an earlier list still
    /// decides, as BIND and PowerDNS order their zones).
    @inline(__always)
    static func responseLimit(after match: PolicyMatch?, _ policy: CompiledPolicy) -> Int {
        guard let match else { return .max }
        return policy.precedence == .listed ? match.listIndex : 0
    }

    /// Counts and logs each monitor list that holds `name` (lower-case wire form).
    private func recordMonitorHits(_ name: UnsafeBufferPointer<UInt8>, _ context: QueryContext) {
        let policy = context.snapshot.policy
        for hit in policy.monitorHits(name, active: context.snapshot.active) {
            let list = policy.lists[hit.listIndex].settings.name
            let entry = DomainName.presentation(ofWire: UnsafeBufferPointer(rebasing: name[hit.suffixOffset...]))
            monitor.record(list: list, entry: entry)
            context.loop.metrics.monitored(list: list)
            let clientText = context.client?.ipAddress ?? "-"
            logger.info("action=monitor list=\(list) name=\(DomainName.presentation(ofWire: name)) client=\(clientText)",
                        metadata: ["entry": "\(entry)"])
        }
    }
}
