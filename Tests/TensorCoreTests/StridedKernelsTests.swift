import XCTest
@testable import TensorCore

final class StridedKernelsTests: XCTestCase {
    /// Counts around the eight-lane width, so both the lanes and the remainder loop run.
    let counts = [0, 1, 7, 8, 9, 17]

    func testLaneKernelsMatchPlainLoops() {
        for count in counts {
            let a = randomTensor([max(count, 1)], seed: UInt64(count)).scalars
            let b = randomTensor([max(count, 1)], seed: UInt64(count + 50)).scalars
            var expectedDot = 0.0
            for i in 0..<count { expectedDot += Double(a[i]) * Double(b[i]) }
            var added = b
            var scaled = b
            var rectified = a
            var masked = [Float](repeating: .nan, count: max(count, 1))
            var written = [Float](repeating: .nan, count: max(count, 1))
            var copied = [Float](repeating: .nan, count: max(count, 1))
            a.withUnsafeBufferPointer { left in
                b.withUnsafeBufferPointer { right in
                    XCTAssertEqual(Double(dotProduct(left.baseAddress!, right.baseAddress!, count: count)),
                                   expectedDot, accuracy: 1e-5, "dot, count \(count)")
                    added.withUnsafeMutableBufferPointer { addElements(left.baseAddress!, into: $0.baseAddress!, count: count) }
                    scaled.withUnsafeMutableBufferPointer {
                        addScaled(left.baseAddress!, scale: 0.5, into: $0.baseAddress!, count: count)
                    }
                    written.withUnsafeMutableBufferPointer {
                        writeScaled(left.baseAddress!, scale: -2, into: $0.baseAddress!, count: count)
                    }
                    copied.withUnsafeMutableBufferPointer { copyElements(left.baseAddress!, into: $0.baseAddress!, count: count) }
                    rectified.withUnsafeMutableBufferPointer { rectify($0.baseAddress!, into: $0.baseAddress!, count: count) }
                    masked.withUnsafeMutableBufferPointer {
                        reluGradient(right.baseAddress!, output: left.baseAddress!, into: $0.baseAddress!, count: count)
                    }
                }
            }
            for i in 0..<count {
                XCTAssertEqual(added[i], b[i] + a[i], "add, count \(count), element \(i)")
                XCTAssertEqual(scaled[i], b[i] + 0.5 * a[i], accuracy: 1e-6, "axpy, count \(count), element \(i)")
                XCTAssertEqual(written[i], -2 * a[i], "scaled write, count \(count), element \(i)")
                XCTAssertEqual(copied[i], a[i], "copy, count \(count), element \(i)")
                XCTAssertEqual(rectified[i], max(a[i], 0), "relu, count \(count), element \(i)")
                XCTAssertEqual(masked[i], a[i] > 0 ? b[i] : 0, "relu gradient, count \(count), element \(i)")
            }
        }
    }

    func testReluKeepsNaN() {
        var values: [Float] = [.nan, -1, 2, .nan, -3, 4, 5, -6, .nan]
        values.withUnsafeMutableBufferPointer { rectify($0.baseAddress!, into: $0.baseAddress!, count: 9) }
        XCTAssertTrue(values[0].isNaN)
        XCTAssertTrue(values[8].isNaN)
        XCTAssertEqual(values[1], 0)
        XCTAssertEqual(values[5], 4)
    }
}
