import Logging
import ResolverConfig

/// An IXFR applied incrementally: its differences become name changes of the list
/// (`CompiledPolicy.rpzChanges`), published as a delta of the policy served
/// (`PolicyStore.applyDelta`: no file read, nothing compiled again), then written to the copy so
/// that a restart starts from the new serial. A delta the overlay cannot carry (local data,
/// address triggers) takes the older way: applied to the copy, the copy read again.
extension ZoneTransferService {
    /// The records changed, once published; nil when the delta needs the copy read again. Throws
    /// `ZoneCopy.Failure` (the caller falls back to an AXFR) for a delta that does not fit: from
    /// another serial, or deleting what the list does not hold; nothing is published then.
    func applyIncrementally(_ list: ListSettings, _ transfer: ZoneTransferSettings,
                            _ differences: [ZoneTransfer.Difference], from serial: UInt32) throws -> Int? {
        var expected = serial
        for difference in differences {
            guard difference.from == expected, Self.isNewer(difference.to, than: difference.from) else {
                throw ZoneCopy.Failure(description: "a difference from serial \(difference.from) to \(difference.to) "
                                       + "does not follow serial \(expected)")
            }
            expected = difference.to
        }
        var changes: [CompiledPolicy.NameChange] = []
        do throws(CompiledPolicy.DeltaProblem) {
            for difference in differences {
                changes += try CompiledPolicy.rpzChanges(
                    deleted: difference.deleted.filter { $0.soaSerial == nil }.map(\.line),
                    added: difference.added.filter { $0.soaSerial == nil }.map(\.line), zone: transfer.zone)
            }
        } catch {
            return try notIncremental(list, error)
        }
        if case .failure(let problem) = store.applyDelta(list: list.name, changes: changes,
                                                         reason: "transfer of \(list.name)", logger: logger) {
            return try notIncremental(list, problem)
        }
        // The policy served is ahead of the copy until this returns; a copy that cannot follow
        // (a disk error, or a copy that does not hold what the delta deletes) takes the policy
        // back to what the copy holds, and the transfer fails.
        do {
            return try ZoneCopy.apply(differences, zone: transfer.zone, to: list.path)
        } catch {
            logger.error("the copy cannot follow the delta published; serving the copy again", metadata: [
                "list": "\(list.name)", "error": "\(error)",
            ])
            _ = store.reloadLists(logger: logger, reason: "the copy of \(list.name) could not follow its delta")
            throw error
        }
    }

    /// nil (read the copy again) for a delta the overlay cannot carry; a throw for one that does not fit.
    private func notIncremental(_ list: ListSettings, _ problem: CompiledPolicy.DeltaProblem) throws -> Int? {
        switch problem {
        case .needsFullRead:
            logger.info("IXFR applied by reading the copy again", metadata: [
                "list": "\(list.name)", "reason": "\(problem)",
            ])
            return nil
        case .inconsistent:
            throw ZoneCopy.Failure(description: problem.description)
        }
    }

    /// The list compiled whole again from its copy once its overlay has grown past
    /// `compactionThreshold` names, on this thread, published like a transfer's reload; the
    /// overlay before keeps serving until then.
    func compactIfDue(_ list: ListSettings) {
        let policy = store.current.policy
        guard let overlay = policy.overlay, overlay.count > Self.compactionThreshold(names: policy.table.uniqueCount)
        else { return }
        logger.info("compacting the policy: reading the copy again", metadata: [
            "list": "\(list.name)", "overlay_names": "\(overlay.count)",
        ])
        if case .success = store.reloadLists(logger: logger, reason: "compaction after transfers of \(list.name)") {
            metrics?.transferApplied(list: list.name, how: "compaction")
        }
    }

    /// How many changed names an overlay may carry before the lists are compiled again: 1% of the
    /// table's names, at least 64 and at most 100,000 (a dictionary probe per label is cheap, but
    /// the overlay's memory is a dictionary's, not the arena's).
    static func compactionThreshold(names: Int) -> Int {
        max(64, min(100_000, names / 100))
    }
}
