import Yams

/// The block and allow lists: `lists`, each entry's settings, and the `sinkhole` answer, which
/// a list may override in part.
extension ConfigLoader {
    /// A `sinkhole` section over `base`: the top-level one over the defaults, a list's over the
    /// top-level one, so a list names only what it changes.
    static func sinkholeSettings(_ node: Node, key: String, base: ResolverSettings.Sinkhole,
                                 _ reader: YAMLReader) throws(ConfigError) -> ResolverSettings.Sinkhole {
        var sinkhole = base
        let map = try reader.mapping(node, key: key, allowed: ["ipv4", "ipv6", "ttl", "cname"])
        if let value = map["ipv4"] { sinkhole.ipv4 = try reader.ip(value, key: key + ".ipv4", family: .ipv4) }
        if let value = map["ipv6"] { sinkhole.ipv6 = try reader.ip(value, key: key + ".ipv6", family: .ipv6) }
        if let value = map["ttl"] {
            sinkhole.ttl = UInt32(try reader.integer(value, key: key + ".ttl", range: 0...604_800))
        }
        if let value = map["cname"] {
            let text = try reader.string(value, key: key + ".cname")
            switch DomainName.wireForm(text) {
            case .failure(let problem):
                throw reader.error(value, key + ".cname", "\"\(text)\" is not a host name: \(problem)")
            case .success(let wire):
                // The presentation form of the wire form: an internationalised name as its A-labels.
                sinkhole.cname = DomainName.presentation(ofWire: wire)
            }
            sinkhole.resolvesCNAME = map["ipv4"] == nil && map["ipv6"] == nil
        }
        return sinkhole
    }

    /// A `max_bad_lines`, top-level or a list's: 0 or more (a billion is more lines than any list has).
    static func maxBadLines(_ node: Node, key: String, _ reader: YAMLReader) throws(ConfigError) -> Int {
        try reader.integer(node, key: key, range: 0...1_000_000_000)
    }

    /// `lists`, which must be there (an empty list is allowed), in config order; a name already
    /// used by an earlier list is refused at the later one. `maxBadLines` is the top-level
    /// default, which a list may override like the sinkhole.
    static func listSettings(_ node: Node?, root: Node, folder: String, sinkhole: ResolverSettings.Sinkhole,
                             maxBadLines: Int?, _ reader: YAMLReader) throws(ConfigError) -> [ListSettings] {
        guard let node else {
            throw reader.error(root, "lists", "missing; name at least one list (an empty list `[]` is allowed)")
        }
        var lists: [ListSettings] = []
        var names: Set<String> = []
        for (index, item) in try reader.list(node, key: "lists").enumerated() {
            let key = "lists[\(index)]"
            let list = try oneList(item, key: key, folder: folder, sinkhole: sinkhole, maxBadLines: maxBadLines, reader)
            if !names.insert(list.name).inserted {
                throw reader.error(item, key + ".name",
                                   "\"\(list.name)\" is used by an earlier list; names must be unique")
            }
            lists.append(list)
        }
        return lists
    }

