/// Address triggers (placeholder until the address tables land).
extension CompiledPolicy {
    public var hasAnswerAddressTriggers: Bool { false }

    public func decideAddress(_ address: UnsafeRawBufferPointer, active: [Bool], client: UnsafeRawBufferPointer?,
                              before limit: Int) -> PolicyMatch? {
        nil
    }
}

extension CompiledPolicy {
    public var needsClientAddress: Bool { hasClientScopedLists }

    public func decideQuery(_ name: UnsafeBufferPointer<UInt8>, active: [Bool], client: UnsafeRawBufferPointer?) -> PolicyMatch? {
        decide(name, active: active, client: client)
    }
}
