import Logging
import ResolverConfig

/// Logs what each list of a policy holds, the first problems found in it, and every list file
/// that is not fit to serve (`PolicyLoader.fault`), at error level: kept at its previous entries
/// on a reload, loaded as read at start (there is nothing to keep then).
enum ListReport {
    /// How many problem lines `run` logs per list; `check` prints them all.
    static let problemsLogged = 5

    static func log(_ policy: CompiledPolicy, logger: Logger) {
        for list in policy.lists {
            let settings = list.settings
            logger.info("list loaded", metadata: [
                "list": "\(settings.name)",
                "action": "\(settings.action.rawValue)",
                "format": "\(settings.format.rawValue)",
                "entries": "\(list.parsed.entryTotal)",
                "skipped": "\(list.parsed.problemCount)",
                "seconds": "\(String(format3digits: list.loadSeconds))",
                "reused": "\(list.reused)",
            ])
            if let fault = list.fault {
                let metadata: Logger.Metadata = [
                    "list": "\(settings.name)", "file": "\(settings.pathAsWritten)", "reason": "\(fault)",
                ]
                if list.keptPrevious {
                    logger.error("list kept its previous entries; run `block-resolver check` to see the file's problems",
                                 metadata: metadata)
                    // The problems below would be those of the file the kept entries came from.
                    continue
                }
                logger.error("list file is not fit to serve; loaded as read, as there is nothing to keep",
                             metadata: metadata)
            }
            if list.parsed.problemCount > 0 {
                for problem in list.parsed.problems.prefix(problemsLogged) {
                    logger.warning("skipped list line", metadata: ["problem": "\(problem)"])
                }
                if list.parsed.problemCount > problemsLogged {
                    logger.warning("more skipped lines; run `block-resolver check` to see all", metadata: [
                        "list": "\(settings.name)", "more": "\(list.parsed.problemCount - problemsLogged)",
                    ])
                }
            }
        }
    }
}
