import XCTest
@testable import TensorCore

final class InitializersTests: XCTestCase {
    func testGlorotUniformLimit() {
        var generator = RandomGenerator(seed: 1)
        let tensor = Initializer.glorotUniform.makeTensor(shape: [40, 20], generator: &generator)
        let limit = (6.0 / 60.0).squareRoot()
        XCTAssertEqual(tensor.shape, [40, 20])
        XCTAssertTrue(tensor.scalars.allSatisfy { abs(Double($0)) <= limit })
        // The largest of 800 uniform draws lies within 1% of the limit with probability 1 − 0.99⁸⁰⁰.
        XCTAssertGreaterThan(Double(tensor.scalars.map(abs).max()!), 0.99 * limit)
    }

    func testGlorotFans() {
        XCTAssertTrue(Initializer.fans(of: [3, 7]) == (3, 7))
        XCTAssertTrue(Initializer.fans(of: [5]) == (5, 5))
        XCTAssertTrue(Initializer.fans(of: [2, 3, 7]) == (3, 7))
    }

    func testUniformZerosConstant() {
        var generator = RandomGenerator(seed: 2)
        let uniform = Initializer.uniform(low: 2, high: 3).makeTensor(shape: [100], generator: &generator)
        XCTAssertGreaterThanOrEqual(uniform.scalars.min()!, 2)
        XCTAssertLessThan(uniform.scalars.max()!, 3)
        XCTAssertEqual(Initializer.zeros.makeTensor(shape: [2, 2], generator: &generator), Tensor(zeros: [2, 2]))
        XCTAssertEqual(Initializer.constant(0.5).makeTensor(shape: [3], generator: &generator),
                       Tensor(repeating: 0.5, shape: [3]))
    }

    func testSameSeedSameTensor() {
        var first = RandomGenerator(seed: 3)
        var second = RandomGenerator(seed: 3)
        XCTAssertEqual(Initializer.glorotUniform.makeTensor(shape: [4, 4], generator: &first),
                       Initializer.glorotUniform.makeTensor(shape: [4, 4], generator: &second))
    }
}