    /// One `lists` entry; relative paths are taken from the config's `folder`, and the list's
    /// sinkhole and `max_bad_lines` start from the top-level ones.
    static func oneList(_ node: Node, key: String, folder: String, sinkhole base: ResolverSettings.Sinkhole,
                        maxBadLines defaultMaxBadLines: Int?, _ reader: YAMLReader) throws(ConfigError) -> ListSettings {
        let map = try reader.mapping(node, key: key, allowed: [
            "name", "path", "format", "action", "category", "response", "sinkhole", "ede", "reference",
            "active_from", "active_until", "origin", "clients", "max_bad_lines", "transfer", "fetch",
        ])
        let name = try listName(map, node: node, key: key, reader)
        guard let pathNode = map["path"] else {
            throw reader.error(node, key + ".path", map["transfer"] != nil
                               ? "missing; a transferred zone needs a file for its last good copy"
                               : map["fetch"] != nil ? "missing; a downloaded list needs a file for its last good copy"
                               : "missing; every list needs a file")
        }
        if map["transfer"] != nil && map["fetch"] != nil {
            throw reader.error(map["fetch"], key + ".fetch", "a list comes by zone transfer or by download, not both")
        }
        let path = try reader.string(pathNode, key: key + ".path")
        if path.isEmpty { throw reader.error(pathNode, key + ".path", "empty") }
        let format = try map["format"].map { node throws(ConfigError) in
            try reader.choice(node, key: key + ".format", ListFormat.self)
        } ?? .domains
        let action = try map["action"].map { node throws(ConfigError) in
            try reader.choice(node, key: key + ".action", ListAction.self)
        } ?? .block
        let category = try map["category"].map { node throws(ConfigError) in
            try reader.string(node, key: key + ".category")
        } ?? name
        let response = try map["response"].map { node throws(ConfigError) in
            try reader.choice(node, key: key + ".response", BlockResponse.self)
        } ?? .sinkhole
        if map["response"] != nil && action != .block {
            throw reader.error(map["response"], key + ".response",
                               "only a block list answers with a response; this list is \(action.rawValue)")
        }
        let sinkhole = try map["sinkhole"].map { node throws(ConfigError) in
            try sinkholeSettings(node, key: key + ".sinkhole", base: base, reader)
        } ?? base
        let ede = try listEDE(map["ede"], key: key, reader)
        let reference = try map["reference"].map { node throws(ConfigError) in
            try reader.string(node, key: key + ".reference")
        }
        let schedule = try listSchedule(map, key: key, reader)
        let transfer = try transferSettings(map["transfer"], key: key, format: format, folder: folder, reader)
        let fetch = try fetchSettings(map["fetch"], key: key, folder: folder, reader)
        // A transferred zone's records are relative to the zone unless the list names another origin.
        let origin = try listOrigin(map["origin"], key: key, format: format, reader) ?? transfer?.zone
        let clients = try map["clients"].map { node throws(ConfigError) in
            let blocks = try addressBlocks(node, key: key + ".clients", reader)
            if blocks.isEmpty {
                throw reader.error(node, key + ".clients", "empty; leave the key out for a list that applies to every client")
            }
            return blocks
        }
        let maxBadLines = try map["max_bad_lines"].map { node throws(ConfigError) in
            try Self.maxBadLines(node, key: key + ".max_bad_lines", reader)
        } ?? defaultMaxBadLines
        return ListSettings(
            name: name, path: absolutePath(path, relativeTo: folder), pathAsWritten: path,
            format: format, action: action, category: category, configLine: node.mark?.line ?? 0,
            response: response, sinkhole: sinkhole, ede: ede, reference: reference, schedule: schedule, origin: origin,
            clients: clients, maxBadLines: maxBadLines, transfer: transfer, fetch: fetch
        )
    }

    /// A list's `name`, required: letters, digits, '-', '_' or '.'.
    private static func listName(_ map: [String: Node], node: Node, key: String,
                                 _ reader: YAMLReader) throws(ConfigError) -> String {
        guard let nameNode = map["name"] else {
            throw reader.error(node, key + ".name", "missing; every list needs a name")
        }
        let name = try reader.string(nameNode, key: key + ".name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw reader.error(nameNode, key + ".name", "\"\(name)\" must be letters, digits, '-', '_' or '.'")
        }
        return name
    }

    /// A list's `ede`: the extended DNS error code of its answers (16, Censored, by default), or
    /// nil for `none`.
    private static func listEDE(_ node: Node?, key: String, _ reader: YAMLReader) throws(ConfigError) -> UInt16? {
        guard let node else { return 16 }
        let text = try reader.string(node, key: key + ".ede")
        switch text {
        case "none": return nil
        case "15", "16", "17": return UInt16(text)
        default:
            throw reader.error(node, key + ".ede",
                               "\"\(text)\" is not one of 15 (Blocked), 16 (Censored), 17 (Filtered), none")
        }
    }

    /// A list's `active_from` and `active_until`; an end not after the start is refused, as the
    /// list would never be in force.
    private static func listSchedule(_ map: [String: Node], key: String,
                                     _ reader: YAMLReader) throws(ConfigError) -> ListSchedule {
        var schedule = ListSchedule.always
        if let node = map["active_from"] { schedule.from = try reader.timestamp(node, key: key + ".active_from") }
        if let node = map["active_until"] { schedule.until = try reader.timestamp(node, key: key + ".active_until") }
        if let from = schedule.from, let until = schedule.until, until <= from {
            throw reader.error(map["active_until"], key + ".active_until",
                               "is not after active_from; the list would never be in force")
        }
        return schedule
    }

    /// A list's `origin`, only for an RPZ zone, and a valid zone name.
    private static func listOrigin(_ node: Node?, key: String, format: ListFormat,
                                   _ reader: YAMLReader) throws(ConfigError) -> String? {
        guard let node else { return nil }
        let origin = try reader.string(node, key: key + ".origin")
        if format != .rpz { throw reader.error(node, key + ".origin", "only an RPZ zone (format: rpz) has an origin") }
        switch DomainName.wireForm(origin) {
        case .failure(let problem):
            throw reader.error(node, key + ".origin", "\"\(origin)\" is not a zone name: \(problem)")
        case .success(let wire):
            // ldns reads the origin as zone-file text: an internationalised name as its A-labels.
            return DomainName.presentation(ofWire: wire)
        }
    }
}
