import Foundation
import Yams

/// What the process runs beside resolving: the `metrics` endpoint, the `query_log`, and the
/// `user` and `group` it drops to.
extension ConfigLoader {
    /// `metrics.listen`: where the metrics endpoint serves; nil (no endpoint) when not given.
    static func metricsAddress(_ node: Node?, _ reader: YAMLReader) throws(ConfigError) -> HostPort? {
        guard let node else { return nil }
        let map = try reader.mapping(node, key: "metrics", allowed: ["listen"])
        guard let listen = map["listen"] else { return nil }
        return try reader.address(listen, key: "metrics.listen")
    }

    /// `query_log`: the file (relative to the config's `folder`, or "-" for standard output) and
    /// the mode. Off unless the section is there; a section without `mode` logs everything.
    static func queryLogSettings(_ node: Node?, folder: String, _ reader: YAMLReader) throws(ConfigError)
        -> (path: String, mode: String) {
        var path = "-"
        guard let node else { return (path, "off") }
        let map = try reader.mapping(node, key: "query_log", allowed: ["path", "mode"])
        if let value = map["path"] {
            let text = try reader.string(value, key: "query_log.path")
            if text.isEmpty {
                throw reader.error(value, "query_log.path", "empty; use a file or \"-\" for standard output")
            }
            path = text == "-" ? "-" : absolutePath(text, relativeTo: folder)
        }
        guard let value = map["mode"] else { return (path, "all") }
        let mode = try reader.string(value, key: "query_log.mode")
        guard ["off", "blocked", "all"].contains(mode) else {
            throw reader.error(value, "query_log.mode", "\"\(mode)\" is not one of off, blocked, all")
        }
        return (path, mode)
    }

    /// `user` and `group`, which must exist here; a group alone is refused because the process
    /// drops to both at once.
    static func processAccount(_ top: [String: Node], _ reader: YAMLReader) throws(ConfigError)
        -> (user: String?, group: String?) {
        let user = try top["user"].map { node throws(ConfigError) in try reader.string(node, key: "user") }
        let group = try top["group"].map { node throws(ConfigError) in try reader.string(node, key: "group") }
        if let user, getpwnam(user) == nil {
            throw reader.error(top["user"], "user", "no user named \"\(user)\" on this machine")
        }
        if let group, getgrnam(group) == nil {
            throw reader.error(top["group"], "group", "no group named \"\(group)\" on this machine")
        }
        if group != nil && user == nil {
            throw reader.error(top["group"], "group", "needs `user:` as well; the process drops to both together")
        }
        return (user, group)
    }
}
