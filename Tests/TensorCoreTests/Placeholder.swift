import XCTest

final class TensorCorePlaceholderTests: XCTestCase {}
