import Foundation
import Yams

/// A list's `transfer` section (`ZoneTransferSettings`): only for an RPZ zone.
extension ConfigLoader {
    static func transferSettings(_ node: Node?, key listKey: String, format: ListFormat, folder: String,
                                 _ reader: YAMLReader) throws(ConfigError) -> ZoneTransferSettings? {
        guard let node else { return nil }
        let key = listKey + ".transfer"
        if format != .rpz {
            throw reader.error(node, key, "only an RPZ zone (format: rpz) comes by zone transfer")
        }
        let map = try reader.mapping(node, key: key, allowed: ["primaries", "zone", "tsig", "refresh_s"])
        guard let primariesNode = map["primaries"] else {
            throw reader.error(node, key + ".primaries", "missing; name the primary server(s) to transfer the zone from")
        }
        var primaries: [HostPort] = []
        for (index, item) in try reader.list(primariesNode, key: key + ".primaries").enumerated() {
            let address = try reader.address(item, key: key + ".primaries[\(index)]")
            if primaries.contains(address) {
                throw reader.error(item, key + ".primaries[\(index)]", "\(address) is named twice")
            }
            primaries.append(address)
        }
        if primaries.isEmpty { throw reader.error(primariesNode, key + ".primaries", "empty; name at least one primary") }
        guard let zoneNode = map["zone"] else {
            throw reader.error(node, key + ".zone", "missing; the name of the zone to transfer")
        }
        let zoneText = try reader.string(zoneNode, key: key + ".zone")
        let zone: String
        let zoneWire: [UInt8]
        switch DomainName.wireForm(zoneText) {
        case .failure(let problem):
            throw reader.error(zoneNode, key + ".zone", "\"\(zoneText)\" is not a zone name: \(problem)")
        case .success(let wire):
            if wire == [0] { throw reader.error(zoneNode, key + ".zone", "the root zone is not a policy zone") }
            zoneWire = wire
            let text = DomainName.presentation(ofWire: wire)
            zone = text.hasSuffix(".") ? text : text + "."
        }
        let tsig = try map["tsig"].map { node throws(ConfigError) in
            try tsigKey(node, key: key + ".tsig", folder: folder, reader)
        }
        let refresh = try map["refresh_s"].map { node throws(ConfigError) in
            try reader.integer(node, key: key + ".refresh_s", range: ZoneTransferSettings.refreshRange)
        }
        return ZoneTransferSettings(primaries: primaries, zone: zone, zoneWire: zoneWire, tsig: tsig,
                                    refreshSeconds: refresh)
    }

    /// `tsig: { name, algorithm, secret | secret_file }`; the secret must be base64 of at least one byte.
    private static func tsigKey(_ node: Node, key: String, folder: String,
                                _ reader: YAMLReader) throws(ConfigError) -> ZoneTransferSettings.TSIGKey {
        let map = try reader.mapping(node, key: key, allowed: ["name", "algorithm", "secret", "secret_file"])
        guard let nameNode = map["name"] else { throw reader.error(node, key + ".name", "missing; the key's name") }
        let nameText = try reader.string(nameNode, key: key + ".name")
        let name: String
        switch DomainName.wireForm(nameText) {
        case .failure(let problem):
            throw reader.error(nameNode, key + ".name", "\"\(nameText)\" is not a key name: \(problem)")
        case .success(let wire):
            let text = DomainName.presentation(ofWire: wire)
            name = text.hasSuffix(".") ? text : text + "."
        }
        var algorithm = "hmac-sha256"
        if let algorithmNode = map["algorithm"] {
            algorithm = try reader.string(algorithmNode, key: key + ".algorithm").lowercased()
            if !ZoneTransferSettings.TSIGKey.algorithms.contains(algorithm) {
                throw reader.error(algorithmNode, key + ".algorithm",
                                   "\"\(algorithm)\" is not one of \(ZoneTransferSettings.TSIGKey.algorithms.joined(separator: ", "))")
            }
        }
        let secret: String
        let secretNode: Node
        switch (map["secret"], map["secret_file"]) {
        case (let node?, nil):
            secretNode = node
            secret = try reader.string(node, key: key + ".secret").trimmingCharacters(in: .whitespacesAndNewlines)
        case (nil, let node?):
            secretNode = node
            let written = try reader.string(node, key: key + ".secret_file")
            let path = absolutePath(written, relativeTo: folder)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw reader.error(node, key + ".secret_file", "cannot read \(written)")
            }
            secret = secretFromFile(text)
        case (nil, nil):
            throw reader.error(node, key + ".secret", "missing; give `secret` (base64) or `secret_file`")
        case (_?, _?):
            throw reader.error(map["secret_file"], key + ".secret_file", "give `secret` or `secret_file`, not both")
        }
        guard let bytes = Data(base64Encoded: secret), !bytes.isEmpty else {
            throw reader.error(secretNode, key + ".secret", "not a base64 secret (as tsig-keygen writes it)")
        }
        return ZoneTransferSettings.TSIGKey(name: name, algorithm: algorithm + ".", secret: secret)
    }

    /// The secret in a file: the file is the base64 text alone, or a BIND key file
    /// (`key "name" { algorithm …; secret "…"; };`, as `tsig-keygen` writes it).
    static func secretFromFile(_ text: String) -> String {
        if let range = text.range(of: "secret") {
            let rest = text[range.upperBound...]
            if let open = rest.firstIndex(of: "\""), let close = rest[rest.index(after: open)...].firstIndex(of: "\"") {
                return String(rest[rest.index(after: open)..<close])
            }
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
