import Foundation
import Yams

/// A list's `fetch` section (`ListFetchSettings`): a list of any format downloaded over HTTPS.
extension ConfigLoader {
    static func fetchSettings(_ node: Node?, key listKey: String, folder: String,
                              _ reader: YAMLReader) throws(ConfigError) -> ListFetchSettings? {
        guard let node else { return nil }
        let key = listKey + ".fetch"
        let map = try reader.mapping(node, key: key, allowed: [
            "url", "refresh_s", "timeout_s", "max_bytes", "ca", "headers", "headers_file",
        ])
        guard let urlNode = map["url"] else {
            throw reader.error(node, key + ".url", "missing; the https:// address to download the list from")
        }
        let url = try fetchURL(urlNode, key: key + ".url", reader)
        var settings = ListFetchSettings(url: url)
        if let value = map["refresh_s"] {
            settings.refreshSeconds = try reader.integer(value, key: key + ".refresh_s", range: ListFetchSettings.refreshRange)
        }
        if let value = map["timeout_s"] {
            settings.timeoutSeconds = try reader.integer(value, key: key + ".timeout_s", range: ListFetchSettings.timeoutRange)
        }
        if let value = map["max_bytes"] {
            settings.maxBytes = try reader.integer(value, key: key + ".max_bytes", range: ListFetchSettings.maxBytesRange)
        }
        if let value = map["ca"] {
            let written = try reader.string(value, key: key + ".ca")
            let path = absolutePath(written, relativeTo: folder)
            guard let data = FileManager.default.contents(atPath: path),
                  String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----")
            else {
                throw reader.error(value, key + ".ca", "cannot read \(written) as PEM certificates")
            }
            settings.caPath = path
        }
        if let value = map["headers"] {
            for (name, valueNode) in try reader.mapping(value, key: key + ".headers", allowed: nil).sorted(by: { $0.key < $1.key }) {
                let text = try reader.string(valueNode, key: key + ".headers." + name)
                settings.headers.append(try header(name, text, node: valueNode, key: key + ".headers." + name, reader))
            }
        }
        if let value = map["headers_file"] {
            settings.headers += try headersFile(value, key: key + ".headers_file", folder: folder, reader)
        }
        return settings
    }

    /// The address: http(s) with a host; plain http only to this machine (`ListFetchSettings.isLoopback`).
    private static func fetchURL(_ node: Node, key: String, _ reader: YAMLReader) throws(ConfigError) -> String {
        let text = try reader.string(node, key: key)
        guard let parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased(),
              let host = parts.host, !host.isEmpty
        else {
            throw reader.error(node, key, "\"\(text)\" is not an address such as https://lists.example/domains.txt")
        }
        switch scheme {
        case "https": break
        case "http" where ListFetchSettings.isLoopback(host: host): break
        case "http":
            throw reader.error(node, key, "\"\(text)\": plain http is refused (anyone on the path could change the list); "
                               + "use https, or http to a mirror on this machine (127.0.0.1, ::1, localhost)")
        default:
            throw reader.error(node, key, "\"\(text)\": the scheme must be https")
        }
        if parts.user != nil || parts.password != nil {
            throw reader.error(node, key, "credentials in the address are refused; put them in headers or headers_file")
        }
        return text
    }

    /// One header: a token name (RFC 9110 5.1), a value without line breaks.
    private static func header(_ name: String, _ value: String, node: Node, key: String,
                               _ reader: YAMLReader) throws(ConfigError) -> ListFetchSettings.Header {
        let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if name.isEmpty || !name.allSatisfy(token.contains) {
            throw reader.error(node, key, "\"\(name)\" is not a header name")
        }
        if value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
            throw reader.error(node, key, "the value has a line break")
        }
        let lower = name.lowercased()
        if ["host", "content-length", "transfer-encoding", "connection", "if-none-match", "if-modified-since",
            "accept-encoding"].contains(lower) {
            throw reader.error(node, key, "\(name) is set by the resolver itself")
        }
        return .init(name: name, value: value)
    }

    /// `headers_file`: `Name: value` lines (blank lines and `#` comments skipped), so that a token
    /// can live in a file readable by the resolver alone rather than in the config.
    private static func headersFile(_ node: Node, key: String, folder: String,
                                    _ reader: YAMLReader) throws(ConfigError) -> [ListFetchSettings.Header] {
        let written = try reader.string(node, key: key)
        let path = absolutePath(written, relativeTo: folder)
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw reader.error(node, key, "cannot read \(written)")
        }
        var headers: [ListFetchSettings.Header] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw reader.error(node, key, "\(written):\(index + 1): not a `Name: value` line")
            }
            let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            headers.append(try header(name, value, node: node, key: "\(key) (\(written):\(index + 1))", reader))
        }
        return headers
    }
}
