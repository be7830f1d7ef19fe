import ArgumentParser
import ResolverConfig

/// `block-resolver check`: validate a config and its lists without serving.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the config and every list, and report what they hold.",
        discussion: """
            Prints each list's entry count and every skipped line as `file:line: reason`. \
            Exits 0 when the config can be served (skipped lines are reported but do not make it \
            unusable), 1 when it cannot: a config error (named with file, line and key) or a list \
            file that cannot be read.
            """
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let settings: ResolverSettings
        do {
            settings = try ConfigLoader().load(path: options.config)
        } catch {
            print("error: \(error)")
            throw ExitCode.failure
        }
        print("config \(options.config): OK")
        print("listen: \(settings.listen.map(\.description).joined(separator: ", "))")
        let source = settings.upstreamsFromResolvConf ? " (from /etc/resolv.conf)" : ""
        print("upstreams: \(settings.upstreams.map(\.description).joined(separator: ", "))\(source)")

        var usable = true
        var loaded: [LoadedList] = []
        for list in settings.lists {
            let file: ListFile
            do {
                file = try ListFile.read(path: list.path, displayName: list.pathAsWritten)
            } catch {
                print("error: list \(list.name): cannot read \(error)")
                usable = false
                continue
            }
            let parsed = ListParser(format: list.format, fileName: list.pathAsWritten).parse(file.bytes)
            loaded.append(LoadedList(settings: list, parsed: parsed, identity: file.identity, loadSeconds: 0,
                                     reused: false))
            var line = "list \(list.name) (\(list.format.rawValue), \(list.action.rawValue)): \(parsed.count) entries"
            if parsed.problemCount > 0 { line += ", \(parsed.problemCount) skipped lines" }
            if parsed.ignoredCount > 0 { line += ", \(parsed.ignoredCount) hosts-file names ignored" }
            print(line)
            for problem in parsed.problems { print(problem) }
            if parsed.problemCount > parsed.problems.count {
                print("\(list.pathAsWritten): \(parsed.problemCount - parsed.problems.count) more skipped lines not shown")
            }
        }
        if usable {
            do {
                let policy = try CompiledPolicy(lists: loaded)
                print("policy: \(policy.table.uniqueCount) distinct names in \(loaded.count) lists")
            } catch {
                print("error: \(error)")
                usable = false
            }
        }
        if !usable {
            print("config \(options.config): NOT usable")
            throw ExitCode.failure
        }
    }
}
