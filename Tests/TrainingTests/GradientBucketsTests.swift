import TensorCore
@testable import Training
import XCTest

/// Bucket plans group parameters in reverse order up to the bucket size, readiness releases
/// buckets strictly in plan order, and the buffers carry gradients out and back unchanged.
final class GradientBucketsTests: XCTestCase {
    func testPlanTable() {
        let cases: [(label: String, counts: [Int], bucketElements: Int, expected: [[Int]])] = [
            ("all in one", [3, 4, 5], 100, [[2, 1, 0]]),
            ("exact fit", [2, 2, 2, 2], 4, [[3, 2], [1, 0]]),
            ("one over", [2, 2, 3], 4, [[2], [1, 0]]),
            ("oversized alone", [1, 10, 1], 4, [[2], [1], [0]]),
            ("oversized first in order", [1, 1, 10], 4, [[2], [1, 0]]),
            ("empty parameter rides along", [2, 0, 2], 2, [[2, 1], [0]]),
            ("no parameters", [], 4, []),
        ]
        for testCase in cases {
            let plan = GradientBucketPlan(parameterCounts: testCase.counts, bucketElements: testCase.bucketElements)
            XCTAssertEqual(plan.buckets, testCase.expected, testCase.label)
        }
    }

    func testPlanCoversEveryParameterOnce() {
        var generator = RandomGenerator(seed: 7)
        for trial in 0..<50 {
            let counts = (0..<Int(generator.nextUniform(low: 0, high: 30))).map { _ in
                Int(generator.nextUniform(low: 0, high: 40))
            }
            let bucketElements = Int(generator.nextUniform(low: 1, high: 60))
            let plan = GradientBucketPlan(parameterCounts: counts, bucketElements: bucketElements)
            XCTAssertEqual(plan.buckets.flatMap { $0 }, Array(counts.indices.reversed()), "trial \(trial)")
            for (bucket, members) in plan.buckets.enumerated() {
                let size = members.reduce(0) { $0 + counts[$1] }
                XCTAssertTrue(size <= bucketElements || members.count == 1,
                              "trial \(trial): bucket \(bucket) holds \(size) > \(bucketElements) floats in \(members.count) parameters")
                for index in members {
                    XCTAssertEqual(plan.bucketOfParameter[index], bucket, "trial \(trial): parameter \(index)")
                }
            }
        }
    }

    func testReadinessReleasesInPlanOrder() {
        // Buckets [[3, 2], [1], [0]].
        var readiness = BucketReadiness(plan: GradientBucketPlan(parameterCounts: [4, 4, 2, 2], bucketElements: 4))
        XCTAssertTrue(readiness.markReady(1).isEmpty, "bucket 1 waits for bucket 0")
        XCTAssertTrue(readiness.markReady(3).isEmpty, "bucket 0 still waits for parameter 2")
        XCTAssertEqual(readiness.markReady(2), 0..<2, "bucket 0 releases bucket 1 behind it")
        XCTAssertFalse(readiness.isComplete)
        XCTAssertEqual(readiness.markAllReady(), 2..<3)
        XCTAssertTrue(readiness.isComplete)
    }

    func testReadinessResets() {
        var readiness = BucketReadiness(plan: GradientBucketPlan(parameterCounts: [1, 1], bucketElements: 1))
        XCTAssertEqual(readiness.markAllReady(), 0..<2)
        readiness.reset()
        XCTAssertEqual(readiness.releasedCount, 0)
        XCTAssertEqual(readiness.markReady(1), 0..<1)
        XCTAssertEqual(readiness.markAllReady(), 1..<2)
    }

    func testMarkAllReadyWithNothingLeft() {
        var readiness = BucketReadiness(plan: GradientBucketPlan(parameterCounts: [2], bucketElements: 8))
        XCTAssertEqual(readiness.markReady(0), 0..<1)
        XCTAssertEqual(readiness.markAllReady(), 1..<1)
    }

    func testBuffersLayOutBucketsInPlanOrder() {
        let parameters = [3, 1, 2].enumerated().map { index, count in
            let parameter = Parameter(name: "p\(index)", value: Tensor(zeros: [count]))
            parameter.gradient = Tensor(shape: [count], scalars: (0..<count).map { Float(10 * index + $0) })
            return parameter
        }
        let plan = GradientBucketPlan(parameterCounts: [3, 1, 2], bucketElements: 3)
        XCTAssertEqual(plan.buckets, [[2, 1], [0]])
        let buffers = GradientBucketBuffers(parameters: parameters, plan: plan)
        buffers.pack(0)
        buffers.pack(1)
        XCTAssertEqual(Array(buffers.buffer(0)), [20, 21, 10])
        XCTAssertEqual(Array(buffers.buffer(1)), [0, 1, 2])
    }

    func testBuffersUnpackIntoGradients() {
        let parameters = [2, 2].enumerated().map { index, count in
            Parameter(name: "p\(index)", value: Tensor(zeros: [count]))
        }
        let buffers = GradientBucketBuffers(parameters: parameters,
                                            plan: GradientBucketPlan(parameterCounts: [2, 2], bucketElements: 2))
        let first = buffers.buffer(0)
        first[0] = 5
        first[1] = 6
        let second = buffers.buffer(1)
        second[0] = 7
        second[1] = 8
        buffers.unpack(0)
        buffers.unpack(1)
        XCTAssertEqual(parameters[1].gradient.scalars, [5, 6])
        XCTAssertEqual(parameters[0].gradient.scalars, [7, 8])
    }

    func testPackRecordsNonFiniteGradients() {
        let parameters = [3, 9, 2].enumerated().map { index, count in
            Parameter(name: "p\(index)", value: Tensor(zeros: [count]))
        }
        parameters[1].gradient.scalars[8] = .infinity
        let plan = GradientBucketPlan(parameterCounts: [3, 9, 2], bucketElements: 9)
        XCTAssertEqual(plan.buckets, [[2], [1], [0]])
        let buffers = GradientBucketBuffers(parameters: parameters, plan: plan)
        for bucket in plan.buckets.indices { buffers.pack(bucket) }
        XCTAssertEqual(buffers.packedGradientIsFinite, [true, false, true])
        XCTAssertEqual(buffers.buffer(1)[8], .infinity)

        parameters[1].gradient.scalars[8] = 0
        parameters[0].gradient.scalars[0] = .nan
        buffers.pack(1)
        buffers.pack(2)
        XCTAssertEqual(buffers.packedGradientIsFinite, [false, true, true])
    }
}
