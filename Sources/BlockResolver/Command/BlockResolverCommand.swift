import ArgumentParser
import ResolverConfig

/// `block-resolver`: a DNS resolver that answers names on government block lists with a sinkhole
/// and forwards everything else. The process entry point (`@main`) is in `Main.swift`.
struct BlockResolverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block-resolver",
        abstract: "A DNS resolver that blocks listed names and forwards the rest to upstream resolvers.",
        discussion: """
            Blocked names get a sinkhole answer (A/AAAA with the sinkhole address, or NOERROR with \
            a SOA for other types) carrying an Extended DNS Error that names the list's category. \
            Every other query is forwarded to the upstreams and the answer relayed.

            Start with `block-resolver check --config FILE`, then `block-resolver run --config FILE`. \
            Edit a list and send SIGHUP to the running process to reload it without a restart. \
            `block-resolver explain --config FILE NAME [TYPE]` says why a name is blocked or not.
            """,
        subcommands: [RunCommand.self, CheckCommand.self, ExplainCommand.self],
        defaultSubcommand: nil
    )
}

/// Options every subcommand that reads a config shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "The YAML config file. Relative list paths in it are relative to its folder.",
        valueName: "file"))
    var config: String = "/etc/block-resolver/block-resolver.yml"

    /// The validated config, or the error printed and exit status 1 (for `check` and `explain`).
    func loadSettings() throws -> ResolverSettings {
        do {
            return try ConfigLoader().load(path: config)
        } catch {
            print("error: \(error)")
            throw ExitCode.failure
        }
    }
}
