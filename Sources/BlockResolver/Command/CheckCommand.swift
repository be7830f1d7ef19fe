import ArgumentParser
import Foundation
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// `block-resolver check`: validate a config and its lists without serving.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the config and every list, and report what they hold.",
        discussion: """
            Prints each list's entry count, names and addresses (by kind for RPZ zones: trigger and \
            action), every skipped line as `file:line: reason`, RPZ triggers this resolver does not \
            implement, duplicate entries, and block entries shadowed by an allow entry for the same \
            name (under `precedence: listed`, by an allow entry of an earlier list). Exits 0 when the \
            config can be served (skipped lines, duplicates and shadowed entries are reported but do \
            not make it unusable), 1 when it cannot: a config error (named with file, line and key), \
            a list file that cannot be read, or one that is not a list to serve: more skipped lines \
            than entries, or than its `max_bad_lines`. A reload keeps the previous entries of such a \
            list. A list with no entries at all (an empty file) is a warning only.
            """
    )

    @OptionGroup var options: ConfigOptions

    /// Duplicates and shadowed entries printed per list; the rest are counted.
    static let examplesShown = 20

    func run() throws {
        let settings = try options.loadSettings()
        print("config \(options.config): OK")
        print("listen: \(settings.listen.map(\.description).joined(separator: ", "))")
        let source = settings.upstreamsFromResolvConf ? " (from /etc/resolv.conf)" : ""
        print("upstreams: \(settings.upstreams.map(\.description).joined(separator: ", "))\(source)")
        if !settings.outgoing.isEmpty { print("outgoing: \(settings.outgoing.joined(separator: ", "))") }
        if !settings.listenTLS.isEmpty { print("listen_tls: \(settings.listenTLS.map(\.description).joined(separator: ", "))") }
        if !settings.listenHTTPS.isEmpty {
            print("listen_https: \(settings.listenHTTPS.map(\.description).joined(separator: ", "))")
        }

        let lists = ReportLists(settings)
        for failure in lists.failures { print("error: \(failure)") }
        var usable = lists.failures.isEmpty
        if let files = settings.tls {
            do {
                print("tls: \(try TLSCredentials.load(files).summary)")
            } catch {
                print("error: \(error)")
                usable = false
            }
        }
        var policy: CompiledPolicy? = nil
        do {
            policy = try CompiledPolicy(lists: lists.loaded, precedence: settings.precedence)
        } catch {
            print("error: \(error)")
            usable = false
        }
        for (index, list) in lists.loaded.enumerated() {
            report(list, index: index, policy: policy)
        }
        // Last, where they are seen after thousands of skipped lines.
        for list in lists.loaded {
            let settings = list.settings
            if let fault = PolicyLoader.fault(of: list.parsed, list: settings) {
                print("error: list \(settings.name) (\(settings.pathAsWritten)): \(fault); "
                      + "a reload would keep the entries the list has now, a start would serve it as read")
                usable = false
            } else if list.parsed.entryTotal == 0 {
                print("warning: list \(settings.name) (\(settings.pathAsWritten)): no entries; "
                      + "a reload keeps the entries of a list that had some")
            }
        }
        if let policy {
            print("policy: \(policy.table.uniqueCount) distinct names, \(policy.answerAddresses.count) answer-address and "
                  + "\(policy.clientAddresses.count) client-address entries in \(lists.loaded.count) lists")
            print(settings.precedence == .listed
                  ? "precedence: listed (the first list in config order with a match decides)"
                  : "precedence: specific (the most specific entry decides; allow wins a tie for one name)")
        }
        if !usable {
            print("config \(options.config): NOT usable")
            throw ExitCode.failure
        }
    }

    private func report(_ list: LoadedList, index: Int, policy: CompiledPolicy?) {
        let settings = list.settings
        let parsed = list.parsed
        let entries = parsed.entryTotal
        var line = "list \(settings.name) (\(settings.format.rawValue), \(settings.action.rawValue)): \(entries) entries"
        if parsed.problemCount > 0 { line += ", \(parsed.problemCount) skipped lines" }
        if parsed.ignoredCount > 0 { line += ", \(parsed.ignoredCount) hosts-file names ignored" }
        print(line)
        if settings.format.readerType.hasRulePerEntry {
            print("  by kind: " + parsed.countsByKind.map { "\($0.kind) \($0.count)" }.joined(separator: ", "))
        }
        if !parsed.unsupportedTriggers.isEmpty {
            print("  unsupported triggers, not applied: "
                  + parsed.unsupportedTriggers.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let transfer = settings.transfer {
            let primaries = transfer.primaries.map(\.description).joined(separator: ", ")
            let key = transfer.tsig.map { ", TSIG key \($0.name) (\($0.algorithm.dropLast()))" } ?? ""
            print("  transfer: zone \(transfer.zone) from \(primaries)\(key), "
                  + (transfer.refreshSeconds.map { "SOA check every \($0) s" } ?? "SOA check at the zone's refresh"))
            if let copy = ZoneCopy.header(path: settings.path), copy.zone == transfer.zone {
                print("  copy: serial \(copy.serial) (\(settings.pathAsWritten))")
            } else if FileManager.default.fileExists(atPath: settings.path) {
                print("  copy: \(settings.pathAsWritten) was not written by a transfer; served, and replaced by the first AXFR")
            } else {
                print("  copy: none yet; `run` transfers the whole zone (AXFR) at start")
            }
        }
        if let fetch = settings.fetch { reportFetch(fetch, list) }
        if let clients = settings.clients {
            print("  applies to clients in: \(clients.map(\.description).joined(separator: ", "))")
        }
        if settings.schedule != .always {
            print("  schedule: \(settings.schedule.describe(at: Double(time(nil))))")
        }
        for problem in parsed.problems { print(problem) }
        if parsed.problemCount > parsed.problems.count {
            print("\(settings.pathAsWritten): \(parsed.problemCount - parsed.problems.count) more skipped lines not shown")
        }
        if let policy { reportOverlaps(list, index: index, policy: policy) }
    }

    /// The download settings and the state of the last good copy, which `run` serves at start.
    private func reportFetch(_ fetch: ListFetchSettings, _ list: LoadedList) {
        let settings = list.settings
        var line = "  fetch: \(fetch.url) every \(fetch.refreshSeconds) s, timeout \(fetch.timeoutSeconds) s, "
            + "at most \(fetch.maxBytes) bytes"
        line += fetch.caPath.map { ", CA \($0)" } ?? ", the system's CA store"
        if !fetch.headers.isEmpty { line += ", headers: " + fetch.headers.map(\.name).joined(separator: ", ") }
        print(line)
        if list.identity == PolicyLoader.noCopy {
            print("  copy: MISSING (\(settings.pathAsWritten)); `run` starts with this list EMPTY "
                  + "until the first download succeeds")
        } else {
            let meta = FetchedCopy(list: settings).validators()
            let from = meta.map { " (downloaded from \($0.url)\($0.etag.map { ", ETag \($0)" } ?? ""))" } ?? ""
            print("  copy: \(settings.pathAsWritten) with \(list.parsed.entryTotal) entries\(from); served at start")
        }
    }

    /// Duplicates within the list, and block entries that an allow entry for the same name overrides.
    private func reportOverlaps(_ list: LoadedList, index: Int, policy: CompiledPolicy) {
        let parsed = list.parsed
        var firstEntry = [Int32](repeating: -1, count: policy.table.slotCount)
        var duplicates = 0
        var shadowed = 0
        func line(_ entry: Int) -> Int { entry < parsed.lines.count ? Int(parsed.lines[entry]) : 0 }
        let isBlock = list.settings.action == .block
        parsed.arena.withUnsafeBufferPointer { arena in
            parsed.forEachName { entry, range in
                let name = UnsafeBufferPointer(rebasing: arena[range])
                guard let slot = policy.table.exactSlot(name) else { return }
                let text = DomainName.presentation(ofWire: name)
                if firstEntry[slot] >= 0 && parsed.ruleIndex(ofEntry: Int(firstEntry[slot])) == parsed.ruleIndex(ofEntry: entry) {
                    duplicates += 1
                    if duplicates <= Self.examplesShown {
                        print("\(list.settings.pathAsWritten):\(line(entry)): duplicate of line \(line(Int(firstEntry[slot]))): \(text)")
                    }
                    return
                }
                if firstEntry[slot] < 0 { firstEntry[slot] = Int32(entry) }
                guard isBlock, let group = policy.table.exactGroup(name) else { return }
                let rule = parsed.rules[parsed.ruleIndex(ofEntry: entry)]
                if rule.action == .passthru { return }
                let allow = policy.table.groups[group].first { member in
                    // Under `listed` only an earlier list's allow entry decides before this one.
                    if policy.precedence == .listed && Int(member.list) >= index { return false }
                    let other = policy.lists[Int(member.list)]
                    let otherRule = other.parsed.rules[Int(member.rule)]
                    return other.allows(rule: Int(member.rule)) && (otherRule.scope == rule.scope || otherRule.scope == .nameAndBelow)
                }
                if let allow {
                    shadowed += 1
                    if shadowed <= Self.examplesShown {
                        let other = policy.lists[Int(allow.list)]
                        print("\(list.settings.pathAsWritten):\(line(entry)): \(text) is shadowed by an allow entry "
                              + "in list \(other.settings.name) (\(other.settings.pathAsWritten))")
                    }
                }
            }
        }
        if duplicates > 0 || shadowed > 0 {
            print("  \(duplicates) duplicate entries, \(shadowed) entries shadowed by allow entries"
                  + (max(duplicates, shadowed) > Self.examplesShown ? " (first \(Self.examplesShown) of each shown)" : ""))
        }
    }
}
