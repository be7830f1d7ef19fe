import XCTest
@testable import BlockResolver

/// The per-loop answer-time histogram and its Prometheus text.
final class AnswerTimeHistogramTests: XCTestCase {
    func testBucketsAreCumulativeAndCountMatchesInf() {
        let histogram = AnswerTimeHistogram(bounds: [.microseconds(50), .milliseconds(1)])
        for nanoseconds: Int64 in [10_000, 50_000, 60_000, 2_000_000, 3_000_000] {
            histogram.record(nanoseconds: nanoseconds)
        }
        let (cumulative, sum) = histogram.read()
        XCTAssertEqual(cumulative, [2, 3, 5])  // <= 50 µs (a bound is inclusive), <= 1 ms, +Inf
        XCTAssertEqual(sum, 5_120_000)
        let text = String(decoding: AnswerTimeHistogram.exposition(
            name: "dns_answer_duration_seconds", help: "h", loops: [("0", histogram)]), as: UTF8.self)
        XCTAssertEqual(text, """
            # HELP dns_answer_duration_seconds h
            # TYPE dns_answer_duration_seconds histogram
            dns_answer_duration_seconds_bucket{loop="0",le="5e-05"} 2
            dns_answer_duration_seconds_bucket{loop="0",le="0.001"} 3
            dns_answer_duration_seconds_bucket{loop="0",le="+Inf"} 5
            dns_answer_duration_seconds_sum{loop="0"} 0.00512
            dns_answer_duration_seconds_count{loop="0"} 5

            """)
    }
}
