import Logging
import ResolverConfig

/// Logs what each list of a policy holds and the first problems found in it.
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
                "entries": "\(list.parsed.count)",
                "skipped": "\(list.parsed.problemCount)",
                "seconds": "\(String(format3digits: list.loadSeconds))",
                "reused": "\(list.reused)",
            ])
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
