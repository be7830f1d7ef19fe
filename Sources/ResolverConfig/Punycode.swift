/// The Punycode encoder of RFC 3492, which turns the Unicode label of an internationalised name
/// into the ASCII a DNS query carries (`bücher` → `bcher-kva`, written `xn--bcher-kva`). Only
/// encoding is needed: list entries are written in Unicode by people, queries arrive in ASCII.
enum Punycode {
    private static let base = 36
    private static let tMin = 1
    private static let tMax = 26
    private static let skew = 38
    private static let damp = 700
    private static let initialBias = 72
    private static let initialN = 128

    /// The Punycode form of `scalars` (without the `xn--` prefix), as ASCII bytes. Basic code
    /// points are copied unchanged, so the caller lower-cases first.
    static func encode(_ scalars: [UInt32]) -> [UInt8] {
        var output: [UInt8] = scalars.compactMap { $0 < 0x80 ? UInt8($0) : nil }
        let basicCount = output.count
        if basicCount > 0 { output.append(UInt8(ascii: "-")) }
        // Int is 64 bits: a label of at most a few hundred code points below 0x110000 keeps
        // `delta` far from overflow (section 6.4 matters for 32-bit arithmetic only).
        var n = initialN
        var delta = 0
        var bias = initialBias
        var handled = basicCount
        while handled < scalars.count {
            let next = Int(scalars.lazy.filter { Int($0) >= n }.min()!)
            delta += (next - n) * (handled + 1)
            n = next
            for scalar in scalars {
                let code = Int(scalar)
                if code < n { delta += 1 }
                if code == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, points: handled + 1, first: handled == basicCount)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return output
    }

    private static func adapt(_ delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    private static func digit(_ value: Int) -> UInt8 {
        value < 26 ? UInt8(ascii: "a") + UInt8(value) : UInt8(ascii: "0") + UInt8(value - 26)
    }
}
