import Atomics
import ResolverConfig

/// Everything a query needs to decide and answer: the compiled lists and the answer templates.
///
/// Immutable; a reload builds a new one completely and `PolicyStore` swaps it in with one atomic
/// store. A query loads the reference once and uses that snapshot to the end, so it never sees
/// half of a reload.
final class PolicySnapshot: Sendable, AtomicReference {
    /// Counts reloads: 1 for the policy loaded at start.
    let generation: Int
    let settings: ResolverSettings
    let policy: CompiledPolicy
    /// Answer templates by list index (only block lists use theirs).
    let answers: [ListAnswer]
    let common: CommonAnswers
    /// Where queries that are not blocked go; part of the snapshot so a reload can change it.
    let upstreams: UpstreamPool

    init(generation: Int, settings: ResolverSettings, policy: CompiledPolicy) throws {
        self.generation = generation
        self.upstreams = try UpstreamPool(upstreams: settings.upstreams, timeoutMilliseconds: settings.timeoutMilliseconds)
        self.settings = settings
        self.policy = policy
        var answers: [ListAnswer] = []
        for list in policy.lists {
            answers.append(try ListAnswer(sinkhole: settings.sinkhole, category: list.settings.category))
        }
        self.answers = answers
        self.common = try CommonAnswers()
    }
}
