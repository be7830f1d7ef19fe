import CLdns

/// An ldns call that did not succeed, with ldns's own explanation.
struct LdnsError: Error, CustomStringConvertible {
    let status: ldns_status
    let context: String

    var description: String {
        // ldns_get_errorstr_by_id returns a static string or NULL for an unknown status.
        let text = ldns_get_errorstr_by_id(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
        return "\(context): \(text)"
    }

    /// Throws unless `status` is LDNS_STATUS_OK.
    static func check(_ status: ldns_status, _ context: @autoclosure () -> String) throws(LdnsError) {
        if status != LDNS_STATUS_OK { throw LdnsError(status: status, context: context()) }
    }
}
