import Atomics
import ResolverConfig

/// Everything a query needs to decide and answer a policy question: the compiled lists, the
/// answer templates, and which lists are in force right now. Policy only: the upstreams, their
/// health and the cache live as long as the process (`UpstreamSet`, `AnswerCache`).
///
/// Immutable; a reload builds a new one completely and `PolicyStore` swaps it in with one atomic
/// store. A query loads the reference once and uses that snapshot to the end, so it never sees
/// half of a reload. When a list's schedule window opens or closes, only `active` changes: the
/// store publishes a copy that shares `parts`.
final class PolicySnapshot: Sendable, AtomicReference {
    /// What a reload builds (and a schedule change shares).
    final class Parts: Sendable {
        /// Counts reloads: 1 for the policy loaded at start.
        let generation: Int
        let settings: ResolverSettings
        let policy: CompiledPolicy
        /// Answer templates by list index.
        let answers: [ListAnswer]
        let common: CommonAnswers

        init(generation: Int, settings: ResolverSettings, policy: CompiledPolicy) throws {
            self.generation = generation
            self.settings = settings
            self.policy = policy
            let udpSize = UInt16(settings.ednsUDPSize)
            var answers: [ListAnswer] = []
            for list in policy.lists {
                answers.append(try ListAnswer(list: list.settings, rules: list.parsed.rules, udpSize: udpSize))
            }
            self.answers = answers
            self.common = try CommonAnswers(udpSize: udpSize)
        }

        /// The next generation of `old` with `policy`, a delta applied to `old.policy`: the same
        /// lists and rules, so the answer templates are shared, not made again.
        init(following old: Parts, policy: CompiledPolicy) {
            generation = old.generation + 1
            settings = old.settings
            self.policy = policy
            answers = old.answers
            common = old.common
        }
    }

    let parts: Parts
    /// Publication order, set once when `PolicyStore` publishes the snapshot (0 before).
    nonisolated(unsafe) var sequence = 0
    /// Whether each list is in force (its `active_from`/`active_until` window), by list index.
    let active: [Bool]
    /// When `active` must be computed again (seconds since 1970), if ever.
    let nextScheduleChange: Double?

    init(parts: Parts, now: Double) {
        self.parts = parts
        self.active = parts.policy.activeLists(at: now)
        self.nextScheduleChange = parts.policy.nextScheduleChange(after: now)
    }

    var generation: Int { parts.generation }
    var settings: ResolverSettings { parts.settings }
    var policy: CompiledPolicy { parts.policy }
}
