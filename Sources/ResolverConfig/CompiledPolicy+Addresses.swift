/// Decisions on addresses: the answer's A and AAAA records (`ips` lists, RPZ `rpz-ip`) and the
/// client's own address (RPZ `rpz-client-ip`), under the same precedence as names.
extension CompiledPolicy {
    /// Whether deciding a query needs the client's address (lists with `clients:`, or
    /// `rpz-client-ip` triggers); when not, the pipeline never reads it.
    public var needsClientAddress: Bool { hasClientScopedLists || hasClientTriggers }

    /// The entry that decides for a query of `name` from `client`: an `rpz-client-ip` trigger
    /// before the name's entries, as BIND orders trigger kinds within a zone. Under `listed`
    /// precedence a name entry of an earlier list still wins over a later list's client trigger.
    @inline(__always)
    public func decideQuery(_ name: UnsafeBufferPointer<UInt8>, active: [Bool],
                            client: UnsafeRawBufferPointer?) -> PolicyMatch? {
        let byName = decide(name, active: active, client: client)
        guard hasClientTriggers, let client else { return byName }
        let limit = precedence == .listed ? (byName.map { $0.listIndex + 1 } ?? .max) : .max
        return decideAddress(client, in: clientAddresses, trigger: .client, active: active, client: client,
                             before: limit) ?? byName
    }

    /// The entry that decides for `address` (4 or 16 bytes), an A or AAAA record of an answer;
    /// its `suffixOffset` holds the matched prefix length (a client trigger's holds 0: its answer
    /// is written for the question name itself).
    public func decideAddress(_ address: UnsafeRawBufferPointer, active: [Bool], client: UnsafeRawBufferPointer?,
                              before limit: Int = .max) -> PolicyMatch? {
        decideAddress(address, in: answerAddresses, trigger: .ip, active: active, client: client, before: limit)
    }

    /// Under `specific`: the longest prefix in force decides; on one prefix, an allow entry
    /// (allow list, RPZ passthru), then the list named first. Under `listed`: the first list with
    /// a match, and its longest prefix. Prefixes are visited longest first (`AddressTable`).
    private func decideAddress(_ address: UnsafeRawBufferPointer, in table: AddressTable, trigger: PolicyMatch.Trigger,
                               active: [Bool], client: UnsafeRawBufferPointer?, before limit: Int) -> PolicyMatch? {
        var result: PolicyMatch? = nil
        var resultAllows = false
        let groups = table.groups
        table.lookup(address) { group, length in
            for member in groups[group] {
                let list = Int(member.list)
                guard list < limit, lists[list].settings.action != .monitor, active[list], applies(list, to: client)
                else { continue }
                let match = PolicyMatch(listIndex: list, ruleIndex: Int(member.rule),
                                        suffixOffset: trigger == .client ? 0 : length, trigger: trigger)
                if precedence == .listed {
                    if list < (result?.listIndex ?? .max) { result = match }
                    break  // members are in config order: the rest of this prefix come later
                }
                let allows = lists[list].allows(rule: Int(member.rule))
                if result == nil || (allows && !resultAllows) {
                    result = match
                    resultAllows = allows
                }
            }
            return precedence == .listed ? result?.listIndex == 0 : result != nil
        }
        return result
    }

}
