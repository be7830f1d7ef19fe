import Yams

/// Walks a composed YAML node tree, turning every mismatch into a `ConfigError` with a line.
/// It knows YAML shapes and value kinds, not the config's sections: those are `ConfigLoader`'s.
struct YAMLReader {
    let file: String

    func error(_ node: Node?, _ key: String?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line, key: key, message: message)
    }

    func syntaxError(_ error: YamlError) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: nil, message: "YAML syntax: \(problem)")
        default:
            return ConfigError(file: file, line: nil, key: nil, message: "YAML: \(error)")
        }
    }

    /// A mapping's entries by key; a key not in `allowed` is an error naming it (nil: any key,
    /// for a mapping whose keys are the user's own, such as request headers).
    func mapping(_ node: Node, key: String?, allowed: Set<String>?) throws(ConfigError) -> [String: Node] {
        guard case .mapping(let mapping) = node else {
            throw error(node, key, "expected a mapping (`key: value` lines), got \(describe(node))")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else { throw error(keyNode, key, "keys must be plain words") }
            let name = scalar.string
            let path = key.map { "\($0).\(name)" } ?? name
            if let allowed, !allowed.contains(name) {
                throw error(keyNode, path, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            if result[name] != nil { throw error(keyNode, path, "given twice") }
            result[name] = value
        }
        return result
    }

    func list(_ node: Node, key: String) throws(ConfigError) -> [Node] {
        if node.null != nil { return [] }  // `key:` with nothing after it
        guard case .sequence(let sequence) = node else {
            throw error(node, key, "expected a list (`[a, b]` or `- a` lines), got \(describe(node))")
        }
        return Array(sequence)
    }

    func string(_ node: Node, key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else {
            throw error(node, key, "expected a single value, got \(describe(node))")
        }
        return scalar.string
    }

    func integer(_ node: Node, key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let text = try string(node, key: key)
        guard let value = Int(text) else { throw error(node, key, "expected a whole number, got \"\(text)\"") }
        guard range.contains(value) else {
            throw error(node, key, "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
        }
        return value
    }

    func boolean(_ node: Node, key: String) throws(ConfigError) -> Bool {
        let text = try string(node, key: key)
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, key, "expected true or false, got \"\(text)\"")
        }
    }

    func address(_ node: Node, key: String, defaultPort: Int = 53) throws(ConfigError) -> HostPort {
        let text = try string(node, key: key)
        switch HostPort.parse(text, defaultPort: defaultPort) {
        case .success(let value): return value
        case .failure(let failure): throw error(node, key, failure.message)
        }
    }

    func ip(_ node: Node, key: String, family: HostPort.Family) throws(ConfigError) -> String {
        let text = try string(node, key: key)
        guard HostPort.ipFamily(text) == family else {
            throw error(node, key, "\"\(text)\" is not an \(family == .ipv4 ? "IPv4" : "IPv6") address")
        }
        return text
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, key: String, _: T.Type) throws(ConfigError) -> T
    where T.RawValue == String {
        let text = try string(node, key: key)
        guard let value = T(rawValue: text) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw error(node, key, "\"\(text)\" is not one of \(options)")
        }
        return value
    }

    func timestamp(_ node: Node, key: String) throws(ConfigError) -> Double {
        let text = try string(node, key: key)
        guard let value = ListSchedule.parse(text) else {
            throw error(node, key, "\"\(text)\" is not an RFC 3339 timestamp such as 2022-07-30T00:00:00+07:00")
        }
        return value
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
